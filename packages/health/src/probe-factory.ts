/**
 * Builds the probe for one server from a check description shaped like the
 * daemon's normalized HealthConfig (same field names), so the daemon's
 * mapping is one line: resolve `password_env` to `password` and pass the rest.
 *
 * Invariant: a missing required option (user for mysql/galera, command for
 * script) is a configuration bug and throws a BatonError with code
 * `health-config`; the config loader rejects such files before they get here.
 */
import { BatonError } from '@baton/core';
import { createGaleraProbe } from './galera.js';
import { createHttpProbe } from './http.js';
import { createMysqlProbe } from './mysql.js';
import type { Probe, ProbeTarget } from './probe.js';
import { createScriptProbe } from './script.js';
import { createTcpProbe } from './tcp.js';

export type CheckKind = 'tcp' | 'http' | 'mysql' | 'galera' | 'script';

export interface ProbeSpec {
  check: CheckKind;
  timeoutMs: number;
  /** Port to check; default the server's (tcp, http, mysql, galera). */
  port?: number;
  // http
  path?: string;
  status?: number;
  expect?: string;
  // mysql, galera
  user?: string;
  /** Already resolved from the environment variable `password_env` names. */
  password?: string;
  database?: string;
  query?: string;
  requireWritable?: boolean;
  maxReplicaLagS?: number;
  donorOk?: boolean;
  // script
  command?: readonly string[];
}

export function createProbe(spec: ProbeSpec, server: ProbeTarget): Probe {
  const target: ProbeTarget = { host: server.host, port: spec.port ?? server.port, ...(server.sendProxy ? { sendProxy: server.sendProxy } : {}) };
  switch (spec.check) {
    case 'tcp':
      return createTcpProbe(target);
    case 'http':
      return createHttpProbe(target, { path: spec.path, status: spec.status, expect: spec.expect });
    case 'mysql':
    case 'galera': {
      if (!spec.user) throw new BatonError('health-config', `${spec.check} check needs a user`);
      const creds = { user: spec.user, password: spec.password, database: spec.database, connectTimeoutMs: spec.timeoutMs };
      return spec.check === 'mysql'
        ? createMysqlProbe(target, { ...creds, query: spec.query, requireWritable: spec.requireWritable, maxReplicaLagS: spec.maxReplicaLagS })
        : createGaleraProbe(target, { ...creds, donorOk: spec.donorOk, requireWritable: spec.requireWritable });
    }
    case 'script':
      if (!spec.command || spec.command.length === 0) throw new BatonError('health-config', 'script check needs a command');
      // The script sees the server's own address, not the check port.
      return createScriptProbe(server, { command: spec.command, timeoutMs: spec.timeoutMs });
  }
}
