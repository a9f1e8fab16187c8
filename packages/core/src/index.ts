export * from './clock.js';
export * from './errors.js';
export * from './duration.js';
export * from './logger.js';
export * from './testing.js';
export * from './run-command.js';
