// Two servers on the same port; the second one's 'error' event has no listener.
const http = require('http');
const a = http.createServer(() => {});
a.listen(0, '127.0.0.1', () => {
  const b = http.createServer(() => {});
  b.listen(a.address().port, '127.0.0.1');
});
