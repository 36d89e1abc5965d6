// An HTTP server on PORT, as an app under PM2 is written: it stops gracefully on SIGINT (PM2's kill signal).
'use strict';
const http = require('http');
const port = Number(process.env.PORT || 3000);
const server = http.createServer((req, res) => res.end(`hello from ${process.env.APP_LABEL || 'server'} pid ${process.pid}\n`));
server.listen(port, () => console.log(`listening on ${port}`));
process.on('SIGINT', () => server.close(() => process.exit(0)));
