// A worker thread with a small heap limit runs out of heap; the 'error' event on the Worker is not handled.
const { Worker } = require('worker_threads');
new Worker(
  'const keep = []; for (;;) keep.push(new Array(100000).fill({ n: keep.length }));',
  { eval: true, resourceLimits: { maxOldGenerationSizeMb: 16 } },
);
