// Writes LINES numbered lines (default 10000) as fast as it can, then crashes with exit code 1
// (or calls process.exit(1) when EXIT=1) right after the last write.
'use strict';
const lines = Number(process.env.LINES || 10000);
const pad = 'x'.repeat(Number(process.env.PAD || 60));
for (let i = 1; i <= lines; i++) process.stdout.write(`line ${i} ${pad}\n`);
if (process.env.EXIT === '1') process.exit(1);
throw new Error(`flood: crashing after ${lines} lines`);
