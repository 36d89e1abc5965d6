// Forks a child node process (child_process.fork, which passes on --require preload.js through execArgv) that lives
// only through its IPC channel to this parent and answers 'ping' with 'pong'. The parent reports, every second, how
// many pongs came back and every other message the child sent: under NodeKeeper both must be as without it.
'use strict';
const { fork } = require('child_process');

if (process.argv[2] === 'child') {
  process.on('message', (m) => { if (m === 'ping') process.send('pong'); if (m === 'bye') process.exit(0); });
} else {
  const child = fork(__filename, ['child']);
  let pongs = 0;
  const unexpected = [];
  child.on('message', (m) => { if (m === 'pong') pongs++; else unexpected.push(JSON.stringify(m)); });
  child.on('exit', (code, signal) => console.log(`forker ${process.pid}: child exited (${signal || code}) after ${pongs} pongs`));
  setInterval(() => {
    if (child.connected) child.send('ping');
    console.log(`forker ${process.pid}: child ${child.exitCode === null && child.signalCode === null ? 'alive' : 'gone'}, ${pongs} pongs, unexpected: [${unexpected.join(', ')}]`);
  }, 1000);
}
