#!/usr/bin/env node
// A long run of one daemon: 10,000 restarts of a crashing app, with the daemon's resident memory, open files and
// threads printed every 1,000 restarts and a summary at the end (tests/NodeKeeper.ReliabilityTests/LongRunTests.cs
// runs 1,000 of them in CI).
//
//   node bench/longrun.js [--restarts 10000] [--instances 2] [--every 1000]
//
// Uses the nk that bench/run.sh publishes into bench/.nk (NK_BIN overrides). The daemon gets a private home under a
// temp folder; at the end every process started here is stopped by pid, after checking its environment carries that
// home. Each crash is a stable run (min_uptime = "0ms"): the app restarts at once, without backoff, and the
// instances crash side by side, so the loop runs as fast as node starts.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const here = __dirname;
const repo = path.resolve(here, '..');
const args = parseArgs(process.argv.slice(2));
const total = Number(args.restarts || 10000);
const instances = Number(args.instances || 2);
const every = Number(args.every || 1000);
const nkBin = process.env.NK_BIN || path.join(here, '.nk', 'nk');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nk-longrun-'));
const home = path.join(work, 'nk-home');
const env = { ...process.env, NODEKEEPER_HOME: home };

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    if (!argv[i].startsWith('--')) continue;
    const key = argv[i].slice(2);
    if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[key] = argv[++i];
    else out[key] = true;
  }
  return out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint()) / 1e6;
const log = (...m) => console.log('[longrun]', ...m);

// ---------- /proc ----------
function stat(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { state: f[0], ppid: +f[1], start: +f[19] };
  } catch { return null; }
}
const alive = (pid) => { const s = stat(pid); return !!s && s.state !== 'Z'; };
function environ(pid) {
  try { return fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0'); } catch { return []; }
}
/** Every live process whose environment carries NODEKEEPER_HOME=home: the daemon and its apps. */
function owned() {
  const found = [];
  for (const d of fs.readdirSync('/proc')) {
    const pid = Number(d);
    if (!pid || pid <= 1 || pid === process.pid || !alive(pid)) continue;
    if (environ(pid).includes(`NODEKEEPER_HOME=${home}`)) found.push(pid);
  }
  return found;
}
/** The daemon's open fds, resident memory (KiB) and threads. */
function figures(pid) {
  const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number((status.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm')) || [])[1]);
  return { fds, rssKb: field('VmRSS'), threads: field('Threads') };
}
const show = (f) => `RSS ${(f.rssKb / 1024).toFixed(1)} MiB, ${f.fds} fds, ${f.threads} threads`;
function zombiesOf(parent) {
  return fs.readdirSync('/proc').map(Number).filter((p) => p > 1).filter((p) => { const s = stat(p); return s && s.state === 'Z' && s.ppid === parent; });
}

// ---------- nk ----------
function nk(...argv) {
  const r = spawnSync(nkBin, argv, { env, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status, out: r.stdout || '', err: r.stderr || '' };
}
function ok(...argv) {
  const r = nk(...argv);
  if (r.code !== 0) throw new Error(`nk ${argv.join(' ')} failed (${r.code}): ${r.err.trim()}`);
  return r;
}
const status = () => JSON.parse(ok('status', '--json').out);
const restarts = () => status().reduce((a, i) => a + i.restarts, 0);
function daemonPid() {
  const pid = Number(fs.readFileSync(path.join(home, 'nk.pid'), 'utf8'));
  if (!owned().includes(pid)) throw new Error(`nk.pid names ${pid}, not a live process of ${home}`);
  return pid;
}
async function waitFor(fn, timeoutMs, what) {
  const until = now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
/** The daemon's figures once its fd count holds still for a second (within a deadline). */
async function steady(pid) {
  let last = figures(pid);
  const until = now() + 15000;
  let still = 0;
  while (now() < until && still < 4) {
    await sleep(250);
    const f = figures(pid);
    still = f.fds === last.fds ? still + 1 : 0;
    last = f;
  }
  return last;
}

async function main() {
  if (!fs.existsSync(nkBin)) throw new Error(`no nk at ${nkBin}: run bench/run.sh (it publishes nk into bench/.nk)`);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGPIPE']) process.on(sig, () => { cleanup(); process.exit(1); });
  const config = path.join(work, 'nodekeeper.toml');
  fs.writeFileSync(config, [
    '[[app]]', 'name = "crash"', `script = ${JSON.stringify(path.join(repo, 'examples', 'crasher.js'))}`,
    `instances = ${instances}`, 'min_uptime = "0ms"', 'restart_delay = "1ms"', 'max_restart_delay = "1ms"', 'max_restarts = 0',
    'log = { max_size = "256K", keep = 2 }', 'env = { CRASH_AFTER_MS = "0" }', '',
  ].join('\n'));

  log(`${total} restarts of examples/crasher.js (exit 1 at once), ${instances} instances, nk ${nkBin}, ${os.cpus().length} cores, node ${process.version}`);
  ok('start', config, '--no-wait');
  const daemon = daemonPid();
  // Warm-up, then the quiet state to compare with: the app loaded and stopped.
  await waitFor(() => restarts() >= 100, 60000, '100 warm-up restarts');
  ok('stop', 'crash');
  const base = restarts();
  const before = await steady(daemon);
  log(`daemon ${daemon} after ${base} warm-up restarts, app stopped: ${show(before)}`);

  ok('start', 'crash', '--no-wait');
  const t0 = now();
  let next = every;
  let done = 0;
  let peak = { ...before };
  const rows = [];
  while (done < total) {
    await sleep(200);
    const s = status();
    const errored = s.find((i) => i.status === 'errored');
    if (errored) throw new Error(`instance ${errored.instance} is errored: a crash after 0 ms must be a stable run with min_uptime = "0ms"`);
    done = s.reduce((a, i) => a + i.restarts, 0) - base;
    const f = figures(daemon);
    peak = { fds: Math.max(peak.fds, f.fds), rssKb: Math.max(peak.rssKb, f.rssKb), threads: Math.max(peak.threads, f.threads) };
    if (done >= next) {
      const secs = (now() - t0) / 1000;
      log(`${String(done).padStart(6)} restarts  ${secs.toFixed(1).padStart(6)} s  ${(done / secs).toFixed(0).padStart(4)}/s  ${show(f)}`);
      rows.push({ restarts: done, seconds: secs, ...f });
      next = (Math.floor(done / every) + 1) * every;
    }
  }
  const seconds = (now() - t0) / 1000;
  ok('stop', 'crash');
  const left = owned().filter((p) => p !== daemon);
  const zombies = await waitFor(() => { const z = zombiesOf(daemon); return z.length === 0 ? [] : null; }, 5000, 'no zombie child of the daemon').catch(() => zombiesOf(daemon));
  const after = await steady(daemon);
  log(`daemon after ${done} restarts, app stopped: ${show(after)}`);

  const summary = {
    restarts: done, seconds: +seconds.toFixed(1), per_second: +(done / seconds).toFixed(1), instances,
    before, after, peak_while_running: peak,
    rss_growth_mib: +((after.rssKb - before.rssKb) / 1024).toFixed(1), fd_change: after.fds - before.fds, thread_change: after.threads - before.threads,
    processes_left: left.length, zombies: zombies.length, samples: rows,
  };
  log('summary:');
  console.log(JSON.stringify(summary, null, 2));
  const verdict = summary.fd_change <= 3 && summary.fd_change >= -3 && summary.rss_growth_mib < 30 && left.length === 0 && zombies.length === 0;
  log(verdict ? 'flat: fds within 3, RSS growth under 30 MiB, nothing left, no zombie' : 'NOT flat: see the summary');
  return verdict ? 0 : 1;
}

/** Every process of this run's home goes, by pid, checked by its environment; then the temp folder. */
function cleanup() {
  try { nk('kill'); } catch { /* killed below */ }
  for (const pid of owned()) {
    if (pid <= 1) continue;
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  fs.rmSync(work, { recursive: true, force: true });
}

main().then((code) => { cleanup(); process.exit(code); }, (e) => { console.error(`[longrun] failed: ${e.stack || e}`); cleanup(); process.exit(1); });
