// An app built on Node's own cluster module, as the Node docs' example shows: the primary forks WORKERS
// (default 2) workers and forks a new one when a worker dies; each worker serves HTTP on PORT. No signal handlers.
// GET answers 200; POST reads the whole body, then answers 200 with its length.
'use strict';
const cluster = require('node:cluster');
const http = require('node:http');
const process = require('node:process');

const port = Number(process.env.PORT || 3000);
const numWorkers = Number(process.env.WORKERS || 2);

if (cluster.isPrimary) {
  console.log(`Primary ${process.pid} is running`);

  // Fork workers.
  for (let i = 0; i < numWorkers; i++) {
    cluster.fork();
  }

  cluster.on('exit', (worker, code, signal) => {
    console.log(`worker ${worker.process.pid} died (${signal || code}), forking a new one`);
    cluster.fork();
  });
} else {
  // Workers can share any TCP connection; in this case it is an HTTP server.
  http.createServer((req, res) => {
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
    res.end(`hello from worker ${process.pid}\n`);
  }).listen(port);

  console.log(`Worker ${process.pid} started`);
}
