// Long requests and upgraded connections, for draining: GET /slow?ms=N answers after N ms; a request with
// `Upgrade: nk-echo` is switched (101) to a raw connection that echoes each line. Apps hear that draining started as
// PM2 apps do, with the message 'shutdown': this one then says "bye" on each upgraded connection and ends it, as an
// app closes its WebSockets politely (IGNORE_SHUTDOWN=1: it does not). No signal handler.
'use strict';
const http = require('http');

const upgraded = new Set();
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const ms = url.pathname === '/slow' ? Number(url.searchParams.get('ms') || 1000) : 0;
  setTimeout(() => res.end(`done after ${ms} ms by pid ${process.pid}\n`), ms);
});
server.on('upgrade', (req, socket) => {
  socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: nk-echo\r\nConnection: Upgrade\r\n\r\n');
  upgraded.add(socket);
  socket.on('data', (d) => socket.write(d));
  socket.on('close', () => upgraded.delete(socket));
});
server.listen(Number(process.env.PORT || 3000), () => console.log(`long-requests ${process.pid}: listening`));

process.on('message', (message) => {
  if (message !== 'shutdown') return;
  console.log(`long-requests ${process.pid}: shutdown message, ${upgraded.size} upgraded connection(s)`);
  if (process.env.IGNORE_SHUTDOWN === '1') return;
  for (const socket of upgraded) socket.end('bye\n');
});
