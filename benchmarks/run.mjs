#!/usr/bin/env node
/**
 * Side-by-side benchmark: a backend reached directly, through HAProxy
 * (mode tcp, one thread) and through Baton, with equivalent configs, all on
 * 127.0.0.1. Prints one table with Baton/HAProxy and Baton/direct ratios and
 * writes benchmarks/results/latest.json.
 *
 *   node benchmarks/run.mjs [--quick] [--only bulk1,bulk8,rr,conn,sysbench,idle] [--profile] [--baseline] [--limits] [--no-multi]
 *
 * Pinning: load generators and backends on
 * CPU 0, the proxy on CPU 1, so a proxy's figure is bounded by its own CPU
 * and not by what it shares a core with. Paths are interleaved within each
 * round (and their order rotated) so drift over the run hits all of them alike;
 * each figure is the median of the rounds. HAProxy runs twice: as configured
 * for the targets (no splice) and with `option splice-auto`, for honesty.
 *
 * A second, unpinned phase (report only; --no-multi skips it) runs Baton
 * `workers: 2` against HAProxy `nbthread 2` with the load free to use both
 * CPUs as well.
 *
 * Every process started here is stopped by its PID on the way out, also on
 * failure and on Ctrl-C; the temp directory is removed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const CLI = path.join(ROOT, 'packages/baton/dist/src/cli.js');
const BACKEND = path.join(HERE, 'lib/http-backend.mjs');
const NODE_RELAY = path.join(HERE, 'lib/node-relay.mjs');
const RESULTS = path.join(HERE, 'results');

const LOAD_CPU = '0';
const PROXY_CPU = '1';
/** The unpinned phase lets every process use every CPU. */
const ALL_CPUS = `0-${os.cpus().length - 1}`;
/** Where load tools run in the phase under way. */
let loadCpu = LOAD_CPU;
/** Hard ceiling on the whole run; a stuck tool must not hold the machine. */
const RUN_DEADLINE_MS = 25 * 60_000;

const SCENARIOS = ['bulk1', 'bulk8', 'rr', 'conn', 'sysbench', 'idle'];
/** Idle client connections each proxy holds per round (each round adds this many more). */
const IDLE_CONNS = 2000;
/** sysbench oltp_point_select: client threads, and the table's size (fits the buffer pool). */
const SB_THREADS = 16;
const SB_TABLE_SIZE = 100_000;

// ---------------------------------------------------------------- options

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
    baseline: { type: 'boolean', default: false },
    limits: { type: 'boolean', default: false },
    'no-multi': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stdout.write(
    'usage: node benchmarks/run.mjs [--quick] [--only bulk1,bulk8,rr,conn,sysbench,idle] [--profile] [--baseline] [--limits] [--no-multi]\n' +
      '  --quick    1 round per scenario, 2 s per measurement\n' +
      '  --only     run only these scenarios (comma-separated)\n' +
      '  --profile  run Baton under --cpu-prof; the profile and its top frames go to benchmarks/results/\n' +
      '  --baseline also measure a plain Node relay (createServer + connect + pipe) on the proxy CPU\n' +
      '  --limits   also measure a second Baton whose servers and services have connection limits set but never reached\n' +
      '  --no-multi skip the unpinned phase (Baton workers: 2 against HAProxy nbthread 2)\n',
  );
  process.exit(0);
}
const selected = flags.only ? flags.only.split(',').map((s) => s.trim()).filter(Boolean) : SCENARIOS;
for (const s of selected) {
  if (!SCENARIOS.includes(s)) {
    process.stderr.write(`unknown scenario "${s}"; known: ${SCENARIOS.join(', ')}\n`);
    process.exit(2);
  }
}
const ROUNDS = flags.quick ? 1 : 3;
const SECONDS = flags.quick ? 2 : 5;
/** Bulk runs drop their first second (slow start, first allocations) unless quick. */
const OMIT = flags.quick ? 0 : 1;

// ---------------------------------------------------------------- processes

/** Every child started here, by PID, until it has exited. */
const children = new Map();
let tmpDir;
let cleaning;

function log(msg) {
  process.stderr.write(`[bench] ${msg}\n`);
}

/**
 * Starts `cmd args` pinned to `cpu` (taskset execs, so the PID is the
 * command's own). Keeps the last lines of its output for error messages.
 */
function startPinned(name, cpu, cmd, args, { onLine } = {}) {
  const child = spawn('taskset', ['-c', cpu, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const entry = { name, child, tail: [], exited: false, code: null, signal: null, stdout: '' };
  children.set(child.pid, entry);
  const keep = (line) => {
    entry.tail.push(line);
    if (entry.tail.length > 40) entry.tail.shift();
    onLine?.(line);
  };
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (d) => {
      if (stream === child.stdout) entry.stdout += d;
      const lines = (partial + d).split('\n');
      partial = lines.pop();
      for (const l of lines) keep(l);
    });
  }
  entry.done = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      entry.exited = true;
      entry.code = code;
      entry.signal = signal;
      children.delete(child.pid);
      resolve(entry);
    });
    child.on('error', (err) => {
      entry.exited = true;
      entry.tail.push(`spawn error: ${err.message}`);
      children.delete(child.pid);
      resolve(entry);
    });
  });
  return entry;
}

async function stopChild(entry, graceMs = 3000) {
  if (entry.exited) return;
  try {
    process.kill(entry.child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    if (!entry.exited) {
      try {
        process.kill(entry.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }, graceMs);
  await entry.done;
  clearTimeout(timer);
}

function cleanup() {
  cleaning ??= (async () => {
    await Promise.all([...children.values()].map((e) => stopChild(e)));
    if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
  })();
  return cleaning;
}

// Last resort when the process exits without the async cleanup finishing.
process.on('exit', () => {
  for (const pid of children.keys()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    log(`${sig}: stopping everything`);
    cleanup().finally(() => process.exit(130));
  });
}

/** Runs a load tool on the load CPU to completion, or kills it at `timeoutMs`. */
async function runTool(cmd, args, timeoutMs, cpu = loadCpu) {
  const entry = startPinned(cmd, cpu, cmd, args);
  const timer = setTimeout(() => {
    log(`${cmd} took longer than ${timeoutMs} ms, killing it`);
    stopChild(entry, 1000);
  }, timeoutMs);
  await entry.done;
  clearTimeout(timer);
  return entry;
}

// ---------------------------------------------------------------- setup helpers

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Installs haproxy, wrk and iperf3 from Debian when one is missing (idempotent). */
function ensureTools() {
  const missing = ['haproxy', 'wrk', 'iperf3', 'sysbench'].filter((c) => !have(c));
  if (!have('taskset')) throw new Error('taskset (util-linux) is missing');
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`missing ${missing.join(', ')}; run as root or: apt-get install -y haproxy wrk iperf3`);
  log(`installing ${missing.join(', ')} from Debian`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'haproxy', 'wrk', 'iperf3', 'sysbench'], { stdio: 'inherit', env }).status === 0;
  // A fresh machine may have no package lists yet: update once and retry.
  if (!install()) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
    if (!install()) throw new Error('apt-get install haproxy wrk iperf3 sysbench failed');
  }
}

/** Ports handed out by this run: the kernel may offer a port again once it was closed, and two listeners cannot share one. */
const handedOut = new Set();

function bindZero() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function freePort() {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await bindZero();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freePort: no free port found after 50 attempts');
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves once `port` accepts a TCP connection; throws after `timeoutMs` or when `entry` dies. */
async function waitForPort(port, entry, timeoutMs = 10_000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (entry.exited) throw new Error(`${entry.name} exited before listening:\n${entry.tail.join('\n')}`);
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${entry.name} did not listen on ${port} within ${timeoutMs} ms:\n${entry.tail.join('\n')}`);
}

function waitForLine(entry, re, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const found = () => entry.tail.some((l) => re.test(l));
    if (found()) return resolve();
    const t0 = Date.now();
    const iv = setInterval(() => {
      if (found()) {
        clearInterval(iv);
        resolve();
      } else if (entry.exited || Date.now() - t0 > timeoutMs) {
        clearInterval(iv);
        reject(new Error(`${entry.name} did not print ${re} (${entry.exited ? `exited ${entry.code ?? entry.signal}` : 'timeout'}):\n${entry.tail.join('\n')}`));
      }
    }, 25);
  });
}

// ---------------------------------------------------------------- CPU accounting

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** utime+stime in seconds of `pid` and all its descendants (Baton may run worker processes). */
function treeCpuSeconds(rootPid) {
  const stats = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      // Fields after the parenthesised command name, which may hold spaces.
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(d), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // exited while listing
    }
  }
  let ticks = 0;
  for (const [pid, st] of stats) {
    let p = pid;
    for (let depth = 0; depth < 8 && p > 1; depth++) {
      if (p === rootPid) {
        ticks += st.ticks;
        break;
      }
      p = stats.get(p)?.ppid ?? 0;
    }
  }
  return ticks / CLK_TCK;
}

/**
 * CPU seconds used by processes that are not part of this run (other jobs on
 * a shared machine), and steal time, both from /proc/stat. Ours is this
 * process with its reaped children plus every live descendant. softirq time
 * is left out on both sides: loopback traffic lands there whoever sent it.
 */
function machineCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , , , steal] = f;
  const self = readFileSync('/proc/self/stat', 'utf8');
  const sf = self.slice(self.lastIndexOf(')') + 2).split(' ').map(Number);
  // utime, stime, cutime, cstime of this process; descendants still alive are added below.
  const ownReaped = (sf[11] + sf[12] + sf[13] + sf[14]) / CLK_TCK;
  const ownLive = treeCpuSeconds(process.pid) - (sf[11] + sf[12]) / CLK_TCK;
  return { busy: (user + nice + system) / CLK_TCK, steal: steal / CLK_TCK, own: ownReaped + ownLive };
}

// ---------------------------------------------------------------- parsers

function parseWrk(out) {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p99 = /^\s*99%\s+([\d.]+)(us|ms|s)\s*$/m.exec(out);
  const total = /(\d+) requests in/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (!rps) throw new Error(`cannot read wrk output:\n${out}`);
  const unit = { us: 1e-3, ms: 1, s: 1000 };
  return {
    rps: Number(rps[1]),
    p99Ms: p99 ? Number(p99[1]) * unit[p99[2]] : null,
    requests: total ? Number(total[1]) : null,
    errors: sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
  };
}

function parseIperf(out) {
  let j;
  try {
    j = JSON.parse(out);
  } catch {
    throw new Error(`cannot read iperf3 output:\n${out.slice(0, 2000)}`);
  }
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  const bps = j.end?.sum_received?.bits_per_second;
  if (typeof bps !== 'number') throw new Error('iperf3 output has no end.sum_received');
  return { gbps: bps / 1e9, bytes: j.end.sum_received.bytes };
}

// ---------------------------------------------------------------- scenarios

/**
 * Each scenario names its backend and how to measure one path. `measure`
 * returns { metrics: {key: value}, units } where units is what the proxy's
 * CPU time is divided by (bytes, requests, connections).
 */
const SCENARIO_DEFS = {
  bulk1: { backend: 'iperf', title: 'bulk, 1 stream', measure: (port) => bulk(port, 1) },
  bulk8: { backend: 'iperf', title: 'bulk, 8 streams', measure: (port) => bulk(port, 8) },
  rr: { backend: 'http', title: 'keep-alive requests', measure: (port) => wrk(port, false) },
  conn: { backend: 'close', title: 'new connections', measure: (port) => wrk(port, true) },
  sysbench: { backend: 'mysql', title: 'sysbench oltp_point_select', measure: (port) => pointSelect(port) },
  // RSS needs a process: the direct path has none and is left out.
  idle: { backend: 'http', title: 'idle connections', proxyOnly: true, measure: (port, p) => idleConnections(port, p) },
};

const SB_USER = { user: 'sbtest', password: 'sbtest-pw' };

function sysbenchArgs(port, extra) {
  return [
    'oltp_point_select',
    '--db-driver=mysql',
    '--mysql-host=127.0.0.1',
    `--mysql-port=${port}`,
    `--mysql-user=${SB_USER.user}`,
    `--mysql-password=${SB_USER.password}`,
    '--mysql-db=sbtest',
    '--tables=1',
    `--table-size=${SB_TABLE_SIZE}`,
    ...extra,
  ];
}

function parseSysbench(out) {
  const tps = /transactions:\s+(\d+)\s+\(([\d.]+) per sec/.exec(out);
  const queries = /queries:\s+(\d+)\s+\(([\d.]+) per sec/.exec(out);
  const errors = /ignored errors:\s+(\d+)/.exec(out);
  const p95 = /95th percentile:\s+([\d.]+)/.exec(out);
  if (!tps || !queries) throw new Error(`cannot read sysbench output:\n${out.slice(-2000)}`);
  return { tps: Number(tps[2]), queries: Number(queries[1]), errors: errors ? Number(errors[1]) : 0, p95Ms: p95 ? Number(p95[1]) : null };
}

/** sysbench oltp_point_select, SB_THREADS threads for SECONDS, through `port` to the private MariaDB. */
async function pointSelect(port) {
  const e = await runTool('sysbench', sysbenchArgs(port, [`--threads=${SB_THREADS}`, `--time=${SECONDS}`, '--report-interval=0', 'run']), (SECONDS + 30) * 1000);
  if (e.code !== 0) throw new Error(`sysbench through port ${port} exited ${e.code ?? e.signal}:\n${e.tail.join('\n')}`);
  const r = parseSysbench(e.stdout);
  if (r.errors > 0) log(`warning: sysbench on port ${port}: ${r.errors} ignored errors`);
  // One point select per transaction: CPU per query = CPU per transaction.
  return { metrics: { tps: r.tps, p95Ms: r.p95Ms }, units: r.queries, seconds: SECONDS, errors: r.errors };
}

/** Resident set of `rootPid` and its descendants, in bytes (Baton's workers included). */
function treeRssBytes(rootPid) {
  let total = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      let p = Number(d);
      for (let depth = 0; depth < 8 && p > 1; depth++) {
        if (p === rootPid) {
          total += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${d}/status`, 'utf8'))?.[1] ?? 0) * 1024;
          break;
        }
        const st = readFileSync(`/proc/${p}/stat`, 'utf8');
        p = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      }
    } catch {
      // exited while listing
    }
  }
  return total;
}

/** Open idle connections per path, kept across rounds so each round measures IDLE_CONNS more. */
const idleHeld = new Map();

/**
 * Memory per idle client connection, with its server socket: opens
 * IDLE_CONNS more connections through the proxy, each does one request and
 * its response (so both sides are connected and have carried bytes, as a
 * pooled MySQL connection has), then sits idle. (RSS after − RSS before) /
 * IDLE_CONNS, one second after the last answer. Connections stay open into
 * the next round: every round adds new ones above the previous high-water
 * mark, so freed memory that a process keeps for reuse does not hide the
 * cost.
 */
async function idleConnections(port, p) {
  const held = idleHeld.get(p.id) ?? [];
  idleHeld.set(p.id, held);
  await sleep(500);
  const before = treeRssBytes(p.pid);
  const request = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\n\r\n');
  const openOne = () =>
    new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port });
      const timer = setTimeout(() => reject(new Error(`idle connection through ${port}: no answer in 10 s`)), 10_000);
      s.once('error', reject);
      s.once('connect', () => s.write(request));
      s.once('data', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        s.on('error', () => {});
        resolve(s);
      });
    });
  for (let i = 0; i < IDLE_CONNS; i += 200) {
    held.push(...(await Promise.all(Array.from({ length: Math.min(200, IDLE_CONNS - i) }, openOne))));
  }
  await sleep(1000);
  const after = treeRssBytes(p.pid);
  return { metrics: { idleKb: (after - before) / IDLE_CONNS / 1024, rssMb: after / 2 ** 20 }, units: 0, seconds: 1 };
}

function closeIdle() {
  for (const list of idleHeld.values()) for (const s of list) s.destroy();
  idleHeld.clear();
}

async function bulk(port, streams) {
  const args = ['-c', '127.0.0.1', '-p', String(port), '-t', String(SECONDS), '-P', String(streams), '-J'];
  if (OMIT > 0) args.push('-O', String(OMIT));
  const e = await runTool('iperf3', args, (SECONDS + OMIT + 20) * 1000);
  const r = parseIperf(e.stdout);
  return { metrics: { gbps: r.gbps }, units: r.bytes / 1e9, seconds: SECONDS + OMIT };
}

async function wrk(port, close) {
  const args = ['-t1', '-c50', `-d${SECONDS}s`, '--latency'];
  // With Connection: close the backend answers once and closes, so wrk opens
  // a new connection for every request: requests/s = connections/s.
  if (close) args.push('-H', 'Connection: close');
  args.push(`http://127.0.0.1:${port}/`);
  const e = await runTool('wrk', args, (SECONDS + 20) * 1000);
  const r = parseWrk(e.stdout);
  if (r.non2xx > 0 || (r.requests && r.errors > r.requests * 0.01)) {
    log(`warning: wrk on port ${port}: ${r.errors} socket errors, ${r.non2xx} non-2xx of ${r.requests}`);
  }
  const metrics = close ? { cps: r.rps } : { rps: r.rps, p99Ms: r.p99Ms };
  return { metrics, units: r.requests ?? r.rps * SECONDS, seconds: SECONDS, errors: r.errors, non2xx: r.non2xx };
}

// ---------------------------------------------------------------- configs

/** `port` names the route field each frontend binds (haproxy, haproxySplice, haproxyMulti). */
function haproxyConfig(routes, { port = 'haproxy', nbthread = 1, splice = false } = {}) {
  const lines = [
    'global',
    `    nbthread ${nbthread}`,
    "    # 2 fds per connection (and, with splice, 2 per pipe: maxconn/4 pipes) must fit under the process's file limit (often 20000 here);",
    `    # the idle scenario holds ${ROUNDS * IDLE_CONNS} connections at its peak.`,
    '    maxconn 6500',
    '',
    'defaults',
    '    mode tcp',
    // The same timeouts and retries as the Baton services below.
    '    timeout connect 2s',
    '    timeout client 8h',
    '    timeout server 8h',
    '    retries 2',
    ...(splice ? ['    option splice-auto'] : []),
    '',
  ];
  for (const r of routes) {
    lines.push(`frontend fe_${r.name}`, `    bind 127.0.0.1:${r[port]}`, `    default_backend be_${r.name}`, '');
    lines.push(`backend be_${r.name}`, `    server b1 127.0.0.1:${r.backend}`, '');
  }
  return lines.join('\n');
}

/** `port` names the route field each service listens on (baton, batonMulti). */
function batonConfig(routes, adminPort, { port = 'baton', workers = 1, limits = false } = {}) {
  const lines = ['node: bench', `admin: { listen: 127.0.0.1:${adminPort} }`, `workers: ${workers}`, 'shutdown_timeout: 1s', 'log_level: warn', 'services:'];
  for (const r of routes) {
    lines.push(
      `  - name: ${r.name}`,
      `    listen: 127.0.0.1:${r[port]}`,
      '    balance: roundrobin',
      '    connect_timeout: 2s',
      '    idle_timeout: 8h',
      '    retries: 2',
      // --limits: limits far above what the load reaches, so only their bookkeeping is measured.
      ...(limits ? ['    max_connections: 1000000', '    queue_timeout: 5s'] : []),
      '    servers:',
      `      - { name: b1, address: 127.0.0.1:${r.backend}${limits ? ', max_connections: 1000000' : ''} }`,
    );
  }
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------- report

function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

const int = (v) => Math.round(v).toLocaleString('en-US');

/** Table rows: which metric of which scenario, its unit and formatting. */
const ROWS = [
  { scenario: 'bulk1', key: 'gbps', label: 'bulk, 1 stream (Gbit/s)', fmt: (v) => v.toFixed(2) },
  { scenario: 'bulk1', key: 'cpuUs', label: 'proxy CPU per GB, 1 stream (ms, lower is better)', fmt: (v) => (v / 1000).toFixed(0) },
  { scenario: 'bulk8', key: 'gbps', label: 'bulk, 8 streams (Gbit/s)', fmt: (v) => v.toFixed(2) },
  { scenario: 'rr', key: 'rps', label: 'keep-alive req/s (wrk, 50 conns)', fmt: int },
  { scenario: 'rr', key: 'p99Ms', label: 'keep-alive p99 latency (ms, lower is better)', fmt: (v) => v.toFixed(2) },
  { scenario: 'rr', key: 'cpuUs', label: 'proxy CPU per request (µs, lower is better)', fmt: (v) => v.toFixed(1) },
  { scenario: 'conn', key: 'cps', label: 'new connections/s (wrk, 50 conns)', fmt: int },
  { scenario: 'conn', key: 'cpuUs', label: 'proxy CPU per new connection (µs, lower is better)', fmt: (v) => v.toFixed(1) },
  { scenario: 'sysbench', key: 'tps', label: `sysbench oltp_point_select TPS (${SB_THREADS} threads, MariaDB)`, fmt: int },
  { scenario: 'sysbench', key: 'p95Ms', label: 'sysbench p95 latency (ms, lower is better)', fmt: (v) => v.toFixed(2) },
  { scenario: 'sysbench', key: 'cpuUs', label: 'proxy CPU per query (µs, lower is better)', fmt: (v) => v.toFixed(1) },
  { scenario: 'idle', key: 'idleKb', label: `memory per idle client connection, with its server socket (KB, ${IDLE_CONNS} more per round, lower is better)`, fmt: (v) => v.toFixed(2) },
];

/**
 * One markdown table: a column per path in `cols` ({id, title}), then a
 * ratio column per pair in `ratios` ({num, den, title}).
 */
function table(results, cols, ratios) {
  const head = ['scenario', ...cols.map((c) => c.title), ...ratios.map((r) => r.title)];
  const out = [`| ${head.join(' | ')} |`, `|---|${head.slice(1).map(() => '---:').join('|')}|`];
  for (const row of ROWS) {
    const r = results[row.scenario];
    if (!r) continue;
    const v = (id) => r.median[id]?.[row.key];
    const cell = (x) => (x == null ? '–' : row.fmt(x));
    const ratio = (a, c) => (a == null || c == null || c === 0 ? '–' : `${(a / c).toFixed(2)}×`);
    out.push(`| ${[row.label, ...cols.map((c) => cell(v(c.id))), ...ratios.map((q) => ratio(v(q.num), v(q.den)))].join(' | ')} |`);
  }
  return out.join('\n');
}

function machine() {
  const haproxy = spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '';
  const version = (cmd, args, re) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return re.exec(`${r.stdout}${r.stderr}`)?.[1] ?? '?';
  };
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? '?',
    kernel: os.release(),
    node: process.version,
    haproxy: /HAProxy version (\S+)/.exec(haproxy)?.[1] ?? '?',
    wrk: version('wrk', ['-v'], /wrk (\S+)/),
    iperf3: version('iperf3', ['-v'], /iperf (\S+)/),
    sysbench: version('sysbench', ['--version'], /sysbench (\S+)/),
    mariadb: version(MARIADB.MARIADBD, ['--version'], /Ver (\S+)/),
  };
}

// ---------------------------------------------------------------- MariaDB

/** The test suite's throwaway-MariaDB helpers (built into test/dist by npm run build). */
const MARIADB = await import('../test/dist/helpers/mariadb.js');

/**
 * A private MariaDB on `port` for sysbench, pinned with the other backends:
 * its own datadir under the run's temp dir, a buffer pool that holds the
 * table, and a sysbench user; the sbtest table is prepared through the
 * direct path before any measurement.
 */
async function startMariadb(port, cpu) {
  const dir = path.join(tmpDir, 'mariadb');
  const datadir = path.join(dir, 'data');
  mkdirSync(datadir, { recursive: true });
  await MARIADB.installDb(datadir);
  const init = path.join(dir, 'init.sql');
  writeFileSync(init, MARIADB.usersSql([{ ...SB_USER, grants: 'ALL' }]) + 'CREATE DATABASE IF NOT EXISTS sbtest;\n');
  const args = [...MARIADB.baseArgs(dir, datadir, port, 'bench'), '--innodb-buffer-pool-size=256M', '--max-connections=500', `--init-file=${init}`];
  const entry = startPinned('mariadbd', cpu, MARIADB.MARIADBD, args);
  const conn = await MARIADB.waitReady(entry.child, port, path.join(dir, 'bench.err'));
  await conn.end();
  const prep = await runTool('sysbench', sysbenchArgs(port, ['--threads=4', 'prepare']), 120_000);
  if (prep.code !== 0) throw new Error(`sysbench prepare failed:\n${prep.tail.join('\n')}`);
  return entry;
}

// ---------------------------------------------------------------- main

/** Every thread of `pid` onto `cpus` (the backends, when the unpinned phase starts). */
function repin(pid, cpus) {
  spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

async function startHaproxy(name, routes, cpu, opts) {
  const cfg = path.join(tmpDir, `${name}.cfg`);
  writeFileSync(cfg, haproxyConfig(routes, opts));
  const check = spawnSync('haproxy', ['-c', '-q', '-f', cfg], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`haproxy -c failed:\n${check.stdout}${check.stderr}`);
  return startPinned(name, cpu, 'haproxy', ['-db', '-f', cfg]);
}

async function startBatonAt(name, routes, cpu, opts, nodeArgs = []) {
  const cfg = path.join(tmpDir, `${name}.yaml`);
  writeFileSync(cfg, batonConfig(routes, await freePort(), opts));
  const bcheck = spawnSync(process.execPath, [CLI, 'check', '-c', cfg], { encoding: 'utf8', cwd: ROOT });
  if (bcheck.status !== 0) throw new Error(`baton check failed:\n${bcheck.stdout}${bcheck.stderr}`);
  // log_level warn keeps 'baton started' out of the output: readiness is the listening port.
  return startPinned(name, cpu, process.execPath, [...nodeArgs, CLI, 'start', '-c', cfg]);
}

/**
 * Measures every scenario in `scenarios` over every path in `paths`
 * ({id, port(route), pid, entry}), ROUNDS rounds interleaved; returns
 * {scenario: {title, runs, median}}.
 */
async function runPhase(phase, paths, scenarios, route) {
  const results = {};
  for (const name of scenarios) {
    const def = SCENARIO_DEFS[name];
    const r = route(def.backend);
    const measured = def.proxyOnly ? paths.filter((p) => p.pid) : paths;
    const runs = Object.fromEntries(measured.map((p) => [p.id, []]));
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order so no path always runs first (or right after another).
      const order = measured.map((_, i) => measured[(i + round) % measured.length]);
      for (const p of order) {
        for (const pp of paths) {
          if (pp.entry?.exited) throw new Error(`${pp.entry.name} died:\n${pp.entry.tail.join('\n')}`);
        }
        const cpu0 = p.pid ? treeCpuSeconds(p.pid) : null;
        const mc0 = machineCpu();
        const t0 = performance.now();
        const m = await def.measure(p.port(r), p);
        const wall = (performance.now() - t0) / 1000;
        const mc1 = machineCpu();
        const cpu = p.pid ? treeCpuSeconds(p.pid) - cpu0 : null;
        // Other work on the machine skews a run; record it and say so, rather than guess later.
        const foreign = Math.max(0, mc1.busy - mc0.busy - (mc1.own - mc0.own)) / wall;
        const steal = (mc1.steal - mc0.steal) / wall;
        if (foreign > 0.1 || steal > 0.1) log(`note: ${phase} ${name} ${p.id}: other processes used ${(foreign * 100).toFixed(0)} % of a CPU, steal ${(steal * 100).toFixed(0)} %`);
        // Proxy CPU per unit of work in µs: per request, per connection, per query, or per GB for bulk;
        // and how busy the proxy's core was, which tells whether it was the bottleneck.
        if (cpu != null && m.units > 0) m.metrics.cpuUs = (cpu * 1e6) / m.units;
        if (cpu != null && m.units > 0) m.metrics.cpuBusy = cpu / m.seconds;
        runs[p.id].push({ ...m.metrics, proxyCpuS: cpu, foreignCpu: foreign, steal, ...(m.errors ? { errors: m.errors } : {}) });
        log(`${phase} ${name} round ${round + 1}/${ROUNDS} ${p.id}: ${JSON.stringify(m.metrics, (k, v) => (typeof v === 'number' ? Number(v.toPrecision(4)) : v))}`);
        await sleep(300);
      }
    }
    if (name === 'idle') closeIdle();
    const med = {};
    for (const [pid, list] of Object.entries(runs)) {
      med[pid] = {};
      for (const key of Object.keys(list[0] ?? {})) med[pid][key] = median(list.map((x) => x[key]));
    }
    results[name] = { title: def.title, runs, median: med };
  }
  return results;
}

async function main() {
  const deadline = setTimeout(() => {
    log(`run exceeded ${RUN_DEADLINE_MS / 60_000} minutes, giving up`);
    cleanup().finally(() => process.exit(1));
  }, RUN_DEADLINE_MS);
  deadline.unref();

  if (os.cpus().length < 2) throw new Error('needs at least 2 CPUs (load on CPU 0, proxy on CPU 1)');
  ensureTools();
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npm run build, or npm run bench)`);
  tmpDir = mkdtempSync(path.join(os.tmpdir(), 'baton-bench-'));
  mkdirSync(RESULTS, { recursive: true });

  const needed = new Set(selected.map((s) => SCENARIO_DEFS[s].backend));
  const routes = [];
  for (const name of ['iperf', 'http', 'close', 'mysql']) {
    if (!needed.has(name)) continue;
    const r = { name };
    for (const k of ['backend', 'haproxy', 'haproxySplice', 'baton', 'node', 'batonLimits']) r[k] = await freePort();
    routes.push(r);
  }
  const route = (name) => routes.find((r) => r.name === name);

  // Backends, on the load CPU.
  const backends = [];
  for (const r of routes) {
    if (r.name === 'iperf') {
      const e = startPinned('iperf3 server', LOAD_CPU, 'iperf3', ['-s', '-B', '127.0.0.1', '-p', String(r.backend), '--forceflush']);
      await waitForLine(e, /Server listening/);
      backends.push(e);
    } else if (r.name === 'mysql') {
      backends.push(await startMariadb(r.backend, LOAD_CPU));
    } else {
      const e = startPinned(`${r.name} backend`, LOAD_CPU, process.execPath, [BACKEND, '--port', String(r.backend), ...(r.name === 'close' ? ['--close'] : [])]);
      await waitForLine(e, /^listening /);
      backends.push(e);
    }
  }

  // The proxies, on the proxy CPU.
  const haproxy = await startHaproxy('haproxy', routes, PROXY_CPU, {});
  const haproxySplice = await startHaproxy('haproxy-splice', routes, PROXY_CPU, { port: 'haproxySplice', splice: true });
  const profDir = path.join(RESULTS, 'profile');
  if (flags.profile) rmSync(profDir, { recursive: true, force: true });
  const baton = await startBatonAt('baton', routes, PROXY_CPU, {}, flags.profile ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []);
  const batonLimits = flags.limits ? await startBatonAt('baton-limits', routes, PROXY_CPU, { port: 'batonLimits', limits: true }) : undefined;
  let nodeRelay;
  if (flags.baseline) {
    nodeRelay = startPinned('plain Node relay', PROXY_CPU, process.execPath, [NODE_RELAY, ...routes.map((r) => `${r.node}:${r.backend}`)]);
    await waitForLine(nodeRelay, /^listening/);
  }

  // Probe through a route whose backend is not iperf3 (a bare connect upsets its control protocol).
  const probe = routes.find((r) => r.name !== 'iperf') ?? routes[0];
  await waitForPort(probe.haproxy, haproxy);
  await waitForPort(probe.haproxySplice, haproxySplice);
  await waitForPort(probe.baton, baton);
  if (batonLimits) await waitForPort(probe.batonLimits, batonLimits);

  const paths = [
    { id: 'direct', port: (r) => r.backend, pid: null },
    { id: 'haproxy', port: (r) => r.haproxy, pid: haproxy.child.pid, entry: haproxy },
    { id: 'haproxySplice', port: (r) => r.haproxySplice, pid: haproxySplice.child.pid, entry: haproxySplice },
    { id: 'baton', port: (r) => r.baton, pid: baton.child.pid, entry: baton },
  ];
  if (nodeRelay) paths.push({ id: 'node', port: (r) => r.node, pid: nodeRelay.child.pid, entry: nodeRelay });
  if (batonLimits) paths.push({ id: 'batonLimits', port: (r) => r.batonLimits, pid: batonLimits.child.pid, entry: batonLimits });
  const restRss = Object.fromEntries(paths.filter((p) => p.pid).map((p) => [p.id, treeRssBytes(p.pid) / 2 ** 20]));

  const started = new Date();
  const results = await runPhase('pinned', paths, selected, route);
  await stopChild(baton, 5000);
  if (batonLimits) await stopChild(batonLimits, 5000);
  for (const e of [haproxy, haproxySplice, nodeRelay]) if (e) await stopChild(e);

  // Unpinned: every process free to use every CPU, report only.
  let multi = null;
  const multiScenarios = selected.filter((s) => s !== 'idle');
  if (!flags['no-multi'] && multiScenarios.length > 0) {
    loadCpu = ALL_CPUS;
    // Ports picked now, not at the start: the load since then used ephemeral
    // ports, and one still held by a connection cannot be bound.
    for (const r of routes) for (const k of ['haproxyMulti', 'batonMulti']) r[k] = await freePort();
    for (const e of backends) repin(e.child.pid, ALL_CPUS);
    const haproxy2 = await startHaproxy('haproxy-nbthread2', routes, ALL_CPUS, { port: 'haproxyMulti', nbthread: 2 });
    const baton2 = await startBatonAt('baton-workers2', routes, ALL_CPUS, { port: 'batonMulti', workers: 2 });
    await waitForPort(probe.haproxyMulti, haproxy2);
    await waitForPort(probe.batonMulti, baton2);
    // Both workers listening, not just the first.
    await sleep(1000);
    const mpaths = [
      { id: 'haproxy2', port: (r) => r.haproxyMulti, pid: haproxy2.child.pid, entry: haproxy2 },
      { id: 'baton2', port: (r) => r.batonMulti, pid: baton2.child.pid, entry: baton2 },
    ];
    multi = await runPhase('unpinned', mpaths, multiScenarios, route);
    await stopChild(baton2, 5000);
    await stopChild(haproxy2);
  }

  const info = machine();
  const report = {
    date: started.toISOString(),
    machine: info,
    settings: {
      rounds: ROUNDS,
      seconds: SECONDS,
      bulkOmitSeconds: OMIT,
      loadCpu: LOAD_CPU,
      proxyCpu: PROXY_CPU,
      wrk: '-t1 -c50',
      sysbench: { threads: SB_THREADS, tableSize: SB_TABLE_SIZE },
      idleConnsPerRound: IDLE_CONNS,
      quick: flags.quick,
      baseline: flags.baseline,
      limits: flags.limits,
    },
    restRssMb: restRss,
    results,
    unpinned: multi,
  };
  writeFileSync(path.join(RESULTS, 'latest.json'), JSON.stringify(report, null, 2) + '\n');
  await cleanup();

  const rounds = ROUNDS === 1 ? '1 round' : `median of ${ROUNDS}`;
  process.stdout.write(
    `\nBaton vs HAProxy ${info.haproxy} (mode tcp, nbthread 1) vs direct — ${started.toISOString().slice(0, 10)}, ` +
      `${info.cpus} × ${info.cpuModel}, kernel ${info.kernel}, node ${info.node}, MariaDB ${info.mariadb}, ${rounds}, ${SECONDS} s each; ` +
      `load and backends on CPU ${LOAD_CPU}, proxy on CPU ${PROXY_CPU}\n\n`,
  );
  const cols = [
    { id: 'direct', title: 'direct' },
    { id: 'haproxy', title: 'HAProxy' },
    { id: 'haproxySplice', title: 'HAProxy splice-auto' },
    { id: 'baton', title: 'Baton' },
    ...(nodeRelay ? [{ id: 'node', title: 'plain Node' }] : []),
    ...(batonLimits ? [{ id: 'batonLimits', title: 'Baton, limits set' }] : []),
  ];
  const ratios = [
    { num: 'baton', den: 'haproxy', title: 'Baton/HAProxy' },
    { num: 'baton', den: 'haproxySplice', title: 'Baton/splice-auto' },
    { num: 'baton', den: 'direct', title: 'Baton/direct' },
    ...(nodeRelay ? [{ num: 'baton', den: 'node', title: 'Baton/plain Node' }] : []),
    ...(batonLimits ? [{ num: 'batonLimits', den: 'baton', title: 'limits set/none' }] : []),
  ];
  process.stdout.write(table(results, cols, ratios) + '\n\n');
  const rest = Object.entries(restRss).map(([id, mb]) => `${id} ${mb.toFixed(1)} MB`).join(', ');
  process.stdout.write(`RSS at rest, before any load: ${rest}\n\n`);
  if (multi) {
    process.stdout.write(`Unpinned (report only): Baton workers: 2 vs HAProxy nbthread 2, load free on both CPUs, ${rounds}\n\n`);
    process.stdout.write(table(multi, [{ id: 'haproxy2', title: 'HAProxy nbthread 2' }, { id: 'baton2', title: 'Baton workers: 2' }], [{ num: 'baton2', den: 'haproxy2', title: 'Baton/HAProxy' }]) + '\n\n');
  }
  process.stdout.write(`written: ${path.relative(ROOT, path.join(RESULTS, 'latest.json'))}\n`);
  if (flags.profile) {
    const top = spawnSync(process.execPath, [path.join(HERE, 'lib/profile-top.mjs'), profDir], { encoding: 'utf8' });
    writeFileSync(path.join(RESULTS, 'profile-top.txt'), top.stdout);
    process.stdout.write(`\nCPU profile of Baton (${path.relative(ROOT, profDir)}):\n${top.stdout}${top.stderr}`);
  }
}

main().catch(async (err) => {
  log(`failed: ${err instanceof Error ? err.message : String(err)}`);
  await cleanup();
  process.exit(1);
});
