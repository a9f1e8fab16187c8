/**
 * Server hostnames for the native engine, which connects to IP addresses
 * only: literals pass through, `localhost` is 127.0.0.1 (what the backends
 * of a local setup listen on), other names are looked up once with the
 * system resolver and the answer kept for REFRESH_MS, then looked up again
 * in the background (a session never waits for a refresh).
 *
 * Invariants: resolvedHost() never blocks and never throws; a failed
 * lookup leaves the previous answer in place.
 */
import dns from 'node:dns';
import net from 'node:net';

const REFRESH_MS = 30_000;
const cache = new Map<string, { ip: string; at: number }>();
const inFlight = new Map<string, Promise<string>>();

/** The address to connect to now, or undefined when the name was never resolved. */
export function resolvedHost(host: string): string | undefined {
  if (net.isIP(host)) return host;
  if (host === 'localhost') return '127.0.0.1';
  const hit = cache.get(host);
  if (hit && performance.now() - hit.at > REFRESH_MS) lookupHost(host).catch(() => undefined);
  return hit?.ip;
}

/** Looks a name up (one lookup at a time per name) and remembers the answer. */
export function lookupHost(host: string): Promise<string> {
  const ip = net.isIP(host) ? host : host === 'localhost' ? '127.0.0.1' : undefined;
  if (ip) return Promise.resolve(ip);
  let p = inFlight.get(host);
  if (!p) {
    p = dns.promises.lookup(host).then(
      (r) => {
        inFlight.delete(host);
        cache.set(host, { ip: r.address, at: performance.now() });
        return r.address;
      },
      (err: unknown) => {
        inFlight.delete(host);
        throw err;
      },
    );
    inFlight.set(host, p);
  }
  return p;
}
