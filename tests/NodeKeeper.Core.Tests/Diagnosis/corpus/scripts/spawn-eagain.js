// Spawns a child and does not handle the error (run with a tiny RLIMIT_NPROC as nobody).
const { spawn } = require('child_process');
const kids = [];
for (let i = 0; i < 4; i++) kids.push(spawn('sleep', ['1']));
