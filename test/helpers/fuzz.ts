/**
 * Shared pieces of the fuzz tests: a seeded PRNG, a raw HTTP exchange that
 * checks the answer is well-formed HTTP/1.1, and the daemon's state from
 * GET /api/status with its volatile fields removed, so two snapshots can be
 * compared byte for byte.
 */
import net from 'node:net';
import { readdirSync } from 'node:fs';
export { prng } from '@baton/vrrp/testing';

export const pick = <T>(rand: () => number, list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
export const randInt = (rand: () => number, lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
export function randBytes(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

export interface RawResponse {
  status: number;
  head: string;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Sends `request` (raw bytes, possibly in pieces with pauses) on a new
 * connection and resolves with the first response once it is whole (by
 * Content-Length; a HEAD answer has no body), or rejects when none comes
 * within `timeoutMs` or the bytes are not HTTP/1.1.
 */
export function rawExchange(port: number, request: Buffer | Buffer[], options: { head?: boolean; timeoutMs?: number; gapMs?: number } = {}): Promise<RawResponse> {
  const pieces = Array.isArray(request) ? request : [request];
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | undefined, value?: RawResponse) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(() => finish(new Error(`no whole answer within ${options.timeoutMs ?? 5000} ms; got ${JSON.stringify(buf.toString('latin1').slice(0, 300))}`)), options.timeoutMs ?? 5000);
    const tryParse = (ended: boolean) => {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (ended) finish(new Error(`connection closed without a whole head: ${JSON.stringify(buf.toString('latin1').slice(0, 300))}`));
        return;
      }
      const head = buf.subarray(0, end).toString('latin1');
      const lines = head.split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3}) [^\r\n]*$/.exec(lines[0] ?? '');
      if (!m) return finish(new Error(`bad status line ${JSON.stringify(lines[0])}`));
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const h = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/.exec(line);
        if (!h) return finish(new Error(`bad header line ${JSON.stringify(line)}`));
        headers[h[1]!.toLowerCase()] = h[2]!;
      }
      const status = Number(m[1]);
      const noBody = options.head || status === 204 || status === 304 || (status >= 100 && status < 200);
      const length = headers['content-length'];
      if (!noBody && length === undefined && headers['transfer-encoding'] === undefined) {
        if (!ended) return;
        return finish(undefined, { status, head, headers, body: buf.subarray(end + 4) });
      }
      if (!noBody && length === undefined) return finish(new Error(`chunked answer: not expected from this server:\n${head}`));
      const want = noBody ? 0 : Number(length);
      if (!Number.isInteger(want) || want < 0) return finish(new Error(`bad Content-Length ${length}`));
      if (buf.length - (end + 4) < want) {
        if (ended) finish(new Error(`body cut short: ${buf.length - end - 4} of ${want} bytes`));
        return;
      }
      finish(undefined, { status, head, headers, body: buf.subarray(end + 4, end + 4 + want) });
    };
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      tryParse(false);
    });
    socket.on('end', () => tryParse(true));
    socket.on('close', () => tryParse(true));
    socket.on('error', (err) => {
      // A reset after a whole answer (the server closed with our bytes unread) is fine.
      if (buf.length > 0) tryParse(true);
      else finish(err);
    });
    socket.on('connect', async () => {
      for (const [i, p] of pieces.entries()) {
        if (done) return;
        if (i > 0 && options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
        if (!socket.writable) return;
        socket.write(p);
      }
    });
  });
}

/**
 * The fields of GET /api/status that change on their own while nothing is
 * configured or decided, removed before two snapshots are compared:
 * - `uptime_s` (time passes);
 * - per service: `active`, `total` (connections);
 * - per server: `active`, `total`, `bytes_in`, `bytes_out`,
 *   `connect_errors` (traffic counters) and `check.ms` (how long the last
 *   health check took).
 * Everything else (node, version, pid, workers, auth, every VRRP field,
 * each service's listen/balance/writer, each server's address, state,
 * admin, health, weight, backup, check.ok and check.error) must be equal.
 */
export function stableStatus(status: any): string {
  const copy = structuredClone(status);
  delete copy.uptime_s;
  for (const svc of copy.services ?? []) {
    delete svc.active;
    delete svc.total;
    for (const srv of svc.servers ?? []) {
      for (const k of ['active', 'total', 'bytes_in', 'bytes_out', 'connect_errors']) delete srv[k];
      if (srv.check) delete srv.check.ms;
    }
  }
  return JSON.stringify(copy);
}

export async function statusOf(adminUrl: string): Promise<any> {
  const res = await fetch(`${adminUrl}/api/status`, { signal: AbortSignal.timeout(5000) });
  if (res.status !== 200) throw new Error(`GET /api/status: ${res.status}`);
  return res.json();
}

/** How many file descriptors a process has open. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Polls `fn` until it returns true or `ms` pass; resolves with whether it did. */
export async function eventually(fn: () => boolean | Promise<boolean>, ms: number, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
