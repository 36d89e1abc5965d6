// A small HTTP server: answers every path, /health for probes; closes gracefully on SIGTERM.
'use strict';
const http = require('http');

const port = Number(process.env.PORT || 3000);
let requests = 0;
const server = http.createServer((req, res) => {
  requests++;
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: true, pid: process.pid, instance: process.env.NODE_APP_INSTANCE ?? null }));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`hello from pid ${process.pid} (instance ${process.env.NODE_APP_INSTANCE ?? '-'})\n`);
});

server.listen(port, '127.0.0.1', () => console.log(`listening on 127.0.0.1:${port} (pid ${process.pid})`));

process.on('SIGTERM', () => {
  console.log(`SIGTERM: closing after ${requests} requests`);
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
});
