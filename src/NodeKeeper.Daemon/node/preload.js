'use strict';
// NodeKeeper's preload, loaded with `node --require` into every supervised app (CommonJS and ESM alike) and, through
// execArgv, into every node process the app forks (child_process.fork, cluster workers). It acts only in the instance
// itself, the process the daemon started: NK_PRELOAD_ROLE marks it and is removed here, so no child ever sees it. In
// any other process it changes nothing; a worker of the instance's own `cluster` only hears the primary's word to
// drain its connections (see 4).
const net = require('net');
const http = require('http');

const instance = process.env.NK_PRELOAD_ROLE === 'instance';
delete process.env.NK_PRELOAD_ROLE;
const sharedPort = process.env.PORT !== undefined ? Number(process.env.PORT) : undefined;

if (instance) {
  // 1. Node writes stdout/stderr to a pipe asynchronously and drops what is still queued when the app calls
  //    process.exit() or dies of an uncaught exception. Blocking pipes keep every line; the daemon drains them
  //    continuously, so this costs the app nothing.
  for (const stream of [process.stdout, process.stderr]) {
    const handle = stream && stream._handle;
    if (handle && typeof handle.setBlocking === 'function') handle.setBlocking(true);
  }
  // 2. The IPC channel to the daemon (NODE_CHANNEL_FD) must never keep an app alive by itself.
  if (process.channel && typeof process.channel.unref === 'function') process.channel.unref();
  // The app's cluster workers know their primary is the instance by this (see 4).
  process.env.NK_INSTANCE_PID = String(process.pid);
}

function tell(message) {
  if (typeof process.send === 'function' && process.connected) {
    // With a callback, a send that fails later (EPIPE: the daemon died meanwhile) is reported to it instead of being
    // raised as an unhandled 'error' that would crash the app.
    try { process.send(message, () => {}); } catch (_) { /* the daemon went away: nothing to tell */ }
  }
}

// How long the main thread of process PID has waited for a core in all (ms: the second field of its schedstat), as a
// function that reads it anew each call (null where it cannot be read). A timer that is late on a machine whose cores
// are all taken says the machine is busy, not that the program blocked its loop: the time the thread waited in the run
// queue meanwhile is taken off a delay before the delay counts as a stall. The file is opened and closed each time (no
// fd of the app's is held) with fs's functions as they were before the app could patch them (graceful-fs does). Also
// the watchdog thread's (see 7): it runs from its source.
function runQueueWait(pid) {
  const { openSync, readSync, closeSync } = require('fs');
  const file = `/proc/${pid}/task/${pid}/schedstat`;
  const buf = Buffer.alloc(96);
  return () => {
    let fd = -1;
    let n = 0;
    try {
      fd = openSync(file, 'r');
      n = readSync(fd, buf, 0, buf.length, 0);
    } catch (_) {
      return null;
    } finally {
      if (fd >= 0) try { closeSync(fd); } catch (_) { /* closed */ }
    }
    let i = buf.indexOf(32);
    if (i < 0 || i >= n) return null;
    let ns = 0;
    for (i++; i < n && buf[i] >= 48 && buf[i] <= 57; i++) ns = ns * 10 + buf[i] - 48;
    return ns / 1e6;
  };
}

// 3. port_mode = "shared": the daemon owns the listening socket (NK_LISTEN_FD) and every instance accepts on it. An
//    unmodified app's listen(PORT) (any call form, http, https, express, fastify, net, or the primary of Node's
//    `cluster` on behalf of its workers) is redirected to that socket; server.address() and the listen callback
//    behave as usual; other ports are left alone. Either way the daemon hears when the app listens.
const sharedFd = instance && process.env.NK_LISTEN_FD !== undefined ? Number(process.env.NK_LISTEN_FD) : undefined;
// The app's own child processes must not try to use the socket (they inherit it, Node cannot prevent that).
if (instance) delete process.env.NK_LISTEN_FD;

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

// A worker of Node's `cluster` whose primary is the instance: it listens through the primary (which accepts on the
// shared socket), so it only needs to know its servers on the app's port, to drain them when the primary says so.
// (Node removes NODE_UNIQUE_ID before preloads run; `cluster` still knows.)
const clusterWorker = !instance && !!process.channel && process.env.NK_INSTANCE_PID === String(process.ppid)
  && require('cluster').isWorker;

const servers = new Set();
const kListenHandle = Symbol('nk.listenHandle');
if (instance || clusterWorker) {
  const originalListen = net.Server.prototype.listen;
  net.Server.prototype.listen = function listen(...args) {
    const port = requestedPort(args);
    const ours = sharedPort !== undefined && port === sharedPort;
    if (ours) {
      servers.add(this);
      track(this);
      // The listening handle: `cluster`'s round-robin primary takes it out of the server once it listens.
      this.once('listening', () => { this[kListenHandle] = this._handle; });
    }
    if (!instance) return originalListen.apply(this, args);
    hookCluster();
    this.once('listening', () => tell({ nk: 'listening', port: port === undefined ? null : port }));
    if (sharedFd === undefined || !ours) return originalListen.apply(this, args);
    const callback = typeof args[args.length - 1] === 'function' ? args[args.length - 1] : undefined;
    return callback ? originalListen.call(this, { fd: sharedFd }, callback) : originalListen.call(this, { fd: sharedFd });
  };
}

// 4. Retiring an instance (stop, restart, reload, scale down, max_memory, health, watch) without failing a request. On
//    the daemon's word (an internal IPC message, which the app's own 'message' listeners never see):
//    - the listener closes: the next connection goes to another instance, or waits in the daemon's backlog for the
//      replacement. The app is not told: its server still looks listening, and its own close() later works as usual;
//    - a request in progress finishes, and its response carries `Connection: close`;
//    - a keep-alive connection that waits for its next request is left open: a request may be on its way (a client
//      sends whenever it likes, and nginx picks idle connections from its pool). Its next response carries
//      `Connection: close`, and it ends after that one; or the client closes it, or the app's own keepAliveTimeout
//      does (as without NodeKeeper). Node 19+'s server.close() would close it at once, so the app's own close() leaves
//      it to this until the drain deadline;
//    - pipelined requests: the requests that arrive together are all answered, only the last says `Connection: close`;
//    - when the whole app stops (nothing will take the port's connections), idle connections are closed at once;
//    - apps hear that draining started as PM2 apps do: the message 'shutdown' on process.on('message');
//    - the workers of the app's own `cluster` drain the same way (the primary tells them).
//    Once no connection is left the daemon hears "drained", and only then sends kill_signal.
const kConns = Symbol('nk.connections');
const kLatest = Symbol('nk.latest');
const kClosed = Symbol('nk.closed');
const kKeepAlive = Symbol('nk.keepAlive');
const served = new Set(); // request sockets (TLS sockets for https) that carried a request, while open
let drain = null; // { idle: 'keep' | 'close', until: ms since epoch, done: fn }

function track(server) {
  if (server[kConns] !== undefined) return;
  server[kConns] = new Set();
  server.prependListener('connection', (socket) => {
    server[kConns].add(socket);
    socket.once('close', () => { server[kConns].delete(socket); if (drain) settle(); });
  });
  const emit = server.emit;
  server.emit = function nkEmit(event, req, res) {
    if (event !== 'request' || !(res instanceof http.ServerResponse)) return emit.apply(this, arguments);
    const socket = req.socket;
    if (!served.has(socket)) {
      served.add(socket);
      socket.once('close', () => served.delete(socket));
    }
    socket[kLatest] = res; // the latest request's response: pipelined responses are sent in order
    res[kKeepAlive] = res.shouldKeepAlive;
    if (!drain) return emit.apply(this, arguments);
    // Draining: the app hears of the request one turn later, once every request that arrived with it has been
    // parsed, so that only the last of them says `Connection: close` even when the app answers at once.
    later.push([this, emit, req, res]);
    if (later.length === 1) setImmediate(handLater);
    return true;
  };
}

let later = [];
function handLater() {
  const batch = later;
  later = [];
  for (const [, , req, res] of batch) if (req.socket[kLatest] === res) closeAfter(res);
  for (const [server, emit, req, res] of batch) emit.call(server, 'request', req, res);
}

// The connection ends after this response; an earlier response on it that has not started no longer does.
function closeAfter(res) {
  const socket = res.socket || (res.req && res.req.socket);
  const before = socket && socket[kLatest];
  if (before && before !== res && !before.headersSent) before.shouldKeepAlive = before[kKeepAlive];
  if (!res.headersSent) res.shouldKeepAlive = false;
}

function busy(socket) {
  const res = socket[kLatest];
  return res !== undefined && !res.writableFinished && !res.destroyed;
}

function startDrain(idle, ms, done) {
  if (drain) return;
  drain = { idle, until: Date.now() + ms, done };
  for (const server of servers) {
    // The app's own server.close() must not close idle keep-alive connections under a request on its way.
    if (idle === 'keep' && typeof server.closeIdleConnections === 'function') {
      const own = server.closeIdleConnections;
      server.closeIdleConnections = function closeIdleConnections() {
        if (drain && Date.now() < drain.until) return undefined;
        return own.apply(this, arguments);
      };
    }
    closeListener(server);
  }
  for (const socket of served) {
    if (busy(socket)) closeAfter(socket[kLatest]);
    else if (idle === 'close') socket.end();
  }
  if (idle === 'close') {
    for (const server of servers) for (const socket of server[kConns]) if (!socket.destroyed && !served.has(socket)) socket.end();
  }
  if (instance) {
    drainWorkers(idle, ms);
    if (process.listenerCount('message') > 0) process.emit('message', 'shutdown');
  }
  settle();
}

// Stops accepting without telling the app: its server keeps a stand-in handle, so `listening`, address(), ref() and
// its own close() (callback without error, once its connections are gone) behave as before, and the process stays
// alive for as long as the listener would have kept it (until the app closes the server or is signalled).
function closeListener(server) {
  const handle = server._handle;
  if (handle) {
    const address = server.address();
    const alive = setInterval(() => {}, 2 ** 31 - 1);
    if (typeof handle.hasRef === 'function' && !handle.hasRef()) alive.unref();
    server._handle = {
      close() { clearInterval(alive); },
      ref() { alive.ref(); },
      unref() { alive.unref(); },
      hasRef() { return alive.hasRef(); },
      getsockname(out) { Object.assign(out, address); return 0; },
    };
    handle.close();
  } else if (server[kListenHandle] && !server[kListenHandle][kClosed]) {
    // `cluster`'s round-robin primary took the handle: close it where it is now.
    server[kListenHandle][kClosed] = true;
    server[kListenHandle].close();
  }
}

let workersLeft = 0;
function drainWorkers(idle, ms) {
  const cluster = require('cluster');
  for (const worker of Object.values(cluster.workers || {})) {
    const child = worker && worker.process;
    if (!child || !child.connected) continue;
    workersLeft++;
    let counted = false;
    const count = () => { if (!counted) { counted = true; workersLeft--; settle(); } };
    child.on('internalMessage', (m) => { if (m && m.cmd === 'NODE_NK_DRAINED') count(); });
    child.once('exit', count);
    try { child.send({ cmd: 'NODE_NK_DRAIN', idle, ms }, (err) => { if (err) count(); }); } catch (_) { count(); }
  }
}

function settle() {
  if (!drain || !drain.done) return;
  if (workersLeft > 0) return;
  for (const server of servers) for (const socket of server[kConns]) if (!socket.destroyed) return;
  const done = drain.done;
  drain.done = null;
  done();
}

if (process.channel && (instance || clusterWorker)) {
  process.on('internalMessage', (m) => {
    if (!m || m.cmd !== 'NODE_NK_DRAIN') return;
    const ms = Number(m.ms) > 0 ? Number(m.ms) : 10000;
    if (instance) startDrain(m.idle === 'close' ? 'close' : 'keep', ms, () => tell({ nk: 'drained' }));
    else startDrain(m.idle === 'close' ? 'close' : 'keep', ms, () => process.send({ cmd: 'NODE_NK_DRAINED' }, () => {}));
  });
}

// Set by 7 while its stall watchdog waits for a first sign of a stall: sees each interval's longest event-loop delay
// less what the main thread waited for a core in that interval (ms; null: not judged for this interval).
let lagSeen = null;

// 5. What only the process itself can see, looked at every NK_METRICS_MS (default 1 s) without any change to the
//    app: V8's heap and its limit, the event-loop delay (p50/p99/max of the interval, then reset), and the active
//    handles. It is reported when it moved since the last report (the heap by 1 MiB, the handles, a delay of 20 ms or
//    more and the interval after it, any HTTP response), and otherwise once NK_REPORT_QUIET_MS (default: every
//    interval) has passed: an idle app costs the daemon a message every few seconds, a busy one a message an interval.
//    A report that does not come within that is itself the news: the event loop is stalled.
if (instance && process.channel) {
  const v8 = require('v8');
  const every = Number(process.env.NK_METRICS_MS) > 0 ? Number(process.env.NK_METRICS_MS) : 1000;
  const quiet = Number(process.env.NK_REPORT_QUIET_MS) > every ? Number(process.env.NK_REPORT_QUIET_MS) : every;
  delete process.env.NK_METRICS_MS;
  delete process.env.NK_REPORT_QUIET_MS;
  const MiB = 1 << 20;
  const LAG_MS = 20;
  let sent = null; // the last report sent, and when
  let sentAt = 0;
  let sentClasses = [0, 0, 0, 0, 0];
  const answered = () => {
    if (httpCounting) for (let i = 0; i < 5; i++) if (http_.classes[i] !== sentClasses[i]) return true;
    return false;
  };
  const moved = (m) => !sent || Math.abs(m.heap_used - sent.heap_used) >= MiB || Math.abs(m.heap_total - sent.heap_total) >= MiB
    || m.heap_limit !== sent.heap_limit || m.handles !== sent.handles || m.lag_max >= LAG_MS || sent.lag_max >= LAG_MS || answered();
  // The delay histogram's timer wakes the process every 10 ms (about 7 ms of CPU a second in an idle instance:
  // 300 idle apps would keep two cores busy), so it runs only while the process works: the CPU it used in the last
  // interval (2 % of a core or more) decides for the next one. Not the loop's utilization: on a machine busy starting
  // hundreds of apps, each of the histogram's own wake-ups waits for a core, and the utilization that waiting adds kept
  // it on for good in every idle app (300 apps started 20 % slower for it). Its own CPU stays well under the bar. An
  // idle loop's delay is what the report's own timer was late by, which also catches any stall of a second or more.
  // perf_hooks is loaded when the histogram is first needed: at the start it would add 60 KiB to the young heap.
  let delay = null;
  const BUSY = 0.02;
  // An interval with no delay, no response and under 0.5 % of a core of CPU (the report's own look costs about 0.1 %)
  // between two quiet reports is not looked into: an idle app's heap, handles and delay stay as they were. The look
  // allocates (the heap's figures, the handles' list, the report: about 1 KiB), and those allocations alone made every
  // idle instance run young collections that bare node does not, which after a restart of hundreds of apps came all at
  // once, and 8 s later V8's memory reducer ran a full collection in all of them together.
  const IDLE = 0.005;
  let delayOn = false;
  let cpu = null; // process.cpuUsage() at the last report
  const waited = runQueueWait(process.pid);
  let waitedBefore = null; // the main thread's run-queue wait at the last report, while 7 waits for a stall
  let prev = 0; // when the report's timer last ran (0: not yet, from the first turn of the event loop)
  // From the first turn: the app's synchronous start (loading its modules) is not a delay of it.
  setImmediate(() => { prev = Date.now(); cpu = process.cpuUsage(); });
  // The histogram holds whole timer intervals: the delay is what exceeds the 10 ms resolution.
  const ms = (ns) => (Number.isFinite(ns) ? Math.max(0, Math.round((ns - 10e6) / 1e4) / 100) : null);
  const report = () => {
    const at = Date.now();
    const elapsed = prev ? at - prev : 0;
    const late = prev ? Math.max(0, elapsed - every) : 0;
    prev = at;
    let used = null; // CPU ms of the process in the interval
    let usage = null;
    if (cpu && elapsed > 0) {
      usage = process.cpuUsage();
      used = (usage.user - cpu.user + usage.system - cpu.system) / 1000;
      cpu = usage;
    }
    if (sent && !delayOn && late < LAG_MS && sent.lag_max < LAG_MS && used !== null && used < IDLE * elapsed && !answered()
      && at - sentAt < quiet - every / 2) {
      // The run-queue wait a first stall will be judged against: from the last look, or from now when 7 began waiting
      // for one since (what the thread waited in between is then taken off too: a stall could only seem shorter).
      if (lagSeen && waitedBefore === null) waitedBefore = waited();
      return;
    }
    hookCluster();
    const heap = v8.getHeapStatistics();
    const handles = typeof process.getActiveResourcesInfo === 'function' ? process.getActiveResourcesInfo().length : null;
    const counted = delay !== null && delay.count > 0;
    const m = {
      nk: 'metrics', heap_used: heap.used_heap_size, heap_total: heap.total_heap_size, heap_limit: heap.heap_size_limit,
      lag_p50: counted ? ms(delay.percentile(50)) : 0, lag_p99: Math.max(counted ? ms(delay.percentile(99)) : 0, late),
      lag_max: Math.max(counted ? ms(delay.max) : 0, late), handles,
    };
    if (delay) delay.reset();
    if (used !== null) {
      const busy = used >= BUSY * elapsed;
      if (busy !== delayOn) {
        if (busy && !delay) delay = require('perf_hooks').monitorEventLoopDelay({ resolution: 10 });
        if (busy) delay.enable(); else delay.disable();
        delayOn = busy;
      }
    }
    if (lagSeen) {
      const w = waited();
      // Without a schedstat to read (no /proc), the delay as it is; without the last report's reading, no judgement.
      lagSeen(w === null ? m.lag_max : waitedBefore === null ? null : Math.max(0, m.lag_max - (w - waitedBefore)));
      waitedBefore = w;
    } else waitedBefore = null;
    if (!moved(m) && at - sentAt < quiet - every / 2) return;
    if (httpCounting) {
      m.http = httpReport();
      sentClasses = [...http_.classes];
    }
    tell(m);
    sent = m;
    sentAt = at;
  };
  const httpReport = () => {
    const [p50, p99] = percentiles();
    const c = http_.classes;
    return {
      '2xx': c[0], '3xx': c[1], '4xx': c[2], '5xx': c[3], incomplete: c[4], p50_ms: p50, p99_ms: p99,
      buckets: http_.buckets, sum_ms: Math.round(http_.sumMs * 100) / 100,
    };
  };
  setInterval(report, every).unref();
}

// 6. HTTP outcomes, with no change to the app: Node publishes every request of every http/https server of the
//    process (express, fastify and koa included) on diagnostics_channel, which only listens. Each response counts by
//    its status class when it finishes; one whose connection closed before it was sent counts as incomplete; the
//    time from its request to its last byte goes into the interval's percentiles and a cumulative histogram. The
//    counts are the process's since it started. Workers of the instance's own `cluster` count theirs and hand them
//    to the primary (the instance) once an interval, as an internal message the app never sees.
//    NK_HTTP_METRICS=off (http_metrics = false) leaves it all out; it stays in the instance's environment then, so
//    that the workers it forks leave it out too.
const httpCounting = (instance || clusterWorker) && process.env.NK_HTTP_METRICS !== 'off';
if (instance && httpCounting) delete process.env.NK_HTTP_METRICS;
const BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]; // then +Inf
const SAMPLES = 2048;
const http_ = {
  classes: [0, 0, 0, 0, 0], // 2xx, 3xx, 4xx, 5xx, incomplete: since the process started
  buckets: new Array(BUCKETS_MS.length + 1).fill(0), // responses by duration (not cumulative), since it started
  sumMs: 0,
  samples: new Float64Array(SAMPLES), // this interval's durations (a uniform sample of them past SAMPLES)
  seen: 0, // durations this interval
};
const kStart = Symbol('nk.start');
const kOpen = Symbol('nk.open'); // on a socket: its responses begun and not finished

function sample(ms) {
  const h = http_;
  if (h.seen < SAMPLES) h.samples[h.seen] = ms;
  else {
    const j = Math.floor(Math.random() * (h.seen + 1));
    if (j < SAMPLES) h.samples[j] = ms;
  }
  h.seen++;
}

function counted(ms, cls) {
  http_.classes[cls]++;
  if (cls === 4) return;
  let b = 0;
  while (b < BUCKETS_MS.length && ms > BUCKETS_MS[b]) b++;
  http_.buckets[b]++;
  http_.sumMs += ms;
  sample(ms);
}

// A connection that closes with responses not finished (a client gone, a timeout, a destroyed socket): each of them
// is incomplete. One listener a connection, not one a response: a keep-alive connection carries many.
function socketClosed() {
  const open = this[kOpen];
  if (open > 0) for (let i = 0; i < open; i++) counted(0, 4);
}

if (httpCounting) {
  const dc = require('diagnostics_channel');
  // Milliseconds from the monotonic clock. Not perf_hooks' performance.now(): loading perf_hooks adds 60 KiB to the
  // young heap of an app that does not use it.
  const perfNow = () => Number(process.hrtime.bigint()) / 1e6;
  if (typeof dc.subscribe === 'function') {
    dc.subscribe('http.server.request.start', (m) => {
      const res = m && m.response;
      const socket = m && m.socket;
      if (!res || !socket || res[kStart] !== undefined) return;
      res[kStart] = perfNow();
      if (socket[kOpen] === undefined) {
        socket[kOpen] = 0;
        socket.once('close', socketClosed);
      }
      socket[kOpen]++;
    });
    dc.subscribe('http.server.response.finish', (m) => {
      const res = m && m.response;
      const socket = m && m.socket;
      if (!res || res[kStart] === undefined) return;
      if (socket && socket[kOpen] > 0) socket[kOpen]--;
      const status = res.statusCode;
      if (status >= 200 && status < 600) counted(perfNow() - res[kStart], Math.floor(status / 100) - 2);
    });
  }
}

// The interval's percentiles (ms, 2 decimals), then a fresh interval.
function percentiles() {
  const h = http_;
  const n = Math.min(h.seen, SAMPLES);
  if (n === 0) return [null, null];
  const sorted = h.samples.subarray(0, n).sort();
  const at = (q) => Math.round(sorted[Math.min(n - 1, Math.ceil(q * n) - 1)] * 100) / 100;
  const p = [at(0.5), at(0.99)];
  h.seen = 0;
  return p;
}

// A worker hands what it counted since its last word to the primary, which adds it to its own.
if (httpCounting && clusterWorker) {
  let sent = [0, 0, 0, 0, 0];
  let sentBuckets = new Array(BUCKETS_MS.length + 1).fill(0);
  let sentSum = 0;
  const every = Number(process.env.NK_METRICS_MS) > 0 ? Number(process.env.NK_METRICS_MS) : 1000;
  setInterval(() => {
    const h = http_;
    if (h.classes.every((c, i) => c === sent[i]) || !process.connected) return;
    const n = Math.min(h.seen, SAMPLES);
    const message = {
      cmd: 'NODE_NK_HTTP',
      classes: h.classes.map((c, i) => c - sent[i]),
      buckets: h.buckets.map((c, i) => c - sentBuckets[i]),
      sum: h.sumMs - sentSum,
      samples: Array.from(h.samples.subarray(0, Math.min(n, 256))),
    };
    sent = h.classes.slice();
    sentBuckets = h.buckets.slice();
    sentSum = h.sumMs;
    h.seen = 0;
    try { process.send(message, () => {}); } catch (_) { /* the primary went away */ }
  }, every).unref();
}

function workerCounted(m) {
  if (!m || m.cmd !== 'NODE_NK_HTTP' || !Array.isArray(m.classes)) return;
  for (let i = 0; i < 5; i++) http_.classes[i] += Number(m.classes[i]) || 0;
  if (Array.isArray(m.buckets)) for (let i = 0; i < http_.buckets.length; i++) http_.buckets[i] += Number(m.buckets[i]) || 0;
  http_.sumMs += Number(m.sum) || 0;
  if (Array.isArray(m.samples)) for (const ms of m.samples) sample(Number(ms) || 0);
}

// The instance hears its cluster workers' counts once the app itself has loaded `cluster` (loading it for every app
// would add 110 KiB to the young heap at each start): looked for at each listen() (a worker listens through its
// primary, so before it serves) and at each report that looks (the look itself allocates: not at every idle one).
let clusterHooked = !(httpCounting && instance && process.channel);
function hookCluster() {
  const loaded = process.moduleLoadList;
  if (clusterHooked || (Array.isArray(loaded) && !loaded.includes('NativeModule cluster'))) return;
  clusterHooked = true;
  const cluster = require('cluster');
  const hear = (worker) => { if (worker && worker.process) worker.process.on('internalMessage', workerCounted); };
  for (const worker of Object.values(cluster.workers || {})) hear(worker);
  cluster.on('fork', hear);
}

// 7. Evidence, captured inside the instance when the problem happens (NK_CAPTURE:
//    "STALL_MS,CPU_MS,INTERVAL_MS,REPORTS,WATCHDOG,FOLDER", the app's folder of captures last).
//    - Node's diagnostic report of a fatal error (heap out of memory) or an uncaught exception, turned on here at run
//      time, not with node's flags, so that the processes the app forks are left as they were; a report directory the
//      app chose itself is kept (then the daemon does not find its reports).
//    - A watchdog worker thread sees the main thread stop beating for STALL_MS (not counting what the main thread
//      waited for a core meanwhile: a machine whose cores are all taken delays every timer, and that is no stall of
//      the app's) and, while it is still blocked, takes its exact JavaScript stack (Debugger.pause, then resumed at once) and a CPU profile of it (for at
//      most CPU_MS, until it beats again), through an inspector session connected to the main thread: both
//      work while JavaScript spins. At most one capture per INTERVAL_MS. The worker is unref'd (it never
//      keeps the app alive), loads no preload, has an empty environment, and any error of its own ends only itself.
//      It costs a thread (about 9 MiB and 50 ms of CPU to start), so by default (WATCHDOG "l") it starts only once the
//      reports of 5 have seen an event-loop delay of STALL_MS or more beyond the main thread's wait for a core in that
//      interval: that stall is told, and the next one profiled. (Taken as it was, the delay of a starved process
//      started the thread in a third of 300 instances at once during a restart of all of them, and the load that
//      added delayed more.)
//      With "a" it starts a second after the start, and even the first stall is profiled.
//    - On the daemon's word (nk profile, nk heap, a heap that keeps growing): a heap snapshot (written by the main
//      thread, which pauses for it) or a CPU profile of a given length (taken by the worker).
//    Each capture is written under a temporary name and renamed, so a file seen by its name is whole; the daemon hears of
//    it over IPC once the main thread runs again, or finds it by its name.
const captureSpec = instance && typeof process.env.NK_CAPTURE === 'string' ? /^(\d+),(\d+),(\d+),([01]),([la]),(.+)$/.exec(process.env.NK_CAPTURE) : null;
if (instance) delete process.env.NK_CAPTURE;
if (captureSpec) {
  const [, stallText, cpuText, intervalText, reportsText, watchdogText, dir] = captureSpec;
  const stallMs = Number(stallText);
  const cpuMs = Number(cpuText);
  const intervalMs = Number(intervalText);
  const reports = reportsText === '1';
  const report = process.report;
  if (reports && report && typeof report === 'object') {
    try {
      if (!report.directory) report.directory = dir;
      report.reportOnFatalError = true;
      report.reportOnUncaughtException = true;
      report.compact = true;
      if ('excludeNetwork' in report) report.excludeNetwork = true;
    } catch (_) { /* an older node without a setting: no report */ }
  }
  const instanceNo = Number(process.env.NK_INSTANCE) || 0;
  // [0]: the main thread's heartbeat; [1]: 1 while it writes a heap snapshot (a pause of its own making, not a stall).
  const beat = new Int32Array(new SharedArrayBuffer(8));
  const period = Math.max(50, Math.min(250, Math.floor(stallMs / 4) || 250));
  let watchdog = null;
  // What waits for the worker to run (on_lag's notice), told once whether it started.
  let onStarted = null;
  const started = (ok) => { const f = onStarted; onStarted = null; if (f) f(ok); };
  const ensureWatchdog = () => {
    if (watchdog) return watchdog;
    try {
      const { Worker } = require('worker_threads');
      const w = new Worker(`${runQueueWait.toString()}\n(${watchdogMain.toString()})()`, {
        eval: true, execArgv: [], env: {}, stdout: true, stderr: true,
        workerData: { dir, instance: instanceNo, pid: process.pid, stallMs, cpuMs, intervalMs, period, beat: beat.buffer },
        resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 8 },
      });
      // Listeners first: one added after unref() would ref the worker again.
      w.on('message', (m) => { if (m && typeof m === 'object') tell({ nk: 'captured', ...m }); });
      w.on('online', () => started(true));
      w.on('error', () => { started(false); if (watchdog === w) watchdog = null; });
      w.on('exit', () => { started(false); if (watchdog === w) watchdog = null; });
      w.unref();
      watchdog = w;
    } catch (_) { watchdog = null; }
    return watchdog;
  };
  let watching = false;
  const watch = () => {
    if (watching) return;
    watching = true;
    setInterval(() => { Atomics.add(beat, 0, 1); }, period).unref();
    ensureWatchdog();
  };
  // The watch can begin a second after the start: the app's own start (loading its modules, which is synchronous) is
  // not a stall, and the worker's start does not compete with it. (The delays 5 measures begin at the first turn.)
  if (stallMs > 0) {
    setTimeout(() => {
      if (watchdogText === 'a') { watch(); return; }
      lagSeen = (lagMs) => {
        if (watching || !(lagMs >= stallMs)) return;
        lagSeen = null;
        // Told once the worker runs (or could not start), so that "it watches from now on" is true when it is read.
        const blocked = `the event loop was blocked for ${Math.round(lagMs)} ms before the stall watchdog ran (capture.watchdog = "on_lag")`;
        onStarted = (ok) => tell(ok
          ? { nk: 'captured', kind: 'stall', note: `${blocked}; it watches from now on and profiles the next stall` }
          : { nk: 'captured', kind: 'stall', error: `${blocked}; the watchdog thread could not start, so no stall is profiled` });
        watch();
        if (!watchdog) started(false);
      };
    }, 1000).unref();
  }
  if (process.channel) {
    process.on('internalMessage', (m) => {
      if (!m || m.cmd !== 'NODE_NK_CAPTURE') return;
      const id = String(m.id);
      if (m.kind === 'heap') {
        const at = Date.now();
        const file = `heap-${instanceNo}-${process.pid}-${at}.heapsnapshot`;
        const fs = require('fs');
        const path = require('path');
        const temporary = path.join(dir, `.${file}.partial`);
        Atomics.store(beat, 1, 1);
        try {
          require('v8').writeHeapSnapshot(temporary);
          fs.renameSync(temporary, path.join(dir, file));
          tell({ nk: 'captured', id, kind: 'heap', file, ms: Date.now() - at });
        } catch (e) {
          try { fs.unlinkSync(temporary); } catch (_) { /* never written */ }
          tell({ nk: 'captured', id, kind: 'heap', error: String((e && e.message) || e) });
        } finally {
          Atomics.add(beat, 0, 1);
          Atomics.store(beat, 1, 0);
        }
      } else if (m.kind === 'cpu') {
        const w = ensureWatchdog();
        if (w) w.postMessage({ kind: 'cpu', id, ms: Number(m.ms) > 0 ? Number(m.ms) : 5000 });
        else tell({ nk: 'captured', id, kind: 'cpu', error: 'the profiling thread could not start' });
      }
    });
  }
}

// The watchdog thread's program (see 7), run from its source: it shares nothing with the preload but workerData.
function watchdogMain() {
  const { workerData, parentPort } = require('worker_threads');
  const inspector = require('inspector');
  const fs = require('fs');
  const path = require('path');
  const { dir, instance, pid, stallMs, cpuMs, intervalMs, period } = workerData;
  const beat = new Int32Array(workerData.beat);
  let last = Atomics.load(beat, 0);
  let since = Date.now();
  let busy = false;
  let lastCapture = -Infinity;

  const write = (file, text) => {
    const temporary = path.join(dir, `.${file}.partial`);
    fs.writeFileSync(temporary, text, { mode: 0o600 });
    fs.renameSync(temporary, path.join(dir, file));
  };
  const connect = () => {
    const s = new inspector.Session();
    s.connectToMainThread();
    const post = (method, params) => new Promise((resolve, reject) => {
      s.post(method, params || {}, (err, result) => (err ? reject(err) : resolve(result)));
    });
    return { s, post };
  };
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // A blocked main thread: its exact stacks (up to 4 pauses) and a CPU profile, until it beats again or cpuMs passed.
  async function stall(blockedMs) {
    const at = Date.now();
    const base = `stall-${instance}-${pid}-${at}`;
    const { s, post } = connect();
    const urls = new Map();
    const stacks = [];
    let paused = null;
    let asked = 0;
    const stuckAt = Atomics.load(beat, 0);
    const beating = () => Atomics.load(beat, 0) !== stuckAt;
    s.on('Debugger.scriptParsed', (m) => urls.set(m.params.scriptId, m.params.url));
    // Every pause is resumed at once, a `debugger;` statement of the app's included. A pause asked for is kept even
    // when it came after its wait (a loaded machine schedules the main thread late), as long as the main thread has not
    // beaten since the stall began: then it is still the blocked code that was paused.
    s.on('Debugger.paused', (m) => {
      if (asked > 0) {
        asked--;
        if (!beating()) {
          stacks.push(m.params.callFrames.slice(0, 32).map((f) => ({
            function: f.functionName, url: urls.get(f.location.scriptId) || f.url || '',
            line: f.location.lineNumber + 1, column: (f.location.columnNumber || 0) + 1,
          })));
        }
        if (paused) paused();
        paused = null;
      }
      post('Debugger.resume').catch(() => {});
    });
    const pause = () => new Promise((resolve) => {
      paused = resolve;
      asked++;
      post('Debugger.pause').catch(() => { asked--; paused = null; resolve(); });
      setTimeout(() => { if (paused === resolve) { paused = null; resolve(); } }, 1000);
    });
    let profile = null;
    try {
      await post('Debugger.enable');
      await pause();
      await post('Profiler.enable');
      await post('Profiler.start');
      const started = Date.now();
      let pauses = 1;
      while (!beating() && Date.now() - started < cpuMs) {
        await sleep(period);
        if (pauses < 4 && !beating() && Date.now() - started >= (pauses * cpuMs) / 4) { pauses++; await pause(); }
      }
      profile = (await post('Profiler.stop')).profile;
    } catch (_) { /* the main thread went away, or a session of the app's own holds the profiler */ }
    await post('Debugger.disable').catch(() => {});
    await post('Profiler.disable').catch(() => {});
    s.disconnect();
    if (!profile && stacks.length === 0) return;
    if (profile) write(`${base}.cpuprofile`, JSON.stringify(profile));
    const summary = {
      kind: 'stall', pid, instance, at: new Date(at).toISOString(), blocked_ms: blockedMs,
      window_ms: profile ? Math.round((profile.endTime - profile.startTime) / 1000) : 0,
      profile: profile ? `${base}.cpuprofile` : null, stacks,
    };
    write(`${base}.json`, JSON.stringify(summary));
    parentPort.postMessage({ kind: 'stall', file: `${base}.json` });
  }

  // `nk profile --cpu`: a profile of ms milliseconds, asked for by the daemon.
  async function cpu(id, ms) {
    const at = Date.now();
    const file = `cpu-${instance}-${pid}-${at}.cpuprofile`;
    const { s, post } = connect();
    try {
      await post('Profiler.enable');
      await post('Profiler.start');
      await sleep(ms);
      const { profile } = await post('Profiler.stop');
      write(file, JSON.stringify(profile));
      parentPort.postMessage({ id, kind: 'cpu', file, ms: Date.now() - at });
    } catch (e) {
      parentPort.postMessage({ id, kind: 'cpu', error: String((e && e.message) || e) });
    } finally {
      await post('Profiler.disable').catch(() => {});
      s.disconnect();
    }
  }

  const run = (task) => {
    busy = true;
    task().catch(() => {}).finally(() => { busy = false; });
  };
  parentPort.on('message', (m) => {
    if (!m || m.kind !== 'cpu') return;
    if (busy) parentPort.postMessage({ id: m.id, kind: 'cpu', error: 'a capture is already running' });
    else run(() => cpu(m.id, m.ms));
  });
  // The main thread's run-queue wait when it last beat: what it waited for a core since is not a stall of its own.
  const waited = runQueueWait(pid);
  let waitedAtBeat = waited();
  // A timer of its own keeps this thread alive (its Worker is unref'd in the main thread).
  setInterval(() => {
    const now = Date.now();
    const b = Atomics.load(beat, 0);
    if (b !== last || Atomics.load(beat, 1) !== 0) { last = b; since = now; waitedAtBeat = waited(); return; }
    if (stallMs > 0 && !busy && now - since >= stallMs && now - lastCapture >= intervalMs) {
      const w = waited();
      const blocked = now - since - (w !== null && waitedAtBeat !== null ? w - waitedAtBeat : 0);
      if (blocked < stallMs) return;
      lastCapture = now;
      run(() => stall(blocked));
    }
  }, period);
}
