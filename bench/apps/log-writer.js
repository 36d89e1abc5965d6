// Writes LINES lines of ~100 bytes to stdout as fast as the pipe takes them, then records its own elapsed
// time (until the last write is flushed) in RESULT_FILE and exits 0.
'use strict';
const fs = require('fs');
const lines = Number(process.env.LINES || 500000);
const pad = 'x'.repeat(80);
const started = process.hrtime.bigint();
let i = 0;
function done() {
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (process.env.RESULT_FILE) fs.writeFileSync(process.env.RESULT_FILE, String(ms));
  process.exit(0);
}
function pump() {
  while (i < lines) {
    i++;
    const ok = process.stdout.write(`${String(i).padStart(9, '0')} ${pad}\n`);
    if (i === lines) { process.stdout.write('', done); return; }
    if (!ok) { process.stdout.once('drain', pump); return; }
  }
}
pump();
