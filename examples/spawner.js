// Starts child processes of its own, as apps that shell out do: a plain child, and one `detached`
// into its own session. Prints their pids so tests can check that stop leaves none behind.
'use strict';
const { spawn } = require('child_process');
const sleeper = ['-e', 'setInterval(() => {}, 1 << 30); process.on("SIGTERM", () => {});'];
const child = spawn(process.execPath, sleeper, { stdio: 'ignore' });
const detached = spawn(process.execPath, sleeper, { stdio: 'ignore', detached: true });
console.log(`spawner ${process.pid}: child ${child.pid} detached ${detached.pid}`);
setInterval(() => {}, 1 << 30);
