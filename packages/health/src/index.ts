/**
 * @baton/health: health checkers behind one Probe contract, the rise/fall
 * hysteresis (pure) and the scheduler (the shell that runs them on a Clock).
 * Depends only on @baton/core; the daemon maps its HealthConfig onto these
 * options (see createProbe in probe-factory.ts).
 */
export * from './probe.js';
export * from './hysteresis.js';
export * from './scheduler.js';
export * from './tcp.js';
export * from './http.js';
export * from './mysql.js';
export * from './galera.js';
export * from './script.js';
export * from './writer-pick.js';
export * from './probe-factory.js';
export { classify as classifyMysqlError, type MysqlCredentials } from './mysql-session.js';
