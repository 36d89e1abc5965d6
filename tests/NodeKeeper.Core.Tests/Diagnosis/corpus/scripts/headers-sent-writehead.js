// Express-style: a handler responds, then a second "next()" handler responds again with writeHead.
const http = require('http');
const server = http.createServer((req, res) => {
  const handlers = [
    (next) => { res.end('first'); next(); },
    () => { res.writeHead(500); res.end('second'); },
  ];
  let i = 0;
  const next = () => handlers[i++](next);
  next();
});
server.listen(0, '127.0.0.1', () => {
  http.get({ host: '127.0.0.1', port: server.address().port, path: '/' }, (res) => res.resume()).on('error', () => {});
});
