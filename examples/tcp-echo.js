// A raw `net` server: echoes each line back on PORT. With ADMIN_PORT set it also listens there, on a port of its
// own (NodeKeeper redirects only PORT), and answers with its pid.
'use strict';
const net = require('net');

const echo = net.createServer((socket) => socket.pipe(socket));
echo.listen(String(process.env.PORT), '127.0.0.1', () => console.log(`echo on ${echo.address().port}`));

if (process.env.ADMIN_PORT) {
  const admin = net.createServer((socket) => socket.end(`admin ${process.pid}\n`));
  admin.listen(Number(process.env.ADMIN_PORT), '127.0.0.1', () => console.log(`admin on ${admin.address().port}`));
}
