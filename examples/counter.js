// Writes numbered lines fast ("count N xxx…", BURST lines every TICK_MS ms) and, every 100 ms, the number of the
// last line written to PROGRESS_FILE (replaced atomically), so its progress can be followed without its log.
// On SIGTERM it records its final count and exits 0. stdout is blocking under NodeKeeper: a line counted is a line
// handed to the daemon.
'use strict';
const fs = require('fs');

const burst = Number(process.env.BURST || 200);
const tickMs = Number(process.env.TICK_MS || 10);
const pad = 'x'.repeat(Number(process.env.PAD || 80));
const progressFile = process.env.PROGRESS_FILE;
let count = 0;

function report() {
  if (!progressFile) return;
  const tmp = `${progressFile}.tmp`;
  fs.writeFileSync(tmp, `${count}\n`);
  fs.renameSync(tmp, progressFile);
}

setInterval(() => {
  let text = '';
  for (let i = 0; i < burst; i++) text += `count ${++count} ${pad}\n`;
  process.stdout.write(text);
}, tickMs);
setInterval(report, 100);
report();
process.on('SIGTERM', () => {
  report();
  process.exit(0);
});
