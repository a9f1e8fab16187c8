/**
 * Backends and clients for end-to-end tests, all on 127.0.0.1: the data
 * plane's own test helpers (servers that answer with their name and echo,
 * clients that read that name), plus what only the end-to-end tests need.
 */
export { nameBackend, fetchName, openSession, tally, times, sleep, waitFor, type Backend } from '@baton/proxy/testing';

export interface HeldSession {
  socket: import('node:net').Socket;
  name: string;
  closed: Promise<void>;
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

