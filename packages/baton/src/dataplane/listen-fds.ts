/**
 * `workers: N` with the native engine: the daemon binds every listening
 * socket itself and hands each worker its own descriptor of it (SCM_RIGHTS
 * over a socket pair per worker, native/fdpass.c), so all workers accept on
 * one kernel queue.
 *
 * Why not SO_REUSEPORT: a queue per worker loses the clients queued on a
 * worker that dies unless net.ipv4.tcp_migrate_req is set host-wide, and any
 * other process of the same user could join the group. One shared queue
 * held open by the daemon loses nothing: a worker's death or restart, and a
 * reload that keeps an address, never close the socket; clients queued
 * while every worker restarts wait in it.
 *
 * Invariants:
 * - ensure() binds every address a config needs and lacks, all or nothing:
 *   if one cannot be bound, the ones it just bound are closed and it throws.
 * - Each worker gets a descriptor once per address (`have` per worker);
 *   descriptors go on the socket pair before the IPC message naming them,
 *   so the worker finds them queued when it handles that message.
 * - prune() follows the applied config: an address no service uses any more
 *   is closed here and forgotten in every worker's `have` (the worker drops
 *   its copy by the same rule).
 */
import { BatonError, describeError } from '@baton/core';
import { lookupHost, relayEngine, type ServiceSpec } from '@baton/proxy';
import { LISTEN_BACKLOG_WORKERS } from './protocol.js';

export const listenKeyOf = (host: string, port: number): string => `${host}:${port}`;
const keyOf = (spec: ServiceSpec) => listenKeyOf(spec.host, spec.port);

export class SharedListeners {
  private readonly fds = new Map<string, number>();

  /** Binds what `specs` need and is not bound yet (all or nothing). */
  async ensure(specs: readonly ServiceSpec[]): Promise<void> {
    const fresh: number[] = [];
    try {
      for (const spec of specs) {
        const key = keyOf(spec);
        if (this.fds.has(key)) continue;
        const fd = relayEngine().bind(await lookupHost(spec.host), spec.port, LISTEN_BACKLOG_WORKERS);
        fresh.push(fd);
        this.fds.set(key, fd);
      }
    } catch (err) {
      for (const [key, fd] of this.fds) {
        if (fresh.includes(fd)) {
          relayEngine().closeFd(fd);
          this.fds.delete(key);
        }
      }
      throw new BatonError('listen-failed', `cannot listen: ${describeError(err)}`, { cause: err });
    }
  }

  /** Sends a worker the descriptors it lacks for `specs`; returns their keys in order. */
  send(socket: number, have: Set<string>, specs: readonly ServiceSpec[]): string[] {
    const keys = [...new Set(specs.map(keyOf))].filter((k) => !have.has(k) && this.fds.has(k));
    for (let i = 0; i < keys.length; i += 64) {
      const batch = keys.slice(i, i + 64);
      relayEngine().sendFds(socket, batch.map((k) => this.fds.get(k)!));
    }
    for (const k of keys) have.add(k);
    return keys;
  }

  /** Closes the addresses `specs` no longer use, and forgets them in every worker's set. */
  prune(specs: readonly ServiceSpec[], haves: Iterable<Set<string>>): void {
    const wanted = new Set(specs.map(keyOf));
    for (const [key, fd] of this.fds) {
      if (wanted.has(key)) continue;
      relayEngine().closeFd(fd);
      this.fds.delete(key);
    }
    for (const have of haves) for (const k of have) if (!wanted.has(k)) have.delete(k);
  }

  closeAll(): void {
    for (const fd of this.fds.values()) relayEngine().closeFd(fd);
    this.fds.clear();
  }
}

/** The worker's side: descriptors received, by address. */
export class InheritedListeners {
  private readonly fds = new Map<string, number>();

  constructor(private readonly socket: number) {}

  /** Takes the descriptors the daemon queued for `keys` (sent just before the message naming them). */
  receive(keys: readonly string[]): void {
    let got: number[] = [];
    while (got.length < keys.length) got = got.concat(relayEngine().recvFds(this.socket));
    keys.forEach((k, i) => {
      const old = this.fds.get(k);
      if (old !== undefined) relayEngine().closeFd(old);
      this.fds.set(k, got[i]!);
    });
  }

  get(host: string, port: number): number | undefined {
    return this.fds.get(listenKeyOf(host, port));
  }

  /** Drops the addresses the applied specs no longer use (the daemon forgets them by the same rule). */
  prune(specs: readonly ServiceSpec[]): void {
    const wanted = new Set(specs.map(keyOf));
    for (const [key, fd] of this.fds) {
      if (wanted.has(key)) continue;
      relayEngine().closeFd(fd);
      this.fds.delete(key);
    }
  }
}
