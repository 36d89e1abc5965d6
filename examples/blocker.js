// Blocks its own event loop for BLOCK_MS (default 300) every EVERY_MS (default 500): a synchronous hot path.
// With PORT set it also answers HTTP (between the blocks, as such an app does).
'use strict';
const block = Number(process.env.BLOCK_MS || 300);
console.log(`blocker ${process.pid}: blocking ${block} ms every ${process.env.EVERY_MS || 500} ms`);
setInterval(() => { const end = Date.now() + block; while (Date.now() < end); }, Number(process.env.EVERY_MS || 500));
if (process.env.PORT) require('http').createServer((req, res) => res.end(`blocker ${process.pid}\n`)).listen(Number(process.env.PORT), '127.0.0.1');
