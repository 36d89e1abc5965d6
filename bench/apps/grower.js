// Grows its resident memory by STEP_MB every STEP_MS (default 2 MiB / 100 ms = 20 MiB/s), touching every page.
'use strict';
const step = Number(process.env.STEP_MB || 2) * 1024 * 1024;
const kept = [];
setInterval(() => { kept.push(Buffer.alloc(step, 1)); }, Number(process.env.STEP_MS || 100));
