// Leaks memory on purpose: keeps GROW_MB (default 20) more MiB every second, never freed.
'use strict';
const grow = Number(process.env.GROW_MB || 20);
const kept = [];
setInterval(() => {
  const b = Buffer.alloc(grow * 1024 * 1024, 1);
  kept.push(b);
  console.log(`leaker ${process.pid}: holding ${kept.length * grow} MiB`);
}, Number(process.env.EVERY_MS || 1000));
