// Orphans ORPHANS processes (default 3) at start, as apps that shell out with `cmd &` do: a shell starts `sleep ORPHAN_SLEEP` (default 1 s)
// in the background and exits at once, so each sleep is reparented to the nearest subreaper (NodeKeeper, or PID 1 in
// a container) and becomes a zombie there when it ends, unless that reaper reaps it. With PORT set it serves HTTP.
// It logs a SIGHUP it receives.
'use strict';
const { spawn } = require('child_process');
const http = require('http');
for (let i = 0; i < Number(process.env.ORPHANS || 3); i++) spawn('sh', ['-c', `sleep ${Number(process.env.ORPHAN_SLEEP || 1)} &`], { stdio: 'ignore' });
if (process.env.PORT) {
  http.createServer((req, res) => res.end(`orphaner ${process.pid}\n`))
    .listen(Number(process.env.PORT), '127.0.0.1', () => console.log(`orphaner ${process.pid} listening on ${process.env.PORT}`));
} else setInterval(() => {}, 1 << 30);
process.on('SIGHUP', () => console.log(`orphaner ${process.pid} got SIGHUP`));
