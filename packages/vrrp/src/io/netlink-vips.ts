/**
 * VipManager over rtnetlink (RTM_NEWADDR / RTM_DELADDR through the `netlink`
 * package): puts a VRRP instance's virtual IPs on its interface when it
 * becomes master and takes them off when it leaves master. No `ip` process is
 * forked: failover must not wait for fork/exec, and netlink errors come back
 * as errno names we can branch on.
 *
 * Invariants:
 * - add() and remove() are idempotent: an address already present (EEXIST)
 *   or already absent (EADDRNOTAVAIL, or the interface is gone) is success.
 * - Calls are applied strictly in call order, one after another, on an
 *   internal promise chain, even when a remove() is issued while an add() is
 *   still in flight (VipManager contract in ports.ts).
 * - Every VIP is attempted even when an earlier one fails; the returned
 *   promise rejects with one BatonError ('vip-add-failed' /
 *   'vip-remove-failed') naming the addresses that could not be changed.
 * - The interface index is looked up by name on each call, in the process's
 *   own network namespace.
 * - Leftovers from a crash: the daemon calls removeLeftovers() at start,
 *   before its router runs, so a node that does not become master never
 *   answers for a VIP; one that does becomes master through add() anyway.
 * - With `lifetimeS`, every VIP is added with that valid and preferred
 *   lifetime and, from an add() until the next remove() or close(), the
 *   lifetime is renewed every `refreshMs` (which also retries an add that
 *   failed). A node killed outright (the whole process group, by SIGKILL
 *   or the OOM killer) cannot run remove():
 *   its kernel drops the VIPs once the lifetime runs out instead of answering
 *   ARP for them, with connection refusals, until the node starts again. The
 *   renewal is queued on the same chain as add() and remove(), so it never
 *   re-adds a VIP a later remove() took off. A renewal that finds a VIP gone
 *   (removed by hand, or expired during a stall) adds it again and says so.
 */
import { BatonError, describeError, silentLogger, type Logger } from '@baton/core';
import { FlagsNew, type RtNetlinkSocket } from 'netlink';
import type { VipManager } from '../ports.js';
import {
  AF_INET,
  findLink,
  formatIpv4,
  ipv4Bytes,
  netlinkErrno,
  openRtNetlink,
  parseIpv4Prefix,
  type Ipv4Prefix,
} from './netlink-util.js';

export interface NetlinkVipOptions {
  interface: string;
  /** "10.0.0.10/24"; a bare address is /32. */
  vips: readonly string[];
  /** Valid and preferred lifetime of the VIPs in whole seconds, renewed while held; absent: forever. */
  lifetimeS?: number;
  /** How often a held VIP's lifetime is renewed (default 1000 ms). */
  refreshMs?: number;
  logger?: Logger;
}

/**
 * The VIP lifetime for an advert interval: long enough to outlast any stall
 * that VRRP itself survives (three adverts, the master-down interval, plus
 * two seconds), at least 3 s since the kernel checks lifetimes about once a
 * second. A node killed outright drops its VIPs this long after its last renewal.
 */
export function vipLifetimeSeconds(advertIntervalMs: number): number {
  return Math.max(3, Math.ceil((3 * advertIntervalMs) / 1000 + 2));
}

export interface NetlinkVipManager extends VipManager {
  /** Which of the configured VIPs are on the interface now (as "a.b.c.d/len"). */
  present(): Promise<string[]>;
  /** Removes configured VIPs found on the interface; resolves with those it removed. */
  removeLeftovers(): Promise<string[]>;
  /** Closes the netlink socket after the queued calls finish. Idempotent. */
  close(): Promise<void>;
}

export function createNetlinkVipManager(options: NetlinkVipOptions): NetlinkVipManager {
  const logger = options.logger ?? silentLogger;
  const vips: Ipv4Prefix[] = options.vips.map(parseIpv4Prefix);
  const ifname = options.interface;
  let nl: RtNetlinkSocket | undefined;
  let closed = false;
  let chain: Promise<unknown> = Promise.resolve();
  const lifetimeS = options.lifetimeS;
  if (lifetimeS !== undefined && (!Number.isInteger(lifetimeS) || lifetimeS < 1)) {
    throw new BatonError('invalid-config', `VIP lifetime must be a whole number of seconds ≥ 1, got ${lifetimeS}`);
  }
  const refreshMs = options.refreshMs ?? 1000;
  /** True from an add() until the next remove() or close(): the lifetime is being renewed. */
  let held = false;
  let refreshTimer: NodeJS.Timeout | undefined;
  /** The last renewal failed (logged once until one succeeds again). */
  let renewalFailing = false;
  const cacheInfo = lifetimeS !== undefined ? { cacheInfo: { ifaPrefered: lifetimeS, ifaValid: lifetimeS } } : {};

  const socket = (): RtNetlinkSocket => {
    if (closed) throw new BatonError('closed', 'VIP manager is closed');
    nl ??= openRtNetlink();
    return nl;
  };

  /** Runs `op` after every earlier call settled; the caller sees op's own outcome. */
  const enqueue = <T>(op: () => Promise<T>): Promise<T> => {
    const result = chain.then(op, op);
    chain = result.catch(() => undefined);
    return result;
  };

  /**
   * Adds one VIP; resolves true when it was not there before. An address
   * already present keeps its place and, with a lifetime, gets it renewed
   * (RTM_NEWADDR with NLM_F_REPLACE updates an existing address's lifetimes).
   */
  const putOne = async (s: RtNetlinkSocket, index: number, vip: Ipv4Prefix): Promise<boolean> => {
    const bytes = ipv4Bytes(vip.address);
    const header = { family: AF_INET, prefixlen: vip.prefixLength, index };
    const attrs = { local: bytes, address: bytes, label: ifname, ...cacheInfo };
    try {
      await s.newAddress(header, attrs, { flags: FlagsNew.CREATE | FlagsNew.EXCL });
      return true;
    } catch (err) {
      if (netlinkErrno(err) !== 'EEXIST') throw err;
    }
    if (lifetimeS !== undefined) await s.newAddress(header, attrs, { flags: FlagsNew.REPLACE });
    return false;
  };

  const addOne = async (s: RtNetlinkSocket, index: number, vip: Ipv4Prefix): Promise<void> => {
    if (await putOne(s, index, vip)) logger.info('VIP added', { interface: ifname, vip: `${vip.address}/${vip.prefixLength}` });
  };

  const renewOne = async (s: RtNetlinkSocket, index: number, vip: Ipv4Prefix): Promise<void> => {
    if (await putOne(s, index, vip)) {
      logger.warn('VIP was gone while held and was added again', { interface: ifname, vip: `${vip.address}/${vip.prefixLength}` });
    }
  };

  const stopRenewing = (): void => {
    held = false;
    if (refreshTimer) clearInterval(refreshTimer);
    refreshTimer = undefined;
  };

  /** Queues one renewal of every VIP's lifetime; skipped when the VIPs are no longer held by then. */
  const renew = (): void => {
    void enqueue(async () => {
      if (!held || closed) return;
      try {
        await forEachVip('vip-add-failed', renewOne, () => []);
        if (renewalFailing) logger.info('VIP lifetime renewed again', { interface: ifname });
        renewalFailing = false;
      } catch (err) {
        if (!renewalFailing) logger.warn('VIP lifetime renewal failed', { interface: ifname, error: describeError(err) });
        renewalFailing = true;
      }
    });
  };

  const removeOne = async (s: RtNetlinkSocket, index: number, vip: Ipv4Prefix): Promise<boolean> => {
    const bytes = ipv4Bytes(vip.address);
    try {
      await s.delAddress({ family: AF_INET, prefixlen: vip.prefixLength, index }, { local: bytes, address: bytes });
      logger.info('VIP removed', { interface: ifname, vip: `${vip.address}/${vip.prefixLength}` });
      return true;
    } catch (err) {
      const errno = netlinkErrno(err);
      if (errno === 'EADDRNOTAVAIL' || errno === 'ENODEV') return false;
      throw err;
    }
  };

  /** Applies `each` to every VIP, collecting failures into one error. */
  const forEachVip = async <T>(
    code: 'vip-add-failed' | 'vip-remove-failed',
    each: (s: RtNetlinkSocket, index: number, vip: Ipv4Prefix) => Promise<T>,
    onMissingInterface: () => T[],
  ): Promise<T[]> => {
    const s = socket();
    let index: number;
    try {
      index = (await findLink(s, ifname)).index;
    } catch (err) {
      if (err instanceof BatonError && err.code === 'no-such-interface' && code === 'vip-remove-failed') return onMissingInterface();
      throw new BatonError(code, `${code}: ${describeError(err)}`, { cause: err });
    }
    const results: T[] = [];
    const failed: string[] = [];
    let cause: unknown;
    for (const vip of vips) {
      try {
        results.push(await each(s, index, vip));
      } catch (err) {
        failed.push(`${vip.address}/${vip.prefixLength} (${netlinkErrno(err) ?? describeError(err)})`);
        cause ??= err;
      }
    }
    if (failed.length > 0) throw new BatonError(code, `${code} on ${ifname}: ${failed.join(', ')}`, { cause });
    return results;
  };

  const listPresent = async (): Promise<Ipv4Prefix[]> => {
    const s = socket();
    let index: number;
    try {
      index = (await findLink(s, ifname)).index;
    } catch (err) {
      if (err instanceof BatonError && err.code === 'no-such-interface') return [];
      throw err;
    }
    const addrs = await s.getAddresses({ family: AF_INET });
    const onLink = new Set<string>();
    for (const a of addrs) {
      if (a.data.index !== index || a.data.family !== AF_INET || !a.attrs.local) continue;
      onLink.add(`${formatIpv4(a.attrs.local)}/${a.data.prefixlen ?? 32}`);
    }
    return vips.filter((v) => onLink.has(`${v.address}/${v.prefixLength}`));
  };

  return {
    add: () =>
      enqueue(async () => {
        // Held from here even if an add fails: the renewal retries it every refreshMs (logged once).
        if (lifetimeS !== undefined && !held) {
          held = true;
          refreshTimer = setInterval(renew, refreshMs);
          refreshTimer.unref();
        }
        await forEachVip('vip-add-failed', addOne, () => []);
      }),
    remove: () =>
      enqueue(async () => {
        stopRenewing();
        await forEachVip('vip-remove-failed', removeOne, () => []);
      }),
    present: () => enqueue(async () => (await listPresent()).map((v) => `${v.address}/${v.prefixLength}`)),
    removeLeftovers: () =>
      enqueue(async () => {
        const found = await listPresent();
        if (found.length === 0) return [];
        const removed = await forEachVip('vip-remove-failed', removeOne, () => []);
        // The caller logs what was removed: one event, one line, where it is decided.
        return vips.filter((_, i) => removed[i]).map((v) => `${v.address}/${v.prefixLength}`);
      }),
    close: () =>
      enqueue(async () => {
        if (closed) return;
        stopRenewing();
        closed = true;
        nl?.socket.close();
        nl = undefined;
      }),
  };
}
