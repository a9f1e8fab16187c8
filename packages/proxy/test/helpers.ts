/**
 * Real-socket helpers for the data-plane tests: backends that answer with
 * their name, clients that read until the end, all on 127.0.0.1 with
 * OS-assigned ports.
 */
import net from 'node:net';
import { Service, type RelayEngine, type ServiceSpec, type ServerSpec } from '../src/index.js';

export interface Backend {
  name: string;
  port: number;
  server: net.Server;
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}

/** A backend that writes `name\n` to each client, echoes what it gets, and ends when the client ends. */
export async function nameBackend(name: string, port = 0): Promise<Backend> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.write(`${name}\n`);
    socket.pipe(socket);
  });
  return listenBackend(name, server, sockets, port);
}

export async function listenBackend(name: string, server: net.Server, sockets: Set<net.Socket>, port = 0): Promise<Backend> {
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const addr = server.address() as net.AddressInfo;
  return {
    name,
    port: addr.port,
    server,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Connects, reads the first line (the backend's name), and closes. Rejects on error. */
export function fetchName(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      data += d;
      const nl = data.indexOf('\n');
      if (nl >= 0) {
        socket.end();
        resolve(data.slice(0, nl));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed before a name arrived (got ${JSON.stringify(data)})`)));
  });
}

/** Opens a session and keeps it; resolves once the backend's name arrived. */
export function openSession(port: number): Promise<{ socket: net.Socket; name: string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    let data = '';
    socket.setEncoding('utf8');
    const onData = (d: string) => {
      data += d;
      const nl = data.indexOf('\n');
      if (nl >= 0) {
        socket.removeListener('data', onData);
        socket.removeListener('error', reject);
        socket.on('error', () => undefined);
        resolve({ socket, name: data.slice(0, nl), closed });
      }
    };
    socket.on('data', onData);
    socket.on('error', reject);
  });
}

export function serviceSpec(servers: Array<Partial<ServerSpec> & { name: string; port: number }>, extra: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    name: 'svc',
    host: '127.0.0.1',
    port: 0,
    balance: 'roundrobin',
    connectTimeoutMs: 1000,
    idleTimeoutMs: 0,
    retries: 2,
    writerOnChange: 'close',
    servers: servers.map((s) => ({ host: '127.0.0.1', weight: 1, backup: false, ...s })),
    ...extra,
  };
}

/** The relay under test: native unless BATON_TEST_ENGINE=js (the JavaScript relay stays under the same tests). */
export function testEngine(): RelayEngine {
  return process.env.BATON_TEST_ENGINE === 'js' ? 'js' : 'native';
}

export async function startService(spec: ServiceSpec): Promise<{ service: Service; port: number }> {
  const service = new Service(spec, { engine: testEngine() });
  await service.listen();
  return { service, port: service.boundPort! };
}

export function tally(names: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1;
  return out;
}

/** Runs `fn` `n` times, at most `concurrency` at once, preserving order of results. */
export async function times<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, concurrency) }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 10 ms until true or `ms` passed; returns whether it became true. */
export async function waitFor(cond: () => boolean, ms = 2000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(10);
  }
  return cond();
}

/** Deterministic PRNG (mulberry32): random-looking sequences that replay the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
