// An HTTP server whose /health answers 200 until SICK_AFTER_MS (default 1000) has passed, then 503; every other
// path keeps answering 200.
'use strict';
const http = require('http');
const started = Date.now();
// SICK_INSTANCE: only the instance of that NODE_APP_INSTANCE turns sick (the others stay healthy).
const others = process.env.SICK_INSTANCE !== undefined && process.env.SICK_INSTANCE !== process.env.NODE_APP_INSTANCE;
const sickAfter = others ? Infinity : Number(process.env.SICK_AFTER_MS || 1000);
const server = http.createServer((req, res) => {
  if (req.url === '/health') {
    const sick = Date.now() - started > sickAfter;
    res.writeHead(sick ? 503 : 200);
    res.end(sick ? 'sick\n' : 'ok\n');
    return;
  }
  res.end(`sick-server ${process.pid}\n`);
});
server.listen(Number(process.env.PORT || 3000), '127.0.0.1', () => console.log(`sick-server ${process.pid} listening on ${server.address().port}`));
