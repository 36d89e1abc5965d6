#!/usr/bin/env node
// NodeKeeper's benchmarks against PM2 and the bare node process, on this machine, in one run.
//
//   node bench/bench.js [--runs N] [--only nodekeeper|pm2] [--scenarios a,b] [--smoke] [--out DIR]
//
// A full run writes DIR/latest.md, latest.json and ratios.svg (DIR: bench/results); a partial one (--scenarios,
// --only) writes DIR/<scenarios>.md and .json instead, e.g. keepalive_downtime.md, and leaves latest.* alone.
//
// bench/run.sh installs PM2 into bench/.peers, publishes nk into bench/.nk and calls this script.
// Each supervisor gets a private home (NODEKEEPER_HOME, PM2_HOME) under a temp folder, loopback ports
// only, and every process started here is stopped by pid at the end (checked by its environment).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const net = require('net');
const { spawn, spawnSync } = require('child_process');

const here = __dirname;
const repo = path.resolve(here, '..');
const args = parseArgs(process.argv.slice(2));
const smoke = !!args.smoke;
const runs = Number(args.runs || (smoke ? 1 : 5));
const outDir = path.resolve(args.out || path.join(here, 'results'));
const nkBin = process.env.NK_BIN || path.join(here, '.nk', 'nk');
const pm2Bin = process.env.PM2_BIN || path.join(here, '.peers', 'node_modules', '.bin', 'pm2');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nk-bench-'));
const only = args.only ? String(args.only).split(',') : null;
const wanted = args.scenarios ? String(args.scenarios).split(',') : null;
const TICKS = 100; // USER_HZ of /proc/PID/stat
const PAGE = 4096;

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const key = a.slice(2);
    if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[key] = argv[++i];
    else out[key] = true;
  }
  return out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN; };
const now = () => Number(process.hrtime.bigint()) / 1e6;
const log = (...m) => console.error('[bench]', ...m);

// ---------- /proc ----------
function stat(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { state: f[0], ppid: +f[1], ticks: +f[11] + +f[12], start: +f[19], rss: +f[21] * PAGE };
  } catch { return null; }
}
const alive = (pid) => { const s = stat(pid); return !!s && s.state !== 'Z'; };
function children(pid) {
  const out = [];
  try {
    for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
      const c = fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim();
      if (c) out.push(...c.split(' ').map(Number));
    }
  } catch { /* gone */ }
  return out;
}
function treeRss(pid) {
  let total = 0;
  const stack = [pid];
  while (stack.length) { const p = stack.pop(); const s = stat(p); if (s && s.state !== 'Z') { total += s.rss; stack.push(...children(p)); } }
  return total;
}
function environ(pid) {
  try { return fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0'); } catch { return []; }
}
/** Every live process whose environment carries one of these VAR=value pairs: what this bench started. */
function ownedBy(pairs) {
  const found = [];
  for (const d of fs.readdirSync('/proc')) {
    const pid = Number(d);
    if (!pid || pid <= 1 || pid === process.pid || !alive(pid)) continue;
    const env = environ(pid);
    if (pairs.some((p) => env.includes(p))) found.push(pid);
  }
  return found;
}
function killOwned(pairs) {
  for (const pid of ownedBy(pairs)) {
    if (pid <= 1) continue;
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

// ---------- HTTP probing ----------
function get(port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health', agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', (e) => resolve({ error: e.code || e.message }));
    req.on('timeout', () => { req.destroy(); resolve({ error: 'timeout' }); });
  });
}
function freePort() {
  return new Promise((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); }); });
}

// ---------- supervisors ----------
function run(bin, argv, env) {
  const t0 = now();
  const r = spawnSync(bin, argv, { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { ms: now() - t0, code: r.status, out: r.stdout || '', err: r.stderr || '' };
}

function toml(apps) {
  return apps.map((a) => {
    const lines = ['[[app]]', `name = ${JSON.stringify(a.name)}`, `script = ${JSON.stringify(a.script)}`];
    if (a.port) lines.push(`port = ${a.port}`, 'host = "127.0.0.1"');
    if (a.instances) lines.push(`instances = ${a.instances}`);
    if (a.interpreter) lines.push(`interpreter = ${JSON.stringify(a.interpreter)}`);
    if (a.portMode) lines.push(`port_mode = ${JSON.stringify(a.portMode)}`);
    if (a.maxMemory) lines.push(`max_memory = "${a.maxMemory}"`);
    if (a.env) lines.push(`env = { ${Object.entries(a.env).map(([k, v]) => `${k} = ${JSON.stringify(String(v))}`).join(', ')} }`);
    if (a.minUptime) lines.push(`min_uptime = "${a.minUptime}"`);
    if (a.once) lines.push('restart = "never"');
    if (a.httpMetrics === false) lines.push('http_metrics = false');
    if (a.capture) lines.push(`capture = ${a.capture}`);
    lines.push(`log = { out = ${JSON.stringify(a.out)}, err = ${JSON.stringify(a.err)}, max_size = "4G" }`);
    return lines.join('\n');
  }).join('\n\n') + '\n';
}

class NodeKeeper {
  constructor(dir) { this.name = 'nodekeeper'; this.home = path.join(dir, 'nk-home'); this.env = { NODEKEEPER_HOME: this.home }; this.dir = dir; }
  /** Writes the config of these apps (a later `nk reload` reads it again). */
  write(apps) { const file = path.join(this.dir, 'nodekeeper.toml'); fs.writeFileSync(file, toml(apps)); return file; }
  start(apps, wait = true) {
    const file = this.write(apps);
    const r = run(nkBin, ['start', file, ...(wait ? [] : ['--no-wait'])], this.env);
    if (r.code !== 0 && wait) throw new Error(`nk start failed: ${r.err}`);
    return r;
  }
  status() { return JSON.parse(run(nkBin, ['status', '--json'], this.env).out || '[]'); }
  statusCommand() { return run(nkBin, ['status', '--json'], this.env); }
  pid(name) { const i = this.status().find((x) => x.name === name); return i && i.status === 'online' ? i.pid : null; }
  daemonPids() { try { const p = Number(fs.readFileSync(path.join(this.home, 'nk.pid'), 'utf8')); return alive(p) ? [p] : []; } catch { return []; } }
  stop() { run(nkBin, ['kill'], this.env); killOwned([`NODEKEEPER_HOME=${this.home}`]); }
  outLog(name) { return path.join(this.dir, `${name}.out.log`); }
}

class Pm2 {
  constructor(dir) { this.name = 'pm2'; this.home = path.join(dir, 'pm2-home'); this.env = { PM2_HOME: this.home }; this.dir = dir; }
  start(apps) {
    const file = this.write(apps);
    const r = run(pm2Bin, ['start', file], this.env);
    if (r.code !== 0) throw new Error(`pm2 start failed: ${r.err}`);
    return r;
  }
  /** Writes the ecosystem file of these apps (a later `pm2 reload FILE --update-env` reads it again). */
  write(apps) {
    const file = path.join(this.dir, 'ecosystem.config.js');
    const eco = {
      apps: apps.map((a) => ({
        name: a.name, script: a.script, env: a.env || {}, out_file: a.out, error_file: a.err,
        ...(a.maxMemory ? { max_memory_restart: a.maxMemory } : {}), ...(a.minUptime ? { min_uptime: a.minUptime } : {}),
        ...(a.instances ? { instances: a.instances, exec_mode: a.execMode || 'cluster' } : {}),
        ...(a.interpreter ? { interpreter: a.interpreter } : {}),
        merge_logs: true, autorestart: !a.once,
      })),
    };
    fs.writeFileSync(file, `module.exports = ${JSON.stringify(eco, null, 2)};\n`);
    return file;
  }
  status() { try { return JSON.parse(run(pm2Bin, ['jlist'], this.env).out || '[]'); } catch { return []; } }
  statusCommand() { return run(pm2Bin, ['jlist'], this.env); }
  pid(name) { const i = this.status().find((x) => x.name === name); return i && i.pm2_env.status === 'online' ? i.pid : null; }
  daemonPids() { try { const p = Number(fs.readFileSync(path.join(this.home, 'pm2.pid'), 'utf8')); return alive(p) ? [p] : []; } catch { return []; } }
  stop() { run(pm2Bin, ['kill'], this.env); killOwned([`PM2_HOME=${this.home}`]); }
}

function supervisors(tag) {
  const list = [];
  const mk = (Cls, name) => {
    if (only && !only.includes(name)) return;
    const dir = path.join(work, `${tag}-${name}`);
    fs.mkdirSync(dir, { recursive: true });
    list.push(new Cls(dir));
  };
  mk(NodeKeeper, 'nodekeeper');
  if (!smoke) mk(Pm2, 'pm2');
  return list;
}
function app(sv, name, script, extra = {}) {
  return { name, script: path.join(extra.examples ? path.join(repo, 'examples') : path.join(here, 'apps'), script),
    out: path.join(sv.dir, `${name}.out.log`), err: path.join(sv.dir, `${name}.err.log`), ...extra };
}
async function waitFor(fn, timeoutMs, what) {
  const until = now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
async function allOnline(sv, count) {
  return waitFor(() => { const s = sv.status(); return s.length >= count && s.every((i) => (i.status || i.pm2_env.status) === 'online'); }, 30000, `${count} apps online under ${sv.name}`);
}

// ---------- scenarios ----------
const results = [];
function record(scenario, metric, values, target, detail) {
  results.push({ scenario, metric, ...values, target, ...(detail ? { detail } : {}) });
  log(scenario, metric, JSON.stringify(values));
}

async function cliLatencyAndFootprint() {
  const n = smoke ? 2 : 10;
  const idleMs = smoke ? 2000 : 30000;
  const latency = {};
  const rss = {};
  const cpu = {};
  const svs = supervisors('idle');
  for (const sv of svs) {
    const apps = Array.from({ length: n }, (_, i) => app(sv, `w${i}`, 'worker.js', { examples: true, env: { TICK_MS: 60000 } }));
    sv.start(apps);
    await allOnline(sv, n);
    for (let i = 0; i < 3; i++) sv.statusCommand();
    const times = [];
    for (let i = 0; i < (smoke ? 3 : 15); i++) times.push(sv.statusCommand().ms);
    latency[sv.name] = median(times);
  }
  // Idle together, in one window: the daemons' RSS and CPU seconds.
  await sleep(smoke ? 200 : 3000);
  const before = Object.fromEntries(svs.map((sv) => [sv.name, sv.daemonPids().map((p) => stat(p).ticks)]));
  await sleep(idleMs);
  for (const sv of svs) {
    const pids = sv.daemonPids();
    rss[sv.name] = pids.reduce((a, p) => a + stat(p).rss, 0) / 1048576;
    cpu[sv.name] = pids.reduce((a, p, i) => a + (stat(p).ticks - (before[sv.name][i] || 0)), 0) * (1000 / TICKS);
    sv.stop();
  }
  record('cli_latency', `status --json vs jlist, ${n} apps (ms)`, latency, 'nk <= 1/10 of pm2');
  record('daemon_footprint', `daemon RSS, ${n} apps (MiB)`, rss, 'nk <= 1/2 of pm2 and <= 31 MiB');
  record('daemon_footprint', `daemon CPU over ${idleMs / 1000} s idle (ms)`, cpu, 'nk <= 20 ms');
}

/** Median time from spawning `argv` (PORT given) until it answers HTTP 200: the bare start a supervisor is measured against. */
async function bareStart(argv, port) {
  const times = [];
  for (let r = 0; r < Math.max(3, runs); r++) {
    const t0 = now();
    const child = spawn(argv[0], argv.slice(1), { env: { ...process.env, PORT: port, NK_BENCH: work }, stdio: 'ignore' });
    track(child.pid);
    await waitFor(async () => (await get(port, 200)).status === 200, 10000, `bare ${path.basename(argv[0])} to answer`);
    times.push(now() - t0);
    child.kill('SIGKILL');
    await waitFor(() => !alive(child.pid), 5000, `bare ${path.basename(argv[0])} to end`);
  }
  return median(times);
}

/** The pid an example server puts in its answer: http-server.js's JSON ("pid":N), python-http.py's text (pid N). */
function answerPid(body) {
  const m = /"pid":(\d+)|\bpid (\d+)/.exec(body || '');
  return m ? Number(m[1] || m[2]) : null;
}

/**
 * kill -9 of the app's process, `runs` times: the median time until a new pid answers HTTP 200 on the port, and the
 * refused connections per restart meanwhile. Each kill comes after min_uptime, so every run is a stable one.
 */
async function killToAnswer(sv, name, port) {
  await waitFor(async () => (await get(port)).status === 200, 10000, `${name} to answer`);
  const times = [];
  let refusedTotal = 0;
  for (let r = 0; r < runs; r++) {
    const old = sv.pid(name);
    const t0 = now();
    process.kill(old, 'SIGKILL');
    for (;;) {
      const res = await get(port, 500);
      if (res.status === 200 && answerPid(res.body) !== old) break;
      if (res.error === 'ECONNREFUSED') refusedTotal++;
      if (now() - t0 > 20000) throw new Error(`${sv.name}: ${name} did not come back`);
      await sleep(2);
    }
    times.push(now() - t0);
    await waitFor(() => sv.pid(name), 10000, 'online again');
    await sleep(smoke ? 100 : 2500); // past min_uptime: every kill is a stable run
  }
  return { ms: median(times), refused: refusedTotal / runs };
}

async function restartLatency() {
  const port = await freePort();
  const latency = { node: await bareStart([process.execPath, path.join(repo, 'examples', 'http-server.js')], port) };
  const refused = { node: 0 };
  for (const sv of supervisors('restart')) {
    sv.start([app(sv, 'web', 'http-server.js', { examples: true, port, env: { PORT: port } })]);
    await allOnline(sv, 1);
    ({ ms: latency[sv.name], refused: refused[sv.name] } = await killToAnswer(sv, 'web', port));
    sv.stop();
  }
  record('restart_latency', 'kill -9 to first HTTP 200 of the new pid (ms; node = bare start)', latency, 'nk <= node + 20 ms');
  record('restart_latency', 'refused connections per restart', refused, '');
}

/**
 * An app that is not node (issue 19): examples/python-http.py under python3, no preload, on its own port (NodeKeeper:
 * interpreter = "python3", ready = "listen" probing the port; PM2: interpreter python3, fork mode). The same kill -9
 * figure as restart_latency, against a bare python3 start.
 */
async function otherPrograms() {
  const port = await freePort();
  const script = path.join(repo, 'examples', 'python-http.py');
  const latency = { python3: await bareStart(['python3', script], port) };
  const refused = { python3: 0 };
  for (const sv of supervisors('python')) {
    sv.start([app(sv, 'py', 'python-http.py', { examples: true, port, interpreter: 'python3', env: { PORT: port } })]);
    await allOnline(sv, 1);
    ({ ms: latency[sv.name], refused: refused[sv.name] } = await killToAnswer(sv, 'py', port));
    sv.stop();
  }
  record('other_programs', 'python3 server: kill -9 to first HTTP 200 of the new pid (ms; python3 = bare start)', latency, 'nk <= pm2 (both start python3 itself)');
  record('other_programs', 'python3 server: refused connections per restart', refused, '');
}

async function logThroughput() {
  const lines = smoke ? 20000 : 500000;
  const elapsed = {};
  const lost = {};
  const script = path.join(here, 'apps', 'log-writer.js');
  const resultFile = path.join(work, 'log-writer.result');
  const readResult = () => Number(fs.readFileSync(resultFile, 'utf8'));
  const countLines = (f) => { let n = 0; const b = fs.readFileSync(f); for (let i = 0; i < b.length; i++) if (b[i] === 10) n++; return n; };
  // Rounds are interleaved (file, pipe, then each supervisor, then the next round), so a drift of the machine during
  // the scenario touches every contender alike instead of whichever ran last.
  const times = { 'node, to a file': [], 'node, piped to cat': [] };
  const losses = {};
  const svs = supervisors('logs');
  for (const sv of svs) { times[sv.name] = []; losses[sv.name] = []; }
  const bare = (shell) => {
    fs.rmSync(resultFile, { force: true });
    spawnSync('sh', ['-c', shell], { env: { ...process.env, LINES: lines, RESULT_FILE: resultFile } });
    return readResult();
  };
  for (let r = 0; r < runs; r++) {
    const out = path.join(work, 'direct.log');
    times['node, to a file'].push(bare(`"${process.execPath}" "${script}" > "${out}"`));
    times['node, piped to cat'].push(bare(`"${process.execPath}" "${script}" | cat > "${out}"`));
    for (const sv of svs) {
      fs.rmSync(resultFile, { force: true });
      const a = app(sv, `logw${r}`, 'log-writer.js', { once: true, env: { LINES: lines, RESULT_FILE: resultFile } });
      fs.rmSync(a.out, { force: true });
      sv.start([a], false);
      await waitFor(() => fs.existsSync(resultFile) && fs.readFileSync(resultFile, 'utf8').length > 0, 120000, 'log-writer to finish');
      times[sv.name].push(readResult());
      await waitFor(() => fs.existsSync(a.out) && countLines(a.out) >= lines, 15000, 'every line in the log').catch(() => {});
      losses[sv.name].push(lines - (fs.existsSync(a.out) ? countLines(a.out) : 0));
      sv.stop();
    }
    log(`log_throughput round ${r + 1}: ${Object.entries(times).map(([k, v]) => `${k} ${Math.round(v[r])}`).join(', ')}`);
  }
  for (const [k, v] of Object.entries(times)) elapsed[k] = median(v);
  for (const [k, v] of Object.entries(losses)) lost[k] = Math.max(...v);
  record('log_throughput', `app's own time to write ${lines} lines (ms)`, elapsed, 'nk <= 1.05 x node piped to cat');
  record('log_throughput', 'lines lost (worst run)', lost, '0');
}

async function crashLoop() {
  const windowMs = smoke ? 3000 : 20000;
  const starts = {};
  const final = {};
  const delays = {};
  for (const sv of supervisors('crash')) {
    const file = path.join(sv.dir, 'starts.txt');
    fs.writeFileSync(file, '');
    sv.start([app(sv, 'crash', 'starts.js', { env: { STARTS_FILE: file, CRASH_AFTER_MS: 50 } })], false);
    await sleep(windowMs);
    const t = fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map(Number);
    starts[sv.name] = t.length;
    const s = sv.status()[0];
    final[sv.name] = s ? (s.status || s.pm2_env.status) : 'gone';
    delays[sv.name] = t.slice(1).map((x, i) => x - t[i]).join('/');
    sv.stop();
  }
  record('crash_loop', `starts in ${windowMs / 1000} s of an app exiting 1 after 50 ms`, starts, '');
  record('crash_loop', 'final state', final, '');
  record('crash_loop', 'ms between starts', delays, '');
}

async function memoryLimit() {
  const limitMb = 200;
  const reaction = {};
  const peak = {};
  for (const sv of supervisors('memory')) {
    sv.start([app(sv, 'grow', 'grower.js', { maxMemory: `${limitMb}M`, env: { STEP_MB: 2, STEP_MS: 100 } })]);
    await allOnline(sv, 1);
    const pid = sv.pid('grow');
    let crossed = null;
    let max = 0;
    const t0 = now();
    while (alive(pid) && now() - t0 < (smoke ? 20000 : 45000)) {
      const r = treeRss(pid);
      max = Math.max(max, r);
      if (crossed === null && r > limitMb * 1048576) crossed = now();
      await sleep(10);
    }
    reaction[sv.name] = crossed === null ? NaN : (alive(pid) ? Infinity : now() - crossed);
    peak[sv.name] = max / 1048576;
    sv.stop();
  }
  record('memory_limit', `from crossing ${limitMb} MiB to the restart (ms)`, reaction, 'nk <= 1000 ms');
  record('memory_limit', `peak RSS with a ${limitMb} MiB limit (MiB)`, peak, `nk <= ${Math.round(limitMb * 1.15)} MiB`);
}

/** Requests on fresh connections from `workers` loops until stopped: served, and failed (error or not 200). */
function loadLoop(port, workers = 4) {
  const state = { served: 0, failed: 0, errors: {}, stop: false };
  const loops = Array.from({ length: workers }, async () => {
    while (!state.stop) {
      const r = await get(port, 5000);
      if (r.status === 200) state.served++;
      else {
        state.failed++;
        const kind = String(r.status || r.error);
        state.errors[kind] = (state.errors[kind] || 0) + 1;
        if (process.env.BENCH_DEBUG) log('failed request:', kind);
      }
    }
  });
  state.end = async () => { state.stop = true; await Promise.all(loops); return state; };
  return state;
}

async function downtime(scenario, instances, action) {
  const failed = {};
  const served = {};
  for (const sv of supervisors(scenario)) {
    const port = await freePort();
    sv.start([app(sv, 'web', 'http-server.js', { examples: true, port, instances, env: { PORT: port } })]);
    await allOnline(sv, instances);
    await waitFor(async () => (await get(port)).status === 200, 10000, 'web to answer');
    let f = 0; let n = 0;
    for (let r = 0; r < runs; r++) {
      const load = loadLoop(port);
      await sleep(500);
      // Asynchronously: the load loops run in this process and must not stall while the command runs.
      await new Promise((resolve) => spawn(sv.name === 'pm2' ? pm2Bin : nkBin, [action, 'web'], { env: { ...process.env, ...sv.env }, stdio: 'ignore' }).on('exit', resolve));
      await allOnline(sv, instances);
      await sleep(1000);
      const res = await load.end();
      f += res.failed; n += res.served;
    }
    failed[sv.name] = f / runs;
    served[sv.name] = n / runs;
    sv.stop();
  }
  record(scenario, `failed requests per ${action} under load (${instances} instance${instances > 1 ? 's' : ''})`, failed, 'nk = 0');
  record(scenario, `requests served per run`, served, '');
}
const restartDowntime = () => downtime('restart_downtime', 1, 'restart');
const reloadDowntime = () => downtime('reload_downtime', 2, 'reload');

async function clusterThroughput() {
  const autocannon = path.join(here, '.peers', 'node_modules', '.bin', 'autocannon');
  const seconds = smoke ? 2 : 5;
  const bench = (port, secs) => {
    const r = spawnSync(autocannon, ['-j', '-c', '50', '-d', String(secs), `http://127.0.0.1:${port}/`], { encoding: 'utf8', maxBuffer: 64 << 20 });
    return JSON.parse(r.stdout).requests.average;
  };
  // All three serve at once (idle, they cost nothing) and the runs take turns, so a slow spell of the
  // machine (the load client shares its cores) falls on every contender alike; each gets a warm-up first.
  const targets = [];
  const bare = await freePort();
  const child = spawn(process.execPath, [path.join(repo, 'examples', 'http-server.js')], { env: { ...process.env, PORT: bare, NK_BENCH: work }, stdio: 'ignore' });
  await waitFor(async () => (await get(bare, 200)).status === 200, 10000, 'bare node');
  targets.push({ name: 'node', port: bare, stop: () => child.kill('SIGKILL') });
  for (const sv of supervisors('cluster')) {
    const port = await freePort();
    sv.start([app(sv, 'web', 'http-server.js', { examples: true, port, instances: 2, env: { PORT: port } })]);
    await allOnline(sv, 2);
    await waitFor(async () => (await get(port)).status === 200, 10000, 'web to answer');
    targets.push({ name: sv.name, port, stop: () => sv.stop() });
  }
  const samples = Object.fromEntries(targets.map((t) => [t.name, []]));
  try {
    for (const t of targets) bench(t.port, 1);
    for (let r = 0; r < runs; r++) for (const t of targets) samples[t.name].push(bench(t.port, seconds));
  } finally {
    for (const t of targets) t.stop();
  }
  const rps = Object.fromEntries(targets.map((t) => [t.name, median(samples[t.name])]));
  record('cluster_throughput', `requests/s, 2 instances (node: 1 process), 50 connections, ${seconds} s x ${runs} taking turns`, rps, 'nk >= pm2');
}

// ---------- keep-alive clients (wrk), direct and through nginx ----------
/** A command's path on PATH (and the sbin folders, where Debian puts nginx), or null. */
function which(cmd) {
  for (const dir of [...(process.env.PATH || '').split(':'), '/usr/sbin', '/sbin']) {
    const file = path.join(dir || '.', cmd);
    try { fs.accessSync(file, fs.constants.X_OK); return file; } catch { /* next */ }
  }
  return null;
}
const wrkBin = process.env.WRK_BIN || which('wrk');
const nginxBin = process.env.NGINX_BIN || which('nginx');

/** What this bench started itself (nginx, wrk): pid and start time, so that cleanup never kills a reused pid. nginx
 *  cannot be told by its environment (master and workers write their process titles over it). */
const started = [];
function track(pid) { const s = stat(pid); if (s) started.push({ pid, start: s.start }); }
function killStarted() {
  for (const { pid, start } of started) {
    const s = stat(pid);
    if (pid > 1 && s && s.start === start && s.state !== 'Z') { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  }
}
const closed = (child) => new Promise((resolve) => { if (child.exitCode !== null || child.signalCode !== null) resolve(); else child.on('close', resolve); });

/** Debian's nginx in the foreground with its own prefix under `dir`, serving `site` (what goes inside http {}). */
async function startNginx(dir, site, port) {
  const prefix = path.join(dir, 'nginx');
  fs.mkdirSync(prefix, { recursive: true });
  fs.writeFileSync(path.join(prefix, 'site.conf'), site);
  const errorLog = path.join(prefix, 'error.log');
  const conf = path.join(prefix, 'nginx.conf');
  fs.writeFileSync(conf, [
    'worker_processes 1;', 'daemon off;', `pid ${prefix}/nginx.pid;`, `error_log ${errorLog};`,
    'events { worker_connections 1024; }',
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${prefix}/cb; proxy_temp_path ${prefix}/px; fastcgi_temp_path ${prefix}/fc;`,
    `  uwsgi_temp_path ${prefix}/uw; scgi_temp_path ${prefix}/sc;`,
    `  include ${prefix}/site.conf;`,
    '}', ''].join('\n'));
  const child = spawn(nginxBin, ['-c', conf, '-p', `${prefix}/`, '-e', errorLog], { env: { ...process.env, NK_BENCH: work }, stdio: ['ignore', 'ignore', 'pipe'] });
  track(child.pid);
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`nginx exited ${child.exitCode}: ${err}`);
    return (await get(port)).status === 200;
  }, 10000, 'nginx to answer');
  for (const worker of children(child.pid)) track(worker);
  return {
    errorLog,
    /** error.log from byte `from` on. */
    errors: (from = 0) => { try { return fs.readFileSync(errorLog).subarray(from).toString('utf8'); } catch { return ''; } },
    size: () => { try { return fs.statSync(errorLog).size; } catch { return 0; } },
    stop: async () => {
      const workers = children(child.pid);
      try { child.kill('SIGTERM'); } catch { /* gone */ }
      await Promise.race([closed(child), sleep(5000)]);
      for (const pid of [child.pid, ...workers]) if (alive(pid)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    },
  };
}

/** For PM2, the equivalent of `nk nginx`'s block: the app's port twice (nginx retries only with a second server). */
function pm2NginxSite(appPort, listenPort) {
  return `upstream pm2_web {
    server 127.0.0.1:${appPort} max_fails=0;
    server 127.0.0.1:${appPort} max_fails=0 backup;
    keepalive 32;
    keepalive_timeout 4s;
}

server {
    listen 127.0.0.1:${listenPort};
    location / {
        proxy_pass http://pm2_web;
        proxy_http_version 1.1;
        proxy_set_header Host $host;
        proxy_set_header Connection "";
        proxy_next_upstream error timeout http_502;
    }
}
`;
}

/** wrk's summary: requests, socket errors, non-2xx/3xx responses; failed = socket errors + non-2xx. */
function parseWrk(out) {
  const n = /(\d+) requests in/.exec(out);
  if (!n) throw new Error(`wrk printed no summary:\n${out}`);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const [connect, read, write, timeout] = se ? se.slice(1).map(Number) : [0, 0, 0, 0];
  const non2xx = Number((/Non-2xx or 3xx responses: (\d+)/.exec(out) || [0, 0])[1]);
  return { requests: Number(n[1]), connect, read, write, timeout, non2xx, failed: connect + read + write + timeout + non2xx };
}

/** wrk (1 thread, 16 keep-alive connections) on `url` from 1.5 s before `action` until `loadMs` after its start, and
 *  at least 1 s after the action is over; stopped by SIGINT, on which it prints its summary. */
async function underWrk(url, lua, action, loadMs) {
  const argv = ['-t1', '-c16', '--timeout', '20s', '-d', '300s', ...(lua ? ['-s', lua] : []), url];
  const child = spawn(wrkBin, argv, { env: { ...process.env, NK_BENCH: work }, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child.pid);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const t0 = now();
  try {
    await sleep(1500);
    await action();
    await sleep(Math.max(1000, loadMs - (now() - t0)));
  } finally {
    try { child.kill('SIGINT'); } catch { /* gone */ }
    await Promise.race([closed(child), sleep(5000)]);
    if (alive(child.pid)) { try { child.kill('SIGKILL'); } catch { /* gone */ } }
  }
  return { ...parseWrk(out), ms: Math.round(now() - t0) };
}

/** wrk's requests a second on `url` over `secs` (1 thread, 16 keep-alive connections). */
function wrkRate(url, secs) {
  const r = spawnSync(wrkBin, ['-t1', '-c16', '-d', `${secs}s`, url], { env: { ...process.env, NK_BENCH: work }, encoding: 'utf8' });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout || '');
  if (!m) throw new Error(`wrk printed no rate:\n${r.stdout}${r.stderr}`);
  return Number(m[1]);
}

/** What the preload's HTTP counting costs an app: requests/s of examples/release.js (one instance each) under
 *  NodeKeeper with http_metrics on and off, and bare node; all serve at once and the wrk runs take turns. */
async function httpCounting() {
  if (!wrkBin) throw new Error('http_counting needs wrk: apt-get install -y wrk');
  const seconds = smoke ? 1 : 5;
  const targets = [];
  const bare = await freePort();
  const child = spawn(process.execPath, [path.join(repo, 'examples', 'release.js')], { env: { ...process.env, PORT: bare, NK_BENCH: work }, stdio: 'ignore' });
  track(child.pid);
  await waitFor(async () => (await get(bare, 200)).status === 200, 10000, 'bare node');
  targets.push({ name: 'node', port: bare });
  const sv = new NodeKeeper(path.join(work, 'counting-nodekeeper'));
  fs.mkdirSync(sv.dir, { recursive: true });
  const on = await freePort();
  const off = await freePort();
  sv.start([app(sv, 'on', 'release.js', { examples: true, port: on }), app(sv, 'off', 'release.js', { examples: true, port: off, httpMetrics: false })]);
  await allOnline(sv, 2);
  targets.push({ name: 'nk, counting', port: on }, { name: 'nk, http_metrics = false', port: off });
  const samples = Object.fromEntries(targets.map((t) => [t.name, []]));
  try {
    for (const t of targets) wrkRate(`http://127.0.0.1:${t.port}/`, 1);
    for (let r = 0; r < runs; r++) for (const t of targets) samples[t.name].push(wrkRate(`http://127.0.0.1:${t.port}/`, seconds));
  } finally {
    sv.stop();
    child.kill('SIGKILL');
  }
  const rps = Object.fromEntries(targets.map((t) => [t.name, Math.round(median(samples[t.name]))]));
  const ratio = (rps['nk, counting'] / rps['nk, http_metrics = false']).toFixed(3);
  record('http_counting', `requests/s of one instance counted by the preload, wrk -t1 -c16, ${seconds} s x ${runs} taking turns (counting / not counting = ${ratio})`,
    { node: rps.node, nodekeeper: rps['nk, counting'] }, 'counting ~ not counting', { samples });
  record('http_counting', 'the same with http_metrics = false', { node: rps.node, nodekeeper: rps['nk, http_metrics = false'] }, '');
}

/** What the watchdog of a blocked event loop costs when nothing is wrong: requests/s of examples/release.js (one
 *  instance each) with capture.stall = "500ms" (the default: a watchdog thread, a heartbeat timer) and "0s" (none),
 *  and bare node, the wrk runs taking turns; and the resident memory of each instance. */
async function watchdogCost() {
  if (!wrkBin) throw new Error('watchdog_cost needs wrk: apt-get install -y wrk');
  const seconds = smoke ? 1 : 5;
  const bare = await freePort();
  const child = spawn(process.execPath, [path.join(repo, 'examples', 'release.js')], { env: { ...process.env, PORT: bare, NK_BENCH: work }, stdio: 'ignore' });
  track(child.pid);
  await waitFor(async () => (await get(bare, 200)).status === 200, 10000, 'bare node');
  const sv = new NodeKeeper(path.join(work, 'watchdog-nodekeeper'));
  fs.mkdirSync(sv.dir, { recursive: true });
  const on = await freePort();
  const off = await freePort();
  sv.start([app(sv, 'on', 'release.js', { examples: true, port: on }), app(sv, 'off', 'release.js', { examples: true, port: off, capture: '{ stall = "0s" }' })]);
  await allOnline(sv, 2);
  const targets = [{ name: 'node', port: bare, pid: child.pid }, { name: 'watchdog', port: on }, { name: 'no watchdog', port: off }];
  const samples = Object.fromEntries(targets.map((t) => [t.name, []]));
  const pids = { node: child.pid, watchdog: sv.status().find((i) => i.name === 'on').pid, 'no watchdog': sv.status().find((i) => i.name === 'off').pid };
  const rssNow = () => Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024]));
  let idle;
  let rss;
  try {
    await sleep(2000);
    idle = rssNow();
    for (const t of targets) wrkRate(`http://127.0.0.1:${t.port}/`, 1);
    for (let r = 0; r < runs; r++) for (const t of targets) samples[t.name].push(wrkRate(`http://127.0.0.1:${t.port}/`, seconds));
    rss = rssNow();
  } finally {
    sv.stop();
    child.kill('SIGKILL');
  }
  const rps = Object.fromEntries(targets.map((t) => [t.name, Math.round(median(samples[t.name]))]));
  const ratio = (rps.watchdog / rps['no watchdog']).toFixed(3);
  record('watchdog_cost', `requests/s of one instance with the stall watchdog (capture.stall = "500ms"), wrk -t1 -c16, ${seconds} s x ${runs} taking turns (watchdog / none = ${ratio})`,
    { node: rps.node, nodekeeper: rps.watchdog }, 'watchdog ~ none', { samples });
  record('watchdog_cost', 'the same with capture.stall = "0s" (no watchdog)', { node: rps.node, nodekeeper: rps['no watchdog'] }, '');
  record('watchdog_cost', 'resident memory of the instance started and idle, MiB (node: bare; NodeKeeper: with / without the watchdog)',
    { node: Math.round(idle.node), nodekeeper: `${Math.round(idle.watchdog)} / ${Math.round(idle['no watchdog'])}` }, '');
  record('watchdog_cost', 'the same after the load', { node: Math.round(rss.node), nodekeeper: `${Math.round(rss.watchdog)} / ${Math.round(rss['no watchdog'])}` }, '');
}

/** The daemon's memory while it compares two heap snapshots of about 200 MB (`nk heap`, bench/apps/big-heap.js): its
 *  peak RSS (VmHWM) before and after, the snapshots' size, and the command's time. */
async function heapSnapshotReading() {
  const sv = new NodeKeeper(path.join(work, 'heap-nodekeeper'));
  fs.mkdirSync(sv.dir, { recursive: true });
  sv.start([app(sv, 'big', 'big-heap.js', { env: { BIG_OBJECTS: smoke ? 20000 : 500000 }, capture: '{ heap = "never", stall = "0s" }' })]);
  try {
    await allOnline(sv, 1);
    await waitFor(() => (sv.status()[0] || {}).heap_used_bytes > 0, 60000, 'the big heap reported');
    const peak = () => Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${sv.daemonPids()[0]}/status`, 'utf8'))[1]) / 1024;
    const before = peak();
    const r = run(nkBin, ['heap', 'big', '--gap', '1s'], sv.env);
    if (r.code !== 0) throw new Error(`nk heap failed: ${r.err}`);
    const after = peak();
    const folder = path.join(sv.home, 'captures', 'big');
    const sizes = fs.readdirSync(folder).filter((f) => f.endsWith('.heapsnapshot')).map((f) => fs.statSync(path.join(folder, f)).size / 1048576);
    record('heap_snapshot_reading', `daemon peak RSS (MiB) before / after comparing two heap snapshots of ${sizes.map((m) => m.toFixed(0)).join(' and ')} MB (nk heap --gap 1s, ${(r.ms / 1000).toFixed(1)} s)`,
      { nodekeeper: `${before.toFixed(0)} / ${after.toFixed(0)}` }, 'bounded', { sizes, ms: r.ms, out: r.out });
  } finally {
    sv.stop();
  }
}

/** A bad deploy: 2 instances of examples/release.js under fresh-connection load are reloaded to a version that answers
 *  500 to one request in five. NodeKeeper: `nk reload web --canary 30s`; PM2: `pm2 reload FILE --update-env`
 *  (cluster mode). Failed requests (non-2xx and errors) from the command until 15 s after it began. */
async function badDeploy() {
  const windowMs = smoke ? 5000 : 15000;
  const failed = {};
  const served = {};
  const detail = {};
  for (const sv of supervisors('bad_deploy')) {
    const port = await freePort();
    const version = (env) => [app(sv, 'web', 'release.js', { examples: true, port, instances: 2, env: { PORT: port, ...env } })];
    sv.start(version({ RELEASE: '1' }));
    await allOnline(sv, 2);
    await waitFor(async () => (await get(port)).status === 200, 10000, 'web to answer');
    const f = []; const n = [];
    for (let r = 0; r < runs; r++) {
      const load = loadLoop(port);
      await sleep(500);
      const file = sv.write(version({ RELEASE: '2', FAIL_EVERY: '5' }));
      const t0 = now();
      const argv = sv.name === 'pm2' ? [pm2Bin, ['reload', file, '--update-env']] : [nkBin, ['reload', 'web', '--canary', '30s']];
      const code = await new Promise((resolve) => spawn(argv[0], argv[1], { env: { ...process.env, ...sv.env }, stdio: 'ignore' }).on('exit', resolve));
      await sleep(Math.max(0, windowMs - (now() - t0)));
      const res = await load.end();
      f.push(res.failed); n.push(res.served);
      (detail[sv.name] ||= []).push({ exit: code, failed: res.failed, served: res.served, errors: res.errors });
      // Back to the good version for the next run (NodeKeeper kept it: its canary was retired).
      const back = sv.write(version({ RELEASE: '1' }));
      if (sv.name === 'pm2') run(pm2Bin, ['reload', back, '--update-env'], sv.env);
      await allOnline(sv, 2);
    }
    failed[sv.name] = median(f);
    served[sv.name] = median(n);
    sv.stop();
  }
  record('bad_deploy', `failed requests in the ${windowMs / 1000} s after reloading 2 instances to a version failing 1 request in 5 (fresh-connection load; nk: --canary 30s)`,
    failed, 'nk << pm2', detail);
  record('bad_deploy', 'requests served in that window', served, '');
}

/** The messages of nginx error.log lines, without time, pids and connection numbers: "message" -> count. */
function nginxErrors(text) {
  const counts = {};
  for (const line of text.split('\n').filter(Boolean)) {
    const m = /\[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*?)(?:, client: .*)?$/.exec(line);
    const key = m ? `[${m[1]}] ${m[2]}` : line;
    counts[key] = (counts[key] || 0) + 1;
  }
  return counts;
}

/** Keep-alive clients during `reload` (2 instances) and `restart` (1): wrk with 16 connections, GET and POST straight to
 *  the app's port and POST through nginx (NodeKeeper: the block `nk nginx` prints; PM2: the same upstream by hand),
 *  for an app that closes gracefully on SIGTERM and one with no handler. Both supervisors serve at once and take
 *  turns, each measurement a fresh wrk. PM2 sends SIGTERM here (PM2_KILL_SIGNAL; its default is SIGINT, which the
 *  graceful app does not handle), so the graceful app gets to run its handler under both. */
async function keepaliveDowntime() {
  if (!wrkBin || !nginxBin) throw new Error('keepalive_downtime needs wrk and nginx: apt-get install -y wrk nginx-light');
  const loadMs = smoke ? 3000 : 8000;
  const lua = path.join(work, 'post.lua');
  fs.writeFileSync(lua, 'wrk.method = "POST"\nwrk.body = \'{"order": 42}\'\nwrk.headers["Content-Type"] = "application/json"\n');
  const targets = [
    { label: 'GET direct', nginx: false, lua: null },
    { label: 'POST direct', nginx: false, lua },
    { label: 'POST via nginx', nginx: true, lua },
  ];
  const apps = [['keepalive-graceful.js', 'graceful app'], ['no-handler.js', 'no-handler app']];
  for (const [action, instances] of [['reload', 2], ['restart', 1]]) {
    for (const [script, appLabel] of apps) {
      const setups = [];
      try {
        for (const sv of supervisors(`keepalive-${action}-${path.basename(script, '.js')}`)) {
          if (sv.name === 'pm2') sv.env.PM2_KILL_SIGNAL = 'SIGTERM';
          const port = await freePort();
          // NodeKeeper: shared port (the daemon holds it); PM2: cluster mode for reload, fork mode for restart.
          sv.start([app(sv, 'web', 'loopback.js', { port, instances, execMode: instances > 1 ? 'cluster' : 'fork',
            env: { PORT: port, BENCH_APP: path.join(repo, 'examples', script) } })]);
          await allOnline(sv, instances);
          await waitFor(async () => (await get(port)).status === 200, 10000, 'web to answer');
          const ngxPort = await freePort();
          let site;
          if (sv.name === 'pm2') site = pm2NginxSite(port, ngxPort);
          else {
            const r = run(nkBin, ['nginx', 'web', '--listen', `127.0.0.1:${ngxPort}`], sv.env);
            if (r.code !== 0) throw new Error(`nk nginx failed: ${r.err}`);
            site = r.out;
          }
          setups.push({ sv, port, ngxPort, nginx: await startNginx(sv.dir, site, ngxPort), samples: {} });
        }
        for (let r = 0; r < runs; r++) {
          for (const t of targets) {
            for (const s of (r % 2 ? [...setups].reverse() : setups)) {
              const from = s.nginx.size();
              const res = await underWrk(`http://127.0.0.1:${t.nginx ? s.ngxPort : s.port}/`, t.lua, async () => {
                // Asynchronously, as in downtime(): nothing here may stall while the command runs.
                const code = await new Promise((resolve) => spawn(s.sv.name === 'pm2' ? pm2Bin : nkBin, [action, 'web'], { env: { ...process.env, ...s.sv.env }, stdio: 'ignore' }).on('exit', resolve));
                if (code !== 0) log(`${s.sv.name} ${action} web exited ${code}`);
                await allOnline(s.sv, instances);
                await waitFor(async () => (await get(s.port)).status === 200 && (await get(s.ngxPort)).status === 200, 20000, 'web to answer again');
              }, loadMs);
              const errors = nginxErrors(s.nginx.errors(from));
              if (Object.keys(errors).length) res.nginxErrors = errors;
              (s.samples[t.label] ||= []).push(res);
              log(`${action} ${instances} inst, ${t.label}, ${appLabel}, ${s.sv.name}: ${JSON.stringify(res)}`);
            }
          }
        }
      } finally {
        for (const s of setups) await s.nginx.stop();
        for (const s of setups) s.sv.stop();
      }
      for (const t of targets) {
        const values = Object.fromEntries(setups.map((s) => [s.sv.name, median(s.samples[t.label].map((x) => x.failed))]));
        const detail = Object.fromEntries(setups.map((s) => [s.sv.name, s.samples[t.label]]));
        record('keepalive_downtime', `failed requests, ${action} (${instances} inst), ${t.label}, ${appLabel}`, values, 'nk = 0', detail);
      }
    }
  }
}

// ---------- supervisor upgrade: nk update vs pm2 update ----------
/** Every app's pids (sorted, one per instance) by name, from `nk status --json` or `pm2 jlist`. */
function pidsByApp(sv) {
  const by = {};
  for (const i of sv.status()) (by[i.name] ||= []).push(i.pid ?? null);
  for (const k of Object.keys(by)) by[k].sort((a, b) => a - b);
  return by;
}
/** A command run asynchronously (the load loops live in this process and must not stall): wall time, exit code, output.
 *  Killed by its pid after `timeoutMs`. */
function runAsync(bin, argv, env, timeoutMs = 120000) {
  return new Promise((resolve) => {
    const t0 = now();
    const child = spawn(bin, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = ''; let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => { if (child.pid > 1) { try { child.kill('SIGKILL'); } catch { /* gone */ } } }, timeoutMs);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ ms: now() - t0, code: code ?? signal, out, err }); });
  });
}

/** Fresh-connection load (loadLoop, 4 loops on /health) and, when wrk is there, keep-alive load (wrk -t1 -c16 on /) on
 *  `port` from 1.5 s before `action` until it is over plus at least 1 s; failed = errors + non-2xx of both. */
async function underBothLoads(port, action) {
  const fresh = loadLoop(port);
  let keepalive = null;
  try {
    if (wrkBin) keepalive = await underWrk(`http://127.0.0.1:${port}/`, null, action, 0);
    else { await sleep(1500); await action(); await sleep(1000); }
  } finally {
    await fresh.end();
  }
  const f = { served: fresh.served, failed: fresh.failed, ...(fresh.failed ? { errors: fresh.errors } : {}) };
  return { fresh: f, keepalive, failed: f.failed + (keepalive ? keepalive.failed : 0) };
}

/** 10 apps under one supervisor: `web` (examples/http-server.js, 2 instances on one port: NodeKeeper's shared port,
 *  PM2's cluster mode) under load, and 9 more of the same server with 1 instance each on their own ports (PM2: fork
 *  mode). Each run upgrades the supervisor in place: `nk update` (the daemon execs the nk-full it runs from: a real
 *  image replacement, the apps adopted) vs `pm2 update` (dump, kill the daemon and its apps, start a daemon, resurrect),
 *  with load on `web` from 1.5 s before the command until 3 s after it returned (and every app was online again).
 *  Figures: failed requests, apps with a pid that changed, the command's wall time and exit code. Both supervisors
 *  serve at once and take turns, so a slow spell of the shared cores falls on both alike. */
async function supervisorUpgrade() {
  const others = smoke ? 2 : 9;
  const instances = others + 2;
  const setups = [];
  try {
    for (const sv of supervisors('upgrade')) {
      const port = await freePort();
      const apps = [app(sv, 'web', 'http-server.js', { examples: true, port, instances: 2, portMode: 'shared', execMode: 'cluster', env: { PORT: port } })];
      const ports = [port];
      for (let i = 0; i < others; i++) {
        const p = await freePort();
        ports.push(p);
        apps.push(app(sv, `app${i + 1}`, 'http-server.js', { examples: true, port: p, env: { PORT: p } }));
      }
      sv.start(apps);
      await allOnline(sv, instances);
      for (const p of ports) await waitFor(async () => (await get(p)).status === 200, 10000, `port ${p} to answer`);
      setups.push({ sv, port, ports, samples: [] });
    }
    for (let r = 0; r < runs; r++) {
      for (const s of (r % 2 ? [...setups].reverse() : setups)) {
        const { sv } = s;
        const isPm2 = sv.name === 'pm2';
        const before = pidsByApp(sv);
        const daemonBefore = sv.daemonPids()[0] ?? null;
        const logFile = isPm2 ? path.join(sv.home, 'pm2.log') : path.join(sv.home, 'daemon.log');
        const logFrom = (() => { try { return fs.statSync(logFile).size; } catch { return 0; } })();
        let cmd = null;
        let onlineMs = null;
        const load = await underBothLoads(s.port, async () => {
          cmd = await runAsync(isPm2 ? pm2Bin : nkBin, ['update'], sv.env);
          if (cmd.code !== 0) log(`${sv.name} update exited ${cmd.code}: ${cmd.err.trim() || cmd.out.trim()}`);
          const t0 = now();
          await allOnline(sv, instances);
          onlineMs = Math.round(now() - t0);
          await sleep(3000);
        });
        const after = pidsByApp(sv);
        const changed = Object.keys(before).filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
        const answering = (await Promise.all(s.ports.map((p) => get(p, 2000)))).filter((x) => x.status === 200).length;
        const daemonAfter = sv.daemonPids()[0] ?? null;
        const sample = {
          failed: load.failed, fresh: load.fresh, keepalive: load.keepalive,
          restartedApps: changed.length, restarted: changed, updateMs: Math.round(cmd.ms), exitCode: cmd.code,
          appsAnswering: answering, allOnlineAfterMs: onlineMs, daemonPid: [daemonBefore, daemonAfter],
          // The command's messages, without colours and without PM2's process table.
          output: (cmd.out + cmd.err).replace(/\x1b\[[0-9;]*m/g, '').split('\n').filter((l) => l.trim() && !/^[│┌├└]/.test(l)).slice(-6),
        };
        // What the daemon said during the update (the home goes at the end); under NodeKeeper nothing should fail.
        if (!isPm2) {
          try { sample.daemonLog = fs.readFileSync(logFile).subarray(logFrom).toString('utf8').split('\n').filter(Boolean).slice(-40); } catch { /* none */ }
          if (cmd.code !== 0 || load.failed || changed.length) log(`nodekeeper update: failures; daemon.log:\n${(sample.daemonLog || []).join('\n')}`);
        }
        s.samples.push(sample);
        log(`supervisor upgrade run ${r + 1}, ${sv.name}: ${JSON.stringify({ ...sample, output: undefined, daemonLog: undefined })}`);
        await sleep(1000);
      }
    }
  } finally {
    for (const s of setups) s.sv.stop();
  }
  const per = (f) => Object.fromEntries(setups.map((s) => [s.sv.name, median(s.samples.map(f))]));
  const detail = Object.fromEntries(setups.map((s) => [s.sv.name, s.samples]));
  const n = others + 1;
  const loadLabel = wrkBin ? 'fresh connections and wrk -c16 keep-alive' : 'fresh connections';
  record('supervisor_upgrade', `failed requests per update, ${n} apps, load on one (${loadLabel})`, per((x) => x.failed), 'nk = 0', detail);
  record('supervisor_upgrade', 'failed requests per update, fresh connections alone', per((x) => x.fresh.failed), '');
  if (wrkBin) record('supervisor_upgrade', 'failed requests per update, keep-alive alone (wrk: socket errors + non-2xx)', per((x) => x.keepalive.failed), '');
  record('supervisor_upgrade', `restarted apps per update (pid changed, of ${n})`, per((x) => x.restartedApps), 'nk = 0');
  record('supervisor_upgrade', 'update command wall time (ms)', per((x) => x.updateMs), '');
  record('supervisor_upgrade', 'update exit codes', Object.fromEntries(setups.map((s) => [s.sv.name, s.samples.map((x) => x.exitCode).join('/')])), 'nk: 0');
  record('supervisor_upgrade', 'requests served per update (fresh + keep-alive)', per((x) => x.fresh.served + (x.keepalive ? x.keepalive.requests - x.keepalive.non2xx : 0)), '');
}

// ---------- report ----------
function fmt(v) { return typeof v === 'number' ? (Number.isFinite(v) ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1)) : String(v)) : (v ?? '-'); }
function ratio(r) {
  const nk = r.nodekeeper;
  const ref = r.pm2;
  return typeof nk === 'number' && typeof ref === 'number' && ref !== 0 && Number.isFinite(nk) && Number.isFinite(ref) ? nk / ref : null;
}
/** Only a full run (every scenario, both supervisors) writes latest.md, latest.json and ratios.svg; a run of some
 *  scenarios writes NAME.md and NAME.json after them (--scenarios keepalive_downtime: keepalive_downtime.md), --smoke
 *  writes smoke.md and smoke.json. */
const reportName = smoke ? 'smoke' : (wanted || only) ? [...(wanted || ['all']), ...(only ? [`only-${only.join('+')}`] : [])].join('+') : 'latest';
function writeReport() {
  fs.mkdirSync(outDir, { recursive: true });
  const cols = ['node, to a file', 'node, piped to cat', 'node', 'python3', 'nodekeeper', 'pm2'];
  const used = cols.filter((c) => results.some((r) => r[c] !== undefined));
  const head = `| scenario | metric | ${used.join(' | ')} | nk / pm2 | target |\n|${'---|'.repeat(used.length + 4)}\n`;
  const rows = results.map((r) => `| ${r.scenario} | ${r.metric} | ${used.map((c) => fmt(r[c])).join(' | ')} | ${ratio(r) === null ? '-' : ratio(r).toFixed(3)} | ${r.target || ''} |`).join('\n');
  const meta = `Run ${new Date().toISOString()} on ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, ` +
    `pm2 ${pm2Version()}, ${runs} run(s) per figure (medians).\n\n`;
  fs.writeFileSync(path.join(outDir, `${reportName}.md`), `# NodeKeeper vs PM2\n\n${meta}${head}${rows}\n`);
  fs.writeFileSync(path.join(outDir, `${reportName}.json`), JSON.stringify(results, null, 2));
  if (reportName === 'latest') fs.writeFileSync(path.join(outDir, 'ratios.svg'), svg(results.filter((r) => ratio(r) !== null)));
  log(`wrote ${path.join(outDir, reportName)}.md and .json`);
}
/** PM2's version from its package (running `pm2 --version` would start a PM2 daemon). */
function pm2Version() {
  try { return JSON.parse(fs.readFileSync(path.join(here, '.peers', 'node_modules', 'pm2', 'package.json'), 'utf8')).version; } catch { return '-'; }
}
function svg(rows) {
  const w = 760; const rowH = 26; const left = 330; const h = 60 + rows.length * rowH;
  const max = Math.max(1.2, ...rows.map(ratio));
  const scale = (v) => Math.log10(v * 100 + 1) / Math.log10(max * 100 + 1) * (w - left - 60);
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const bars = rows.map((r, i) => {
    const v = ratio(r); const y = 40 + i * rowH;
    return `<text x="${left - 8}" y="${y + 15}" text-anchor="end" font-size="12">${esc(r.scenario)}: ${esc(r.metric.slice(0, 38))}</text>` +
      `<rect x="${left}" y="${y + 3}" width="${Math.max(1, scale(v)).toFixed(1)}" height="16" fill="${v <= 1 ? '#2a9d8f' : '#e76f51'}"/>` +
      `<text x="${left + scale(v) + 6}" y="${y + 15}" font-size="12">${v.toFixed(3)}</text>`;
  }).join('\n');
  const one = left + scale(1);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif">\n` +
    `<text x="10" y="22" font-size="15" font-weight="bold">NodeKeeper / PM2, same machine, same run (lower is better; log scale)</text>\n` +
    `<line x1="${one}" y1="34" x2="${one}" y2="${h - 10}" stroke="#555" stroke-dasharray="4 3"/><text x="${one + 3}" y="${h - 12}" font-size="11">= PM2</text>\n${bars}\n</svg>\n`;
}

async function main() {
  const all = {
    cli_latency: cliLatencyAndFootprint, restart_latency: restartLatency, other_programs: otherPrograms, log_throughput: logThroughput, crash_loop: crashLoop,
    memory_limit: memoryLimit, restart_downtime: restartDowntime, reload_downtime: reloadDowntime, cluster_throughput: clusterThroughput,
    keepalive_downtime: keepaliveDowntime, supervisor_upgrade: supervisorUpgrade, http_counting: httpCounting, bad_deploy: badDeploy,
    watchdog_cost: watchdogCost, heap_snapshot_reading: heapSnapshotReading,
    scale: require('./scale')({ smoke, repo, work, now, sleep, get, freePort, run, median, stat, alive, log, record, track, NodeKeeper, Pm2, nkBin, pm2Bin, only, TICKS, runAsync }),
  };
  // keepalive_downtime needs wrk and nginx: without them a full run leaves it out (saying so), a run that names it fails.
  const optional = (name) => (name === 'keepalive_downtime' && (smoke || !wrkBin || !nginxBin)) || (name === 'http_counting' && !wrkBin)
    || (name === 'watchdog_cost' && !wrkBin);
  if (!fs.existsSync(nkBin)) throw new Error(`no nk at ${nkBin}: run bench/run.sh (it publishes nk into bench/.nk)`);
  if (!smoke && !fs.existsSync(pm2Bin)) throw new Error(`no pm2 at ${pm2Bin}: run bench/run.sh (it installs PM2 into bench/.peers)`);
  // Interrupted (Ctrl-C, a closed pipe): still end every process this run started.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGPIPE']) process.on(sig, () => { cleanup(); process.exit(1); });
  try {
    for (const [name, fn] of Object.entries(all)) {
      if (wanted && !wanted.includes(name)) continue;
      if (!wanted && optional(name)) { log(`scenario ${name} left out: ${smoke ? '--smoke' : 'needs wrk and nginx (apt-get install -y wrk nginx-light)'}`); continue; }
      log(`scenario ${name}`);
      await fn();
    }
    writeReport();
  } finally {
    cleanup();
  }
}

/** Whatever is left (a failed or interrupted scenario) goes, by pid, checked by its environment. */
function cleanup() {
  killStarted();
  if (!fs.existsSync(work)) return;
  killOwned([`NK_BENCH=${work}`, ...fs.readdirSync(work).flatMap((d) => [`NODEKEEPER_HOME=${path.join(work, d, 'nk-home')}`, `PM2_HOME=${path.join(work, d, 'pm2-home')}`])]);
  fs.rmSync(work, { recursive: true, force: true });
}

main().catch((e) => { console.error(`[bench] failed: ${e.stack || e}`); process.exit(1); });
