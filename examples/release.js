// One release of a web app, as a deploy would ship it: what it does comes from its environment, so a reload with a
// changed env is a new version. Plain http, keep-alive, no signal handler.
//   RELEASE       a label it answers with (GET / → "release R from pid P")
//   FAIL_EVERY    N > 0: every Nth request (counted by this process) is answered 500, as a bad deploy whose new
//                 code path fails on some requests (5 → 20 %)
//   CRASH_AFTER_MS  N > 0: the process throws an uncaught error N ms after it starts listening, as a bad deploy that
//                 passes its start and dies under real use
//   SLOW_MS       every request waits this long before it is answered
// Routes for counting tests: /status/NNN answers NNN, /abort destroys the connection without an answer.
'use strict';
const http = require('http');

const port = Number(process.env.PORT || 3000);
const release = process.env.RELEASE || '1';
const failEvery = Number(process.env.FAIL_EVERY || 0);
const crashAfter = Number(process.env.CRASH_AFTER_MS || 0);
const slow = Number(process.env.SLOW_MS || 0);
let served = 0;

function answer(req, res) {
  const m = /^\/status\/(\d{3})$/.exec(req.url);
  if (m) {
    res.writeHead(Number(m[1]), { 'content-type': 'text/plain' });
    res.end(`status ${m[1]}\n`);
    return;
  }
  if (req.url === '/abort') {
    req.socket.destroy();
    return;
  }
  served++;
  if (failEvery > 0 && served % failEvery === 0) {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`release ${release} failed this one (pid ${process.pid})\n`);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`release ${release} from pid ${process.pid}\n`);
}

const server = http.createServer((req, res) => {
  // A POST is answered once its whole body has arrived.
  req.resume();
  req.on('end', () => (slow > 0 ? setTimeout(answer, slow, req, res) : answer(req, res)));
});

server.listen(port, () => {
  console.log(`release ${release} listening on port ${port} (pid ${process.pid})`);
  if (crashAfter > 0) {
    setTimeout(() => {
      throw new Error(`release ${release} crashed ${crashAfter} ms after it started`);
    }, crashAfter);
  }
});
