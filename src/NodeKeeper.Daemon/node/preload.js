'use strict';
// NodeKeeper's preload, loaded with `node --require` into every supervised app.
//
// 1. Node writes stdout/stderr to a pipe asynchronously and drops what is still queued when the app
//    calls process.exit() or dies of an uncaught exception. Blocking pipes keep every line; the daemon
//    drains them continuously, so this costs the app nothing.
for (const stream of [process.stdout, process.stderr]) {
  const handle = stream && stream._handle;
  if (handle && typeof handle.setBlocking === 'function') handle.setBlocking(true);
}

// 2. The IPC channel to the daemon (NODE_CHANNEL_FD) must never keep an app alive by itself.
if (process.channel && typeof process.channel.unref === 'function') process.channel.unref();
