/**
 * Maps the validated config onto the data plane's plain-data specs.
 */
import type { ServerState, ServiceSpec } from '@baton/proxy';
import type { ServiceConfig } from './config/types.js';

/** The state a server starts in: down until its first checks pass, unless the service says `initial: up` or has no health check. */
export function initialServerState(service: ServiceConfig): ServerState {
  if (!service.health) return 'up';
  return service.health.initial === 'up' ? 'up' : 'down';
}

export function toServiceSpec(service: ServiceConfig): ServiceSpec {
  const initialState = initialServerState(service);
  return {
    name: service.name,
    host: service.listen.host,
    port: service.listen.port,
    balance: service.balance,
    connectTimeoutMs: service.connectTimeoutMs,
    idleTimeoutMs: service.idleTimeoutMs,
    retries: service.retries,
    writerOnChange: service.writer?.onChange ?? 'close',
    ...(service.maxConnections !== undefined ? { maxConnections: service.maxConnections } : {}),
    queueTimeoutMs: service.queueTimeoutMs,
    logSessions: service.logSessions,
    servers: service.servers.map((s) => ({
      name: s.name,
      host: s.address.host,
      port: s.address.port,
      weight: s.weight,
      backup: s.backup,
      ...((s.sendProxy ?? service.sendProxy) ? { sendProxy: s.sendProxy ?? service.sendProxy } : {}),
      initialState,
      ...(s.maxConnections !== undefined ? { maxConnections: s.maxConnections } : {}),
    })),
  };
}
