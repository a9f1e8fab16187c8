/**
 * The engine stress run, in a process of its own so its descriptors can be
 * counted (and so it can run with the addon built under AddressSanitizer):
 * SESSIONS sessions through a native-engine Service, STRESS_CONCURRENCY at
 * once, each doing one of: an echo with random chunk sizes and pauses then a
 * half-close (bytes checked by SHA-256), a slow reader under a bulk answer, a
 * client reset, a backend reset mid-transfer, a backend that never answers
 * (the client gives up). Prints one JSON line with what it saw.
 *
 * Invariant checked by the parent: after the run, every session is closed,
 * no pipe is in use or kept idle, and the process has exactly as many
 * descriptors open as before.
 */
import net from 'node:net';
import crypto from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { Service, relayEngine } from '../src/index.js';
import { serviceSpec, sleep, waitFor } from './helpers.js';

const SESSIONS = Number(process.env.STRESS_SESSIONS ?? 10_000);
const CONCURRENCY = Number(process.env.STRESS_CONCURRENCY ?? 200);
const SEED = Number(process.env.STRESS_SEED ?? Math.floor(Math.random() * 2 ** 31));
let seed = SEED;
/** A small deterministic PRNG (mulberry32): a failing run can be replayed with its seed. */
function rand(): number {
  seed |= 0;
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randInt = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const openFds = () => readdirSync('/proc/self/fd').length;

type Mode = 'echo' | 'slow' | 'client-reset' | 'server-reset' | 'silent';
const BULK = 4 * 1024 * 1024;

/** The backend: the client's first byte says what to do. */
const backendSockets = new Set<net.Socket>();
const backend = net.createServer({ allowHalfOpen: true }, (socket) => {
  backendSockets.add(socket);
  socket.on('close', () => backendSockets.delete(socket));
  socket.on('error', () => undefined);
  socket.once('data', (first: Buffer) => {
    const mode = String.fromCharCode(first[0]!);
    if (mode === 'E') {
      socket.write(first.subarray(1));
      socket.pipe(socket);
    } else if (mode === 'S') {
      const chunk = Buffer.alloc(64 * 1024, 7);
      let left = BULK / chunk.length;
      const pump = () => {
        while (left > 0) {
          left--;
          if (!socket.write(chunk)) return void socket.once('drain', pump);
        }
        socket.end();
      };
      pump();
    } else if (mode === 'R') {
      socket.write(Buffer.alloc(randInt(1, 200_000), 1), () => socket.resetAndDestroy());
    } else if (mode === 'C') {
      socket.resume();
    }
    // 'N': never answers; the client gives up.
  });
});

function client(port: number, mode: Mode): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let done = false;
    const finish = (result: string) => {
      if (done) return;
      done = true;
      clearTimeout(guard);
      socket.destroy();
      resolve(result);
    };
    const guard = setTimeout(() => finish(`${mode}:timeout`), 60_000);
    socket.on('error', () => finish(`${mode}:error`));
    socket.on('close', () => finish(`${mode}:closed`));
    if (mode === 'echo') {
      const sent = crypto.createHash('sha256');
      const got = crypto.createHash('sha256');
      let sentBytes = 0;
      let gotBytes = 0;
      socket.on('data', (d: Buffer) => {
        got.update(d);
        gotBytes += d.length;
      });
      socket.on('end', () => finish(gotBytes === sentBytes && got.digest('hex') === sent.digest('hex') ? 'echo:ok' : `echo:bad ${gotBytes}/${sentBytes}`));
      const first = Buffer.from('E');
      socket.write(first);
      let chunks = rand() < 0.02 ? 64 : randInt(0, 8);
      const next = () => {
        if (done) return;
        if (chunks-- <= 0) return void socket.end();
        const size = rand() < 0.1 ? randInt(60_000, 200_000) : randInt(1, 2000);
        const buf = crypto.randomBytes(size);
        sent.update(buf);
        sentBytes += size;
        const ok = socket.write(buf);
        const pause = rand() < 0.3 ? randInt(1, 20) : 0;
        if (!ok) socket.once('drain', () => setTimeout(next, pause));
        else setTimeout(next, pause);
      };
      next();
    } else if (mode === 'slow') {
      let got = 0;
      socket.write('S');
      socket.pause();
      setTimeout(() => {
        socket.on('data', (d: Buffer) => {
          got += d.length;
          // A slow reader: pause now and then.
          if (rand() < 0.05) {
            socket.pause();
            setTimeout(() => socket.resume(), randInt(1, 10));
          }
        });
        socket.resume();
      }, randInt(50, 300));
      socket.on('end', () => finish(got === BULK ? 'slow:ok' : `slow:bad ${got}`));
    } else if (mode === 'client-reset') {
      socket.write('C');
      socket.write(crypto.randomBytes(randInt(1, 100_000)), () =>
        setTimeout(() => {
          socket.resetAndDestroy();
          finish('client-reset:done');
        }, randInt(0, 20)),
      );
    } else if (mode === 'server-reset') {
      socket.write('R');
      socket.resume();
      // The relay passes the backend's reset on by closing the client: FIN or RST.
      socket.on('end', () => finish('server-reset:closed'));
    } else {
      socket.write('N');
      setTimeout(() => finish('silent:gave-up'), randInt(20, 200));
    }
  });
}

await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
const backendPort = (backend.address() as net.AddressInfo).port;
const service = new Service(serviceSpec([{ name: 'b', port: backendPort }], { idleTimeoutMs: 30_000 }), { engine: 'native' });
await service.listen();
const port = service.boundPort!;
// Warm up (lazy descriptors of Node itself), then count.
await client(port, 'echo');
await waitFor(() => service.activeSessions === 0, 5000);
await sleep(50);
const before = openFds();

const modes: Mode[] = ['echo', 'echo', 'echo', 'echo', 'slow', 'client-reset', 'server-reset', 'silent'];
const results: Record<string, number> = {};
let next = 0;
let maxOpen = 0;
const started = Date.now();
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (next < SESSIONS) {
      const i = next++;
      // Few slow readers (each moves BULK bytes): bulk through splice without making the run long.
      let mode = modes[randInt(0, modes.length - 1)]!;
      if (mode === 'slow' && i % 50 !== 0) mode = 'echo';
      maxOpen = Math.max(maxOpen, service.activeSessions);
      const r = await client(port, mode);
      results[r] = (results[r] ?? 0) + 1;
    }
  }),
);
// Sessions whose client left while the backend keeps its side open (silent,
// client-reset) stay half-open, as they should: the backends close them now.
await sleep(200);
for (const s of backendSockets) s.destroy();
const settled = await waitFor(() => service.activeSessions === 0 && relayEngine().stats().sessions === 0, 20_000);
await sleep(100);
const stats = relayEngine().stats();
const after = openFds();
const counters = service.counters();
await service.stopListening();
backend.close();
process.stdout.write(
  JSON.stringify({
    addon: process.env.BATON_ENGINE_ADDON ?? 'build/Release',
    asan: readFileSync('/proc/self/maps', 'utf8').includes('libasan'),
    seed: SEED,
    sessions: SESSIONS, results, settled, before, after, stats, maxOpen, accepted: counters.total, active: counters.active, server: counters.servers[0], ms: Date.now() - started }) + '\n',
);
