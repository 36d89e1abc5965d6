// Starts child processes of its own, as apps that shell out do: a plain child, and one `detached`
// into its own session. Prints their pids so tests can check that stop leaves none behind.
// SPAWN_FROM=worker spawns them from a worker thread that stays alive (child_process in worker_threads):
// the kernel lists them as the worker thread's children, not the main thread's.
'use strict';

function spawnBoth() {
  const { spawn } = require('child_process');
  const sleeper = ['-e', 'setInterval(() => {}, 1 << 30); process.on("SIGTERM", () => {});'];
  const child = spawn(process.execPath, sleeper, { stdio: 'ignore' });
  const detached = spawn(process.execPath, sleeper, { stdio: 'ignore', detached: true });
  return { child: child.pid, detached: detached.pid };
}

if (process.env.SPAWN_FROM === 'worker') {
  const { Worker } = require('worker_threads');
  const source = `
    const { parentPort } = require('worker_threads');
    parentPort.postMessage((${spawnBoth.toString()})());
    setInterval(() => {}, 1 << 30);`;
  const worker = new Worker(source, { eval: true });
  worker.once('message', (p) => console.log(`spawner ${process.pid}: worker child ${p.child} detached ${p.detached}`));
} else {
  const p = spawnBoth();
  console.log(`spawner ${process.pid}: child ${p.child} detached ${p.detached}`);
}
setInterval(() => {}, 1 << 30);
