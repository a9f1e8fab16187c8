/**
 * Relay fuzzing through a running daemon (`workers: 2`): 800 seeded sessions
 * send random bytes (0 to 256 KiB, in random pieces) to echo backends and
 * then either half-close and check the echo byte for byte, close early,
 * reset (RST) at a random moment, or close before sending anything. Five
 * witness sessions held open the whole time must see every echo intact and
 * never be closed. Afterwards no session is left open at the daemon or the
 * backends, and the daemon's file descriptors (primary and workers) are
 * back to what they were.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { startBaton } from './helpers/baton.js';
import { nameBackend, openSession, ping, type Backend, type HeldSession } from './helpers/backends.js';
import { childPids } from './helpers/admin.js';
import { freePort } from './helpers/ports.js';
import { eventually, fdCount, pick, prng, randBytes, randInt, statusOf } from './helpers/fuzz.js';

type Ending = 'echo' | 'close-early' | 'reset' | 'silent-close';

const daemonFds = (pid: number) => fdCount(pid) + childPids(pid).reduce((n, c) => n + fdCount(c), 0);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** One fuzz session; resolves with a problem description, or undefined when all went as the ending promises. */
function session(port: number, rand: () => number): Promise<{ ending: Ending; problem?: string }> {
  const ending = pick(rand, ['echo', 'echo', 'echo', 'close-early', 'reset', 'silent-close'] as const);
  const size = rand() < 0.2 ? randInt(rand, 0, 16) : randInt(rand, 1, 256 * 1024);
  const payload = randBytes(rand, size);
  const pieces: Buffer[] = [];
  for (let at = 0; at < payload.length; ) {
    const n = Math.min(payload.length - at, rand() < 0.5 ? randInt(rand, 1, 64) : randInt(rand, 1, 65536));
    pieces.push(payload.subarray(at, at + n));
    at += n;
  }
  const cutAt = randInt(rand, 0, Math.max(0, pieces.length - 1));
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let named = false;
    let echoed: Buffer[] = [];
    let settled = false;
    const done = (problem?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ending, problem });
    };
    const timer = setTimeout(() => done(`${ending}: no end within 20 s (${named ? 'named' : 'no name line'}, ${echoed.reduce((n, b) => n + b.length, 0)} of ${size} bytes echoed)`), 20_000);
    socket.on('error', (err) => done(ending === 'echo' ? `echo: ${err.message}` : undefined));
    socket.on('data', (d: Buffer) => {
      if (!named) {
        const nl = d.indexOf(10);
        if (nl < 0) return;
        named = true;
        d = d.subarray(nl + 1);
        void start();
      }
      echoed.push(d);
    });
    socket.on('end', () => {
      if (ending !== 'echo') return done();
      const got = Buffer.concat(echoed);
      done(got.length === payload.length && sha(got) === sha(payload) ? undefined : `echo: got ${got.length} of ${payload.length} bytes${got.length === payload.length ? ', different' : ''}`);
    });
    socket.on('close', () => done(ending === 'echo' && !settled ? 'echo: closed before the end' : undefined));
    const start = async () => {
      if (ending === 'silent-close') return done();
      for (const [i, p] of pieces.entries()) {
        if (settled) return;
        if (i === cutAt && ending === 'close-early') return done();
        if (i === cutAt && ending === 'reset') {
          socket.resetAndDestroy();
          return done();
        }
        if (!socket.write(p)) await new Promise((r) => socket.once('drain', r));
        if (rand() < 0.1) await new Promise((r) => setTimeout(r, randInt(rand, 0, 20)));
      }
      if (ending === 'echo') socket.end();
      else done();
      echoed = ending === 'echo' ? echoed : [];
    };
  });
}

test('fuzz: 800 sessions of random bytes, lengths and endings; echoes intact, witnesses unaffected, fds back to baseline', { timeout: 180_000 }, async (t) => {
  const backends: Backend[] = [await nameBackend('e1'), await nameBackend('e2')];
  const port = await freePort();
  const baton = await startBaton(`node: fuzz-relay
workers: 2
shutdown_timeout: 1s
services:
  - name: echo
    listen: 127.0.0.1:${port}
    balance: roundrobin
    health: { check: tcp, interval: 1s, timeout: 500ms, rise: 1, fall: 3, initial: up }
    servers:
${backends.map((b) => `      - { name: ${b.name}, address: 127.0.0.1:${b.port} }`).join('\n')}
`);
  const witnesses: HeldSession[] = [];
  try {
    await new Promise((r) => setTimeout(r, 1000));
    const baseline = daemonFds(baton.pid);
    for (let i = 0; i < 5; i++) witnesses.push(await openSession(port));
    const witnessClosed: number[] = [];
    witnesses.forEach((w, i) => void w.closed.then(() => witnessClosed.push(i)));
    let witnessPings = 0;
    let witnessBad = '';
    let stop = false;
    const pinger = (async () => {
      for (let k = 0; !stop && k < 10_000; k++) {
        for (const [i, w] of witnesses.entries()) {
          const text = `w${i}-${k}`;
          const got = await ping(w, text).catch((e: Error) => `error ${e.message}`);
          if (got !== `${text}\n`) witnessBad ||= `witness ${i} ping ${k}: ${JSON.stringify(got)}`;
          witnessPings++;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    const rand = prng(4242);
    const N = 800;
    const endings: Record<string, number> = {};
    const problems: string[] = [];
    let next = 0;
    const started = Date.now();
    const worker = async () => {
      while (next < N) {
        next++;
        const r = await session(port, rand);
        endings[r.ending] = (endings[r.ending] ?? 0) + 1;
        if (r.problem) problems.push(r.problem);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    stop = true;
    await pinger;
    t.diagnostic(`${N} sessions in ${Date.now() - started} ms: ${JSON.stringify(endings)}; ${witnessPings} witness pings`);
    assert.deepEqual(problems, []);
    assert.equal(witnessBad, '');
    assert.deepEqual(witnessClosed, [], 'a witness session was closed');

    for (const w of witnesses) w.socket.destroy();
    const settled = await eventually(async () => (await statusOf(baton.adminUrl)).services[0].active === 0 && backends.every((b) => b.sockets.size === 0), 10_000, 200);
    assert.ok(settled, `sessions left: daemon ${(await statusOf(baton.adminUrl)).services[0].active}, backends ${backends.map((b) => b.sockets.size)}`);
    const back = await eventually(() => daemonFds(baton.pid) <= baseline, 10_000, 200);
    assert.ok(back, `fds ${daemonFds(baton.pid)} > baseline ${baseline}`);
    assert.equal(baton.logs.filter((l) => /uncaught|unhandled|crash|worker exited/i.test(l)).length, 0, baton.logs.filter((l) => /uncaught|unhandled|crash|worker exited/i.test(l)).join('\n'));
  } finally {
    for (const w of witnesses) w.socket.destroy();
    await baton.stop();
    await Promise.all(backends.map((b) => b.close()));
  }
});
