// cluster.fork() under a tiny RLIMIT_NPROC as nobody; the worker's 'error' is not handled.
const cluster = require('cluster');
if (cluster.isPrimary) {
  for (let i = 0; i < 4; i++) cluster.fork();
} else {
  setTimeout(() => process.exit(0), 500);
}
