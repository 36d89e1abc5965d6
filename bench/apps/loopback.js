// Runs the app named by BENCH_APP unchanged, except that a listen() naming no host binds 127.0.0.1 instead of every
// interface: the bench's apps stay on loopback under PM2 too (fork mode binds the app's own socket, cluster mode
// PM2's primary binds it for the workers). Under NodeKeeper's shared port the daemon's socket is used either way.
'use strict';
const net = require('net');

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function loopbackListen(...args) {
  const first = args[0];
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1');
  } else if (first !== null && typeof first === 'object' && first.port !== undefined && first.host === undefined) {
    args[0] = { ...first, host: '127.0.0.1' };
  }
  return listen.apply(this, args);
};

require(process.env.BENCH_APP);
