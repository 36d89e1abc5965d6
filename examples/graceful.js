// Handles SIGTERM itself: logs, finishes in-flight work for SHUTDOWN_MS (default 200), exits 0.
'use strict';
const shutdownMs = Number(process.env.SHUTDOWN_MS || 200);
console.log(`graceful ${process.pid}: started`);
const keepAlive = setInterval(() => {}, 1 << 30);
process.on('SIGTERM', () => {
  console.log(`graceful ${process.pid}: SIGTERM received, cleaning up`);
  setTimeout(() => {
    console.log(`graceful ${process.pid}: clean exit`);
    clearInterval(keepAlive);
    process.exit(0);
  }, shutdownMs);
});
