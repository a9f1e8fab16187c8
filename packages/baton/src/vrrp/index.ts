/** The daemon's VRRP subsystem: routers, tracking and counters per `vrrp:` instance. */
export { VrrpSubsystem } from './subsystem.js';
export { VrrpInstance, type InstanceSnapshot } from './instance.js';
export { InstanceStats, type InstanceCounters } from './stats.js';
