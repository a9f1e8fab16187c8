#!/usr/bin/env node
// Soak: a real `baton start` (workers: 1) under a fixed, mixed load for N
// minutes, sampling the daemon's memory and file descriptors, then checking
// that nothing grows and nothing fails.
//
// Load, all on 127.0.0.1, at fixed rates (not as fast as possible, so the
// figures do not depend on the machine):
// - keep-alive: `keepalive` long-lived sessions, each sending a 64-byte
//   request every `intervalMs` and waiting for its echo;
// - new connections: `connPerSec` sessions a second, each one request and
//   its echo, then closed;
// - bulk: every 10 s one session sends 1 MiB and reads it back.
// Every `sampleS` seconds: RSS (VmRSS) and open fds of the primary and its
// workers, from /proc. After the load stops the fds must return to what they
// were before it started.
//
// Assertions (exit 1 on failure, and `ok: false` in the JSON):
// - RSS growth after warm-up <= 5 %: the median of the last three samples
//   against the median of the first three after the warm-up (the first 20 %
//   of the run, at least 60 s, so a run needs 2 minutes or more);
// - fds back to the pre-load baseline within 10 s after the load;
// - zero errors (a refused connect, a wrong or missing echo, a reset).
//
// Usage: node benchmarks/soak.mjs [minutes=10] [--rate low|high] [--json FILE]
// The same code runs in CI as test/soak.test.ts with minutes=3 and the low rate.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'packages/baton/dist/src/cli.js');

export const RATES = {
  // CI: about 150 requests/s in all, a few % of one CPU.
  low: { keepalive: 10, intervalMs: 100, connPerSec: 40, bulkEveryS: 10, bulkBytes: 1 << 20 },
  high: { keepalive: 50, intervalMs: 20, connPerSec: 200, bulkEveryS: 5, bulkBytes: 8 << 20 },
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function children(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** RSS (kB) and fds of the daemon and its workers. */
function sample(pid) {
  let rssKb = 0;
  let fds = 0;
  for (const p of [pid, ...children(pid)]) {
    try {
      rssKb += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
      fds += readdirSync(`/proc/${p}/fd`).length;
    } catch {
      // A process that just exited.
    }
  }
  return { rssKb, fds };
}

/** One echo exchange on an open socket: resolves when `payload` came back whole. */
function exchange(socket, payload, timeoutMs) {
  return new Promise((resolve, reject) => {
    const got = [];
    let n = 0;
    const timer = setTimeout(() => done(new Error(`echo: ${n} of ${payload.length} bytes after ${timeoutMs} ms`)), timeoutMs);
    const onData = (d) => {
      got.push(d);
      n += d.length;
      if (n >= payload.length) done();
    };
    const onClose = () => done(new Error('closed during an exchange'));
    const done = (err) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err) return reject(err);
      const all = Buffer.concat(got);
      if (!all.equals(payload)) return reject(new Error('echo differs'));
      resolve();
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.write(payload);
  });
}

function connect(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * Runs the soak; resolves with { ok, failures, samples, ... }. Every process
 * and socket it opens is closed before it resolves (the daemon by PID).
 */
export async function runSoak({ minutes = 10, rate = 'low', sampleS = 5, log = (line) => process.stdout.write(`${line}\n`) } = {}) {
  const r = RATES[rate];
  if (!r) throw new Error(`unknown rate ${rate}`);
  const durationMs = minutes * 60_000;
  // V8 sizes its heap over the first minute (RSS climbs ~10 % and then stays flat): that is warm-up, not growth.
  const warmupMs = Math.max(60_000, durationMs * 0.2);
  const dir = mkdtempSync(join(tmpdir(), 'baton-soak-'));
  const backendSockets = new Set();
  const backend = net.createServer((s) => {
    backendSockets.add(s);
    s.on('close', () => backendSockets.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise((res) => backend.listen(0, '127.0.0.1', res));
  const [port, adminPort] = [await freePort(), await freePort()];
  const config = join(dir, 'baton.yaml');
  writeFileSync(
    config,
    `node: soak
workers: 1
log_level: warn
shutdown_timeout: 1s
admin: { listen: 127.0.0.1:${adminPort} }
services:
  - name: soak
    listen: 127.0.0.1:${port}
    balance: roundrobin
    health: { check: tcp, interval: 2s, timeout: 1s, rise: 1, fall: 3, initial: up }
    servers:
      - { name: echo, address: 127.0.0.1:${backend.address().port} }
`,
  );
  const daemon = spawn(process.execPath, [cli, 'start', '-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let daemonOut = '';
  daemon.stdout.setEncoding('utf8').on('data', (d) => (daemonOut += d));
  daemon.stderr.setEncoding('utf8').on('data', (d) => (daemonOut += d));
  const exited = new Promise((res) => daemon.once('exit', (code, signal) => res(code ?? signal)));
  let daemonGone = false;
  void exited.then(() => (daemonGone = true));

  const errors = [];
  const counts = { requests: 0, connections: 0, bulkBytes: 0 };
  const samples = [];
  const failures = [];
  let stopping = false;
  const held = [];
  const timers = [];
  try {
    // Up: the admin API answers once every service listens.
    const upBy = Date.now() + 15_000;
    for (;;) {
      if (daemonGone) throw new Error(`baton exited at start:\n${daemonOut}`);
      try {
        const res = await fetch(`http://127.0.0.1:${adminPort}/api/status`, { signal: AbortSignal.timeout(1000) });
        if (res.ok) break;
      } catch {
        // Not yet.
      }
      if (Date.now() > upBy) throw new Error(`baton did not come up:\n${daemonOut}`);
      await sleep(100);
    }
    await sleep(1000);
    const baseline = sample(daemon.pid);
    log(`soak: ${minutes} min at the ${rate} rate (${JSON.stringify(r)}); daemon pid ${daemon.pid}; baseline ${baseline.rssKb} kB RSS, ${baseline.fds} fds`);
    const fail = (what) => (err) => {
      if (!stopping && errors.length < 50) errors.push(`${what}: ${err.message}`);
    };

    // keep-alive sessions
    const req = Buffer.alloc(64, 0x6b);
    const keepalive = async (i) => {
      const s = await connect(port);
      held.push(s);
      s.on('error', () => undefined);
      while (!stopping) {
        const t0 = Date.now();
        await exchange(s, req, 5000);
        counts.requests++;
        await sleep(Math.max(0, r.intervalMs - (Date.now() - t0)));
      }
      s.end();
      void i;
    };
    const keepers = Array.from({ length: r.keepalive }, (_, i) => keepalive(i).catch(fail(`keep-alive ${i}`)));

    // new connections at a fixed rate, in batches every 100 ms
    const oneConn = async () => {
      const s = await connect(port);
      s.on('error', () => undefined);
      try {
        await exchange(s, Buffer.from('hello soak\n'), 5000);
        counts.connections++;
      } finally {
        s.destroy();
      }
    };
    const inflight = new Set();
    let due = 0;
    timers.push(
      setInterval(() => {
        due += r.connPerSec / 10;
        for (; due >= 1; due--) {
          const p = oneConn().catch(fail('new connection'));
          inflight.add(p);
          void p.finally(() => inflight.delete(p));
        }
      }, 100),
    );

    // bulk
    const bulkPayload = createHash('sha256').update('soak').digest();
    const bulkData = Buffer.alloc(r.bulkBytes);
    for (let i = 0; i < bulkData.length; i += bulkPayload.length) bulkPayload.copy(bulkData, i);
    const bulk = async () => {
      const s = await connect(port);
      s.on('error', () => undefined);
      try {
        await exchange(s, bulkData, 30_000);
        counts.bulkBytes += bulkData.length;
      } finally {
        s.destroy();
      }
    };
    timers.push(setInterval(() => void bulk().catch(fail('bulk')), r.bulkEveryS * 1000));

    // sampling
    const started = Date.now();
    const header = `${'t (s)'.padStart(6)} ${'RSS kB'.padStart(9)} ${'fds'.padStart(5)} ${'requests'.padStart(9)} ${'conns'.padStart(7)} ${'bulk MiB'.padStart(9)} errors`;
    log(header);
    while (Date.now() - started < durationMs) {
      await sleep(sampleS * 1000);
      if (daemonGone) {
        errors.push('baton exited during the soak');
        break;
      }
      const s = { t: Math.round((Date.now() - started) / 1000), ...sample(daemon.pid), ...counts, errors: errors.length };
      samples.push(s);
      log(`${String(s.t).padStart(6)} ${String(s.rssKb).padStart(9)} ${String(s.fds).padStart(5)} ${String(s.requests).padStart(9)} ${String(s.connections).padStart(7)} ${(s.bulkBytes / 1048576).toFixed(0).padStart(9)} ${s.errors}`);
    }

    // stop the load, let it drain, then the fds must be back
    stopping = true;
    for (const t of timers) clearInterval(t);
    await Promise.all(keepers);
    await Promise.all([...inflight]);
    await sleep(500);
    let after = sample(daemon.pid);
    for (let i = 0; i < 50 && after.fds > baseline.fds; i++) {
      await sleep(200);
      after = sample(daemon.pid);
    }

    const warm = samples.filter((s) => s.t * 1000 >= warmupMs);
    let growth = 0;
    if (warm.length >= 6) {
      const first = median(warm.slice(0, 3).map((s) => s.rssKb));
      const last = median(warm.slice(-3).map((s) => s.rssKb));
      growth = (last - first) / first;
      if (growth > 0.05) failures.push(`RSS grew ${(growth * 100).toFixed(1)} % after warm-up (${first} -> ${last} kB)`);
    } else {
      failures.push(`too few samples after the warm-up (${warm.length}); run longer`);
    }
    if (after.fds > baseline.fds) failures.push(`fds ${after.fds} after the load, ${baseline.fds} before it`);
    if (errors.length > 0) failures.push(`${errors.length} error(s): ${errors.slice(0, 5).join('; ')}`);
    if (counts.requests === 0 || counts.connections === 0 || counts.bulkBytes === 0) failures.push(`a load did not run: ${JSON.stringify(counts)}`);
    const summary = {
      ok: failures.length === 0,
      failures,
      minutes,
      rate,
      load: r,
      counts,
      baseline,
      after,
      rssGrowthPct: Number((growth * 100).toFixed(2)),
      maxFdsUnderLoad: Math.max(...samples.map((s) => s.fds)),
      samples,
    };
    log(`RSS growth after warm-up ${summary.rssGrowthPct} %; fds ${baseline.fds} before, ${summary.maxFdsUnderLoad} at most under load, ${after.fds} after; ${errors.length} errors`);
    log(failures.length === 0 ? 'soak: ok' : `soak: FAILED\n  ${failures.join('\n  ')}`);
    return summary;
  } finally {
    stopping = true;
    for (const t of timers) clearInterval(t);
    for (const s of held) s.destroy();
    if (!daemonGone) {
      daemon.kill('SIGTERM');
      const killer = setTimeout(() => daemon.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    for (const s of backendSockets) s.destroy();
    await new Promise((res) => backend.close(res));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const minutes = Number(args.find((a) => /^\d+(\.\d+)?$/.test(a)) ?? 10);
  const rate = args.includes('--rate') ? args[args.indexOf('--rate') + 1] : 'low';
  const jsonAt = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;
  const summary = await runSoak({ minutes, rate });
  const json = JSON.stringify(summary, null, 2);
  if (jsonAt) writeFileSync(jsonAt, json);
  else console.log(json);
  process.exitCode = summary.ok ? 0 : 1;
}
