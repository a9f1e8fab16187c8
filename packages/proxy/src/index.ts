export * from './types.js';
export * from './pool.js';
export * from './relay.js';
export * from './service.js';
export * from './dataplane.js';
export * from './proxy-header.js';
export * from './balancers/index.js';
