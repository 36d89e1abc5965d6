// Written the way express apps are: a request handler function with its own listen(port, cb) that makes
// an http.Server (express's app.listen does exactly this), no dependency needed.
'use strict';
const http = require('http');

function app(req, res) {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ path: req.url, pid: process.pid }));
}
app.listen = function listen(...args) {
  const server = http.createServer(this);
  return server.listen(...args);
};

const server = app.listen(process.env.PORT, () => console.log(`express-style app on ${server.address().port}`));
