'use strict';
// NodeKeeper's preload, loaded with `node --require` into every supervised app (CommonJS and ESM alike).

// 1. Node writes stdout/stderr to a pipe asynchronously and drops what is still queued when the app
//    calls process.exit() or dies of an uncaught exception. Blocking pipes keep every line; the daemon
//    drains them continuously, so this costs the app nothing.
for (const stream of [process.stdout, process.stderr]) {
  const handle = stream && stream._handle;
  if (handle && typeof handle.setBlocking === 'function') handle.setBlocking(true);
}

// 2. The IPC channel to the daemon (NODE_CHANNEL_FD) must never keep an app alive by itself.
if (process.channel && typeof process.channel.unref === 'function') process.channel.unref();

function tell(message) {
  if (typeof process.send === 'function' && process.connected) {
    // With a callback, a send that fails later (EPIPE: the daemon died meanwhile) is reported to it instead of being
    // raised as an unhandled 'error' that would crash the app.
    try { process.send(message, () => {}); } catch (_) { /* the daemon went away: nothing to tell */ }
  }
}

// 3. port_mode = "shared": the daemon owns the listening socket (NK_LISTEN_FD) and every instance accepts
//    on it. An unmodified app's listen(PORT) — any call form, http, https, express, fastify, net — is
//    redirected to that socket; server.address() and the listen callback behave as usual; other ports are
//    left alone. Either way the daemon hears when the app listens.
const net = require('net');
const sharedFd = process.env.NK_LISTEN_FD !== undefined ? Number(process.env.NK_LISTEN_FD) : undefined;
const sharedPort = process.env.PORT !== undefined ? Number(process.env.PORT) : undefined;
// The app's own child processes must not try to use the socket (they inherit it, Node cannot prevent that).
delete process.env.NK_LISTEN_FD;

function requestedPort(args) {
  const first = args[0];
  if (first !== null && typeof first === 'object') {
    if (first._handle || first.handle || first.fd !== undefined || first.path !== undefined) return undefined;
    return first.port !== undefined ? Number(first.port) : undefined;
  }
  if (typeof first === 'number') return first;
  if (typeof first === 'string' && /^\d+$/.test(first)) return Number(first);
  return undefined;
}

const sharedServers = new Set();
const originalListen = net.Server.prototype.listen;
net.Server.prototype.listen = function listen(...args) {
  const port = requestedPort(args);
  this.once('listening', () => tell({ nk: 'listening', port: port === undefined ? null : port }));
  if (sharedFd === undefined || port === undefined || port !== sharedPort) return originalListen.apply(this, args);
  sharedServers.add(this);
  track(this);
  const callback = typeof args[args.length - 1] === 'function' ? args[args.length - 1] : undefined;
  return callback ? originalListen.call(this, { fd: sharedFd }, callback) : originalListen.call(this, { fd: sharedFd });
};

// 4. Retiring an instance (restart, reload, stop) without dropping a request: on the daemon's word the app
//    stops accepting on the shared socket (the next connection goes to another instance, or waits in the
//    backlog for the replacement), finishes what it holds, and says so; only then does it get kill_signal.
//    An HTTP server's own close() would also end its "idle" connections at once, and a connection the
//    kernel has just handed over counts as idle until its request arrives: that is a reset for a client
//    that is slow to send. So only the listener is closed; every response from now on says
//    `Connection: close`; keep-alive connections that have been served and wait for a next request are
//    ended; a connection that has not sent its first request yet is left to send it.
const served = Symbol('nk.served');
const active = Symbol('nk.active');
let draining = false;
function track(server) {
  if (typeof server.closeIdleConnections !== 'function' || server[served]) return;
  server[served] = new Set();
  server.prependListener('request', (req, res) => {
    const socket = req.socket;
    if (socket[active] === undefined) {
      // Once per connection, not per request: a keep-alive connection carries thousands of them.
      socket[active] = 0;
      server[served].add(socket);
      socket.once('close', () => server[served].delete(socket));
    }
    socket[active]++;
    if (draining && !res.headersSent) res.setHeader('Connection', 'close');
    res.once('finish', () => {
      socket[active]--;
      if (draining && socket[active] === 0) socket.end();
    });
  });
}
function drain() {
  const open = [...sharedServers].filter((s) => s.listening);
  sharedServers.clear();
  draining = true;
  if (open.length === 0) { tell({ nk: 'drained' }); return; }
  let left = open.length;
  const done = () => { if (--left === 0) tell({ nk: 'drained' }); };
  for (const server of open) {
    net.Server.prototype.close.call(server, done);
    if (server[served]) for (const socket of server[served]) if (!socket[active]) socket.end();
  }
}
if (process.channel) {
  process.on('message', (message) => { if (message && message.nk === 'close') drain(); });
  // Listening for messages refs the channel: unref it again so it never keeps the app alive.
  process.channel.unref();
}

// 5. What only the process itself can see, reported every NK_METRICS_MS (default 1 s) without any change to the
//    app: V8's heap and its limit, the event-loop delay (p50/p99/max of the interval, then reset), and the active
//    handles. A report that does not come is itself the news: the event loop is stalled.
if (process.channel) {
  const v8 = require('v8');
  const { monitorEventLoopDelay } = require('perf_hooks');
  const every = Number(process.env.NK_METRICS_MS) > 0 ? Number(process.env.NK_METRICS_MS) : 1000;
  delete process.env.NK_METRICS_MS;
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  // The histogram holds whole timer intervals: the delay is what exceeds the 10 ms resolution.
  const ms = (ns) => (Number.isFinite(ns) ? Math.max(0, Math.round((ns - 10e6) / 1e4) / 100) : null);
  const report = () => {
    const heap = v8.getHeapStatistics();
    const handles = typeof process.getActiveResourcesInfo === 'function' ? process.getActiveResourcesInfo().length : null;
    tell({
      nk: 'metrics', heap_used: heap.used_heap_size, heap_total: heap.total_heap_size, heap_limit: heap.heap_size_limit,
      lag_p50: delay.count > 0 ? ms(delay.percentile(50)) : 0, lag_p99: delay.count > 0 ? ms(delay.percentile(99)) : 0,
      lag_max: delay.count > 0 ? ms(delay.max) : 0, handles,
    });
    delay.reset();
  };
  setInterval(report, every).unref();
}
