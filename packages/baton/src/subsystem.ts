/**
 * A part of the control plane with a life of its own (health checks, VRRP
 * routers, the admin API): started with the first config, given every new
 * config on reload, stopped on shutdown. The daemon composes them; each
 * lives in its own folder and reaches the rest only through what the daemon
 * hands it (SubsystemContext).
 */
import type { Logger } from '@baton/core';
import type { BatonConfig } from './config/types.js';
import type { ControlPlane } from './control-plane.js';

export interface SubsystemContext {
  logger: Logger;
  control: ControlPlane;
}

export interface Subsystem {
  readonly name: string;
  /** First config; may reject (the daemon then does not start). */
  start(config: BatonConfig): Promise<void>;
  /** A new, valid config; must not disturb what did not change (a VRRP master stays master). */
  reload(config: BatonConfig): Promise<void>;
  /** Graceful stop, before the data plane drains (VRRP sends priority 0 first). */
  stop(): Promise<void>;
}
