// A handler that answers twice; the request comes from the script itself.
const http = require('http');
const server = http.createServer((req, res) => {
  res.end('ok');
  res.setHeader('Content-Type', 'text/plain');
});
server.listen(0, '127.0.0.1', () => {
  http.get({ host: '127.0.0.1', port: server.address().port, path: '/' }, (res) => res.resume()).on('error', () => {});
});
