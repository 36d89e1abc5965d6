// Exits 0 after a deprecation warning and a logged, handled EMFILE error.
const b = new Buffer(4);
console.error('cache: EMFILE: too many open files, open \'/var/cache/app/x\' (retrying later)');
setTimeout(() => process.exit(0), 20);
