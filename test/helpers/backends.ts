/**
 * Backends and clients for end-to-end tests, all on 127.0.0.1: servers that
 * answer with their name and echo, and clients that read that name.
 */
import net from 'node:net';

export interface Backend {
  name: string;
  port: number;
  /** Sockets open now. */
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}

/** A backend that writes `name\n` to each client, echoes, and ends when the client ends. */
export function nameBackend(name: string, port = 0): Promise<Backend> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.write(`${name}\n`);
    socket.pipe(socket);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      resolve({
        name,
        port: (server.address() as net.AddressInfo).port,
        sockets,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** Connects, reads the first line, closes; rejects when the connection closes first. */
export function fetchName(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
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
    socket.on('close', () => reject(new Error('closed before a name arrived')));
  });
}

export interface HeldSession {
  socket: net.Socket;
  name: string;
  closed: Promise<void>;
}

/** Opens a session, resolves once the name arrived, and keeps it open. */
export function openSession(port: number): Promise<HeldSession> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    let data = '';
    const onData = (d: Buffer) => {
      data += d.toString('utf8');
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

/** Writes a line and resolves with what comes back first (the echo). */
export function ping(session: HeldSession, text = 'ping'): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no echo')), 3000);
    session.socket.once('data', (d: Buffer) => {
      clearTimeout(t);
      resolve(d.toString('utf8'));
    });
    session.socket.write(`${text}\n`);
  });
}

export function tally(names: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1;
  return out;
}

/** Runs `fn` `n` times, at most `concurrency` at once. */
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
