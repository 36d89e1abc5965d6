// Handles SIGTERM itself: logs, finishes in-flight work for SHUTDOWN_MS (default 200), exits 0.
// With EXIT_LINES it writes that many numbered lines on its way out, as an app that flushes its own buffers does.
'use strict';
const shutdownMs = Number(process.env.SHUTDOWN_MS || 200);
const exitLines = Number(process.env.EXIT_LINES || 0);
console.log(`graceful ${process.pid}: started`);
const keepAlive = setInterval(() => {}, 1 << 30);
process.on('SIGTERM', () => {
  console.log(`graceful ${process.pid}: SIGTERM received, cleaning up`);
  setTimeout(() => {
    for (let i = 1; i <= exitLines; i++) process.stdout.write(`graceful ${process.pid}: last words ${i} of ${exitLines}\n`);
    console.log(`graceful ${process.pid}: clean exit`);
    clearInterval(keepAlive);
    process.exit(0);
  }, shutdownMs);
});
