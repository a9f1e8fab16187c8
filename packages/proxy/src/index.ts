export * from './types.js';
export * from './pool.js';
export * from './relay.js';
export * from './service.js';
export * from './dataplane.js';
export * from './limits.js';
export * from './balancers/index.js';
export { engineAvailable, engine as relayEngine, setEngineErrorHandler } from './engine/addon.js';
export { lookupHost } from './engine/resolve.js';
