// A background worker: does a unit of work every TICK_MS (default 1000) and logs it.
'use strict';
const tick = Number(process.env.TICK_MS || 1000);
let n = 0;
const timer = setInterval(() => console.log(`worker ${process.pid}: job ${++n} done`), tick);
process.on('SIGTERM', () => {
  clearInterval(timer);
  console.log(`worker ${process.pid}: finishing after ${n} jobs`);
});
