/**
 * Free TCP ports on 127.0.0.1 for test services (MariaDB, Galera, daemons).
 *
 * Invariant: a port is found by binding port 0 and reading what the kernel
 * chose, then closing the socket. Another process could take it before the
 * caller binds it; the window is short, and ports handed out by this process
 * are never handed out twice, so several services started together by one
 * test never collide with each other.
 */
import { createServer } from 'node:net';

const handedOut = new Set<number>();

function bindZero(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** One free port on `host` (default 127.0.0.1) not yet handed out by this process. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await bindZero(host);
    if (port > 0 && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freePort: no free port found after 50 attempts');
}

/** `n` distinct free ports. */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) ports.push(await freePort(host));
  return ports;
}
