// Handles SIGTERM itself: logs, finishes in-flight work for SHUTDOWN_MS (default 200), exits 0.
// With EXIT_LINES it writes that many numbered lines on its way out, as an app that flushes its own buffers does.
// With SHUTDOWN_SPIN=1 its clean-up is work on the CPU for SHUTDOWN_MS (serializing state, say), not a wait.
'use strict';
const shutdownMs = Number(process.env.SHUTDOWN_MS || 200);
const exitLines = Number(process.env.EXIT_LINES || 0);
const spin = process.env.SHUTDOWN_SPIN === '1';
const keepAlive = setInterval(() => {}, 1 << 30);
process.on('SIGTERM', () => {
  console.log(`graceful ${process.pid}: SIGTERM received, cleaning up`);
  if (spin) for (const until = Date.now() + shutdownMs; Date.now() < until;);
  setTimeout(() => {
    for (let i = 1; i <= exitLines; i++) process.stdout.write(`graceful ${process.pid}: last words ${i} of ${exitLines}\n`);
    console.log(`graceful ${process.pid}: clean exit`);
    clearInterval(keepAlive);
    process.exit(0);
  }, spin ? 0 : shutdownMs);
});
// Said once the handler is in place: a test that waits for this line may signal at once.
console.log(`graceful ${process.pid}: started`);
