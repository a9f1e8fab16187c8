/**
 * @baton/vrrp public API: the advert codec, the pure state machine, the
 * Router shell and its ports, an in-memory LAN for tests, and (io/) the
 * Linux adapters for the ports.
 */
export * from './types.js';
export * from './constants.js';
export * from './checksum.js';
export * from './ipv4.js';
export * from './codec.js';
export * from './state-machine.js';
export * from './ports.js';
export * from './router.js';
export * from './fakes.js';
export * from './lan.js';
export * from './io/index.js';
