/**
 * The config loader's public API: load and validate baton.yaml into the
 * normalized types, and format the issues it reports.
 */
export type * from './types.js';
export { loadConfigFile, loadConfigText, type ConfigResult } from './load.js';
export { formatConfigIssue, formatPath, type ConfigIssue } from './issue.js';
export { configSchema, DEFAULT_WRITER } from './schema.js';
export { formatHostPort, listensClash, parseHostPort, parseVirtualIp } from './address.js';
export { checkExecutable, withExecutableCheck } from './executable.js';
