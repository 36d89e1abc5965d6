// A plain HTTP server with keep-alive that shuts down gracefully on SIGTERM, as the Node docs suggest: it stops
// accepting (server.close), answers each open connection's next request with `Connection: close`, and exits 0
// once the close callback runs. GET answers 200; POST reads the whole body, then answers 200 with its length.
'use strict';
const http = require('http');

const port = Number(process.env.PORT || 3000);
let closing = false;

// Checked when the response is written, not when the request came in: a request in flight at SIGTERM ends its
// connection too.
function reply(res, type, body) {
  if (closing) res.setHeader('Connection', 'close');
  res.writeHead(200, { 'content-type': type });
  res.end(body);
}

const server = http.createServer((req, res) => {
  if (req.method === 'POST') {
    let length = 0;
    req.on('data', (chunk) => { length += chunk.length; });
    req.on('end', () => {
      reply(res, 'application/json', JSON.stringify({ length, pid: process.pid }) + '\n');
    });
    return;
  }
  reply(res, 'text/plain', `hello from pid ${process.pid}\n`);
});

server.listen(port, () => console.log(`listening on port ${port} (pid ${process.pid})`));

process.on('SIGTERM', () => {
  console.log(`SIGTERM: closing (pid ${process.pid})`);
  closing = true;
  // Since Node 19, close() also ends the idle keep-alive connections; on Node 18 they end at keepAliveTimeout.
  server.close(() => process.exit(0));
});
