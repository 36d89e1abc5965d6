// new Worker() under a tiny RLIMIT_NPROC as nobody; the thread cannot be created.
const { Worker } = require('worker_threads');
const workers = [];
for (let i = 0; i < 4; i++) workers.push(new Worker('setTimeout(() => {}, 500)', { eval: true }));
