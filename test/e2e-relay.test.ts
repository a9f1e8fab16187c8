/**
 * The relay through the real daemon: 1 GiB each way at once with equal
 * SHA-256 at both ends, bounded memory under a slow reader, half-close, and
 * 5,000 concurrent connections held and closed cleanly.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { startBaton, rssBytes, type BatonProcess } from './helpers/baton.js';
import { sleep } from './helpers/backends.js';
import { freePorts } from './helpers/ports.js';

/** The relay under test: native unless BATON_TEST_ENGINE=js (see the *-js test files). */
const testEngine = process.env.BATON_TEST_ENGINE === 'js' ? 'js' : 'native';

const GiB = 1024 * 1024 * 1024;
const CHUNK = 1024 * 1024;

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

/** A backend whose behaviour per connection is chosen by the first byte the client sends. */
type Handler = (socket: net.Socket) => void;
let handler: Handler = () => undefined;
let backendPort = 0;
let baton: BatonProcess;
let proxyPort = 0;
const backendSockets = new Set<net.Socket>();

before(async () => {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    backendSockets.add(socket);
    socket.on('close', () => backendSockets.delete(socket));
    socket.on('error', () => undefined);
    handler(socket);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  backendPort = (server.address() as net.AddressInfo).port;
  cleanup.push(
    () =>
      new Promise<void>((r) => {
        for (const s of backendSockets) s.destroy();
        server.close(() => r());
      }),
  );
  const [port, admin] = await freePorts(2);
  proxyPort = port!;
  baton = await startBaton(`
admin: { listen: 127.0.0.1:${admin} }
workers: 1
engine: ${testEngine}
shutdown_timeout: 1s
services:
  - name: relay
    listen: 127.0.0.1:${proxyPort}
    servers:
      - { name: b, address: 127.0.0.1:${backendPort} }
`);
  cleanup.push(() => baton.stop());
});

/** Sends `total` bytes of `block` repeated, honouring backpressure; resolves with the SHA-256 of what was sent. */
function sendBulk(socket: net.Socket, total: number, block: Buffer): Promise<string> {
  const hash = createHash('sha256');
  let sent = 0;
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    const pump = () => {
      while (sent < total) {
        const n = Math.min(block.length, total - sent);
        const chunk = n === block.length ? block : block.subarray(0, n);
        hash.update(chunk);
        sent += n;
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.end();
      resolve(hash.digest('hex'));
    };
    pump();
  });
}

/** Reads until the end; resolves with the byte count and SHA-256. */
function receiveAll(socket: net.Socket): Promise<{ bytes: number; sha: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  return new Promise((resolve, reject) => {
    socket.on('data', (d: Buffer) => {
      bytes += d.length;
      hash.update(d);
    });
    socket.once('end', () => resolve({ bytes, sha: hash.digest('hex') }));
    socket.once('error', reject);
  });
}

test('1 GiB each way at once arrives intact at both ends', { timeout: 180_000 }, async () => {
  const up = randomBytes(CHUNK);
  const down = randomBytes(CHUNK);
  let backendSide: Promise<{ received: { bytes: number; sha: string }; sentSha: string }> | undefined;
  handler = (socket) => {
    backendSide = (async () => {
      const [received, sentSha] = await Promise.all([receiveAll(socket), sendBulk(socket, GiB, down)]);
      return { received, sentSha };
    })();
  };
  const client = net.connect({ port: proxyPort, host: '127.0.0.1', allowHalfOpen: true });
  await new Promise((r) => client.once('connect', r));
  const [clientReceived, clientSentSha] = await Promise.all([receiveAll(client), sendBulk(client, GiB, up)]);
  const backend = await backendSide!;
  assert.equal(backend.received.bytes, GiB);
  assert.equal(backend.received.sha, clientSentSha);
  assert.equal(clientReceived.bytes, GiB);
  assert.equal(clientReceived.sha, backend.sentSha);
  client.destroy();
});

test('a slow reader does not grow baton beyond 150 MB while 1 GiB comes', { timeout: 60_000 }, async () => {
  const block = randomBytes(CHUNK);
  let stopSending: (() => void) | undefined;
  handler = (socket) => {
    let sent = 0;
    let stopped = false;
    stopSending = () => {
      stopped = true;
      socket.destroy();
    };
    const pump = () => {
      while (!stopped && sent < GiB) {
        sent += block.length;
        if (!socket.write(block)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    pump();
  };
  const client = net.connect({ port: proxyPort, host: '127.0.0.1' });
  client.on('error', () => undefined);
  await new Promise((r) => client.once('connect', r));
  // Read 64 KiB every 20 ms (about 3 MB/s) for 4 s, sampling baton's RSS.
  client.pause();
  let read = 0;
  let peak = 0;
  const deadline = Date.now() + 4000;
  while (Date.now() < deadline) {
    let chunk: Buffer | null;
    let budget = 64 * 1024;
    while (budget > 0 && (chunk = client.read()) !== null) {
      read += chunk.length;
      budget -= chunk.length;
    }
    peak = Math.max(peak, rssBytes(baton.pid));
    await sleep(20);
  }
  stopSending?.();
  client.destroy();
  assert.ok(read > 0, 'the slow reader got data');
  assert.ok(peak < 150 * 1024 * 1024, `baton RSS peaked at ${(peak / 1048576).toFixed(1)} MB`);
});

test('half-close: the client shuts its write side and still gets the whole answer', async () => {
  handler = (socket) => {
    let n = 0;
    socket.on('data', (d: Buffer) => (n += d.length));
    socket.on('end', () => {
      socket.write(`received ${n} bytes\n`);
      setTimeout(() => socket.end('goodbye\n'), 100);
    });
  };
  const client = net.connect({ port: proxyPort, host: '127.0.0.1', allowHalfOpen: true });
  let answer = '';
  client.setEncoding('utf8').on('data', (d: string) => (answer += d));
  const ended = new Promise((r) => client.once('end', r));
  client.end(Buffer.alloc(300_000, 7));
  await ended;
  client.end();
  assert.equal(answer, 'received 300000 bytes\ngoodbye\n');
});

test('5,000 concurrent connections are held and all closed cleanly', { timeout: 120_000 }, async () => {
  handler = (socket) => {
    socket.write('hi\n');
    socket.on('end', () => socket.end());
  };
  const N = 5000;
  const clients: net.Socket[] = [];
  let greeted = 0;
  let errors = 0;
  const closed: Array<Promise<void>> = [];
  // Open in batches so the listen backlog is never the limit being tested.
  for (let i = 0; i < N; i += 250) {
    const batch: Array<Promise<void>> = [];
    for (let j = i; j < Math.min(N, i + 250); j++) {
      const c = net.connect({ port: proxyPort, host: '127.0.0.1', allowHalfOpen: true });
      clients.push(c);
      c.on('error', () => errors++);
      closed.push(new Promise((r) => c.once('close', () => r())));
      batch.push(
        new Promise<void>((resolve) => {
          c.once('data', () => {
            greeted++;
            resolve();
          });
          c.once('close', () => resolve());
        }),
      );
    }
    await Promise.all(batch);
  }
  assert.equal(greeted, N, 'every connection reached the backend and got its greeting');
  assert.equal(backendSockets.size, N, 'all held open at once');
  for (const c of clients) c.end();
  await Promise.all(closed);
  assert.equal(errors, 0);
  const start = Date.now();
  while (backendSockets.size > 0 && Date.now() - start < 5000) await sleep(20);
  assert.equal(backendSockets.size, 0, 'every backend socket closed');
});
