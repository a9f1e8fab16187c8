/**
 * A part of the control plane with a life of its own (health checks, VRRP
 * routers, the admin API): started with the first config, given every new
 * config on reload, stopped on shutdown. The daemon composes them; each
 * lives in its own folder and reaches the rest only through what the daemon
 * hands it (SubsystemContext).
 *
 * A reload is two-phase, so that it is all or nothing: every subsystem
 * prepares first (resolves its secrets, checks its interfaces and
 * addresses, binds what it will listen on) without changing what runs; only
 * when every one has prepared, and the data plane has applied, are they
 * committed. A prepare that rejects makes the daemon abort every other one.
 */
import type { Logger } from '@baton/core';
import type { BatonConfig } from './config/types.js';
import type { ControlPlane } from './control-plane.js';

export interface SubsystemContext {
  logger: Logger;
  control: ControlPlane;
}

/** Fields for the daemon's `config reloaded` line: what a commit applied. */
export type ReloadFields = Record<string, string>;

/** A reload a subsystem has checked and may now apply. */
export interface PreparedReload {
  /**
   * Applies the new config; must not disturb what did not change (a VRRP
   * master stays master). Fails only for what prepare cannot foresee (a
   * child process that died meanwhile); resolves with what it applied.
   */
  commit(): Promise<ReloadFields>;
  /** Releases what prepare took (a listener bound in advance); the running config stays. */
  abort(): Promise<void>;
}

export interface Subsystem {
  readonly name: string;
  /** First config; may reject (the daemon then does not start). */
  start(config: BatonConfig): Promise<void>;
  /** Checks a new, valid config without changing anything; rejects with the reason it cannot be applied. */
  prepare(config: BatonConfig): Promise<PreparedReload>;
  /** Graceful stop, before the data plane drains (VRRP sends priority 0 first). */
  stop(): Promise<void>;
}
