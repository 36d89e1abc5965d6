// A syntax error in the main script.
const port = process.env.PORT || 3000;
function start() {
  const server = require('http').createServer((req, res) => res.end('ok'));
  server.listen(port, () => console.log('listening on', port);
}
start();
