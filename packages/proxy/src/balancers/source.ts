/**
 * `source`: a client address always lands on the same server, by consistent
 * hashing (HAProxy's `balance source` with `hash-type consistent`, lb_chash).
 * Each eligible server owns POINTS_PER_WEIGHT * weight points on a 32-bit
 * hash ring; a client goes to the owner of the first point at or after the
 * hash of its address, wrapping at the top.
 *
 * Invariants:
 * - A server's points depend only on its name and weight, never on the other
 *   servers or on the order of calls. So every data-plane worker builds the
 *   same ring and sends a client to the same server; removing a server moves
 *   only its own clients (each to the next owner along the ring) and the
 *   others keep theirs; bringing it back returns exactly its old clients.
 * - Excluding servers (retries) walks on along the ring past their points,
 *   which gives the client the server it would get if those were down.
 * - Points of equal value are ordered by server name, so a collision does not
 *   depend on the order servers became eligible either.
 * - The ring is rebuilt only after a state or weight change, lazily on the
 *   next pick (a burst of changes at startup costs one rebuild). A pick in the
 *   steady state hashes without allocating and binary-searches the ring.
 * - A server whose weight is 0 owns no point and is never picked.
 */
import { BatonError } from '@baton/core';
import type { BalancedServer, Balancer } from './balancer.js';
import { normalizeWeight } from './weight.js';

/**
 * Points per unit of weight. 160 per server is the figure of ketama/nginx
 * consistent hashing: enough that equal servers get shares within a few
 * percent of each other, few enough that a rebuild is cheap.
 */
export const POINTS_PER_WEIGHT = 160;

/** Ring keys pack point * SLOT_SPAN + slot into a float64 (exact below 2^53). */
const SLOT_SPAN = 2 ** 20;

interface Entry<S> {
  readonly server: S;
  weight: number;
  /** This server's ring points, computed from its name and weight. */
  points: Uint32Array;
}

export class SourceBalancer<S extends BalancedServer = BalancedServer> implements Balancer<S> {
  readonly kind = 'source' as const;
  /** Eligible servers only; an ineligible server leaves no trace. */
  readonly #entries = new Map<S, Entry<S>>();
  #points = new Uint32Array(0);
  #owners: S[] = [];
  #dirty = false;

  setState(server: S, eligible: boolean): void {
    if (eligible) {
      if (this.#entries.has(server)) return;
      if (this.#entries.size >= SLOT_SPAN) {
        throw new BatonError('too-many-servers', `source balancing takes at most ${SLOT_SPAN} servers`);
      }
      const weight = normalizeWeight(server.weight);
      this.#entries.set(server, { server, weight, points: serverPoints(server.name, weight) });
      this.#dirty = true;
      return;
    }
    if (this.#entries.delete(server)) this.#dirty = true;
  }

  setWeight(server: S, weight: number): void {
    const entry = this.#entries.get(server);
    if (entry === undefined) return; // setState(true) reads server.weight
    const next = normalizeWeight(weight);
    if (next === entry.weight) return;
    entry.weight = next;
    // Points k < min(old, new) are unchanged: a weight change moves only the
    // share that changes hands.
    entry.points = serverPoints(server.name, next);
    this.#dirty = true;
  }

  /** `clientAddress` is the client's IP address without its port. */
  pick(clientAddress: string, exclude?: ReadonlySet<S>): S | undefined {
    if (this.#dirty) this.#rebuild();
    const points = this.#points;
    const owners = this.#owners;
    const n = points.length;
    if (n === 0) return undefined;
    const h = hashString(clientAddress);
    // Lower bound: the first point >= h; past the last point, wrap to 0.
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((points[mid] as number) < h) lo = mid + 1;
      else hi = mid;
    }
    let i = lo === n ? 0 : lo;
    if (exclude === undefined || exclude.size === 0) return owners[i];
    for (let k = 0; k < n; k++) {
      const s = owners[i] as S;
      if (!exclude.has(s)) return s;
      i = i + 1 === n ? 0 : i + 1;
    }
    return undefined;
  }

  onOpen(_server: S): void {
    // Source hashing does not look at load.
  }

  onClose(_server: S): void {
    // Source hashing does not look at load.
  }

  /** Points on the ring now (for status and tests). */
  ringSize(): number {
    if (this.#dirty) this.#rebuild();
    return this.#points.length;
  }

  #rebuild(): void {
    const members = [...this.#entries.values()].sort(byName);
    let total = 0;
    for (const m of members) total += m.points.length;
    // One numeric sort of packed keys orders points and breaks ties by slot
    // (name order) at once, without a comparator closure per element.
    const keys = new Float64Array(total);
    let k = 0;
    for (let slot = 0; slot < members.length; slot++) {
      const pts = (members[slot] as Entry<S>).points;
      for (let j = 0; j < pts.length; j++) keys[k++] = (pts[j] as number) * SLOT_SPAN + slot;
    }
    keys.sort();
    const points = new Uint32Array(total);
    const owners = new Array<S>(total);
    for (let i = 0; i < total; i++) {
      const key = keys[i] as number;
      const slot = key % SLOT_SPAN;
      points[i] = (key - slot) / SLOT_SPAN;
      owners[i] = (members[slot] as Entry<S>).server;
    }
    this.#points = points;
    this.#owners = owners;
    this.#dirty = false;
  }
}

function byName(a: { server: BalancedServer }, b: { server: BalancedServer }): number {
  return a.server.name < b.server.name ? -1 : a.server.name > b.server.name ? 1 : 0;
}

/** Point k of a server is the hash of "name#k": stable, and independent of every other server. */
function serverPoints(name: string, weight: number): Uint32Array {
  const count = Math.round(POINTS_PER_WEIGHT * weight);
  const points = new Uint32Array(count);
  for (let k = 0; k < count; k++) points[k] = hashString(`${name}#${k}`);
  return points;
}

/**
 * 32-bit FNV-1a over the string's UTF-16 code units, then murmur3's fmix32
 * finalizer. Hand-written because it is a dozen lines and a pick needs nothing
 * more: a library (or node:crypto, which allocates a Hash and a Buffer per
 * call) would add a dependency and allocation to the hot path for no gain.
 * FNV-1a alone spreads a change in the last character only towards the high
 * bits; the finalizer mixes every input bit into every output bit, so
 * neighbouring addresses (10.0.0.1, 10.0.0.2) land far apart on the ring.
 */
export function hashString(s: string): number {
  let h = 0x811c9dc5; // FNV offset basis
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193); // FNV prime
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
