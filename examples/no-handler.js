// A plain HTTP server with no signal handler at all and nothing on shutdown: SIGTERM kills it where it stands.
// GET answers 200; POST reads the whole body, then answers 200 with its length.
'use strict';
const http = require('http');

const port = Number(process.env.PORT || 3000);

const server = http.createServer((req, res) => {
  if (req.method === 'POST') {
    let length = 0;
    req.on('data', (chunk) => { length += chunk.length; });
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ length, pid: process.pid }) + '\n');
    });
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`hello from pid ${process.pid}\n`);
});

server.listen(port, () => console.log(`listening on port ${port} (pid ${process.pid})`));
