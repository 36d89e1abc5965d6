// Says it is ready over the IPC channel (as PM2's wait_ready expects), after READY_AFTER_MS (default 300).
'use strict';
const http = require('http');
const port = Number(process.env.PORT || 3000);
const server = http.createServer((req, res) => res.end(`ready-message ${process.pid}\n`));
server.listen(port, () => {
  setTimeout(() => { if (process.send) process.send('ready'); }, Number(process.env.READY_AFTER_MS || 300));
});
