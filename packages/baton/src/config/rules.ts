/**
 * Rules that relate several values of the config: duplicate names, listen
 * ports two services cannot both bind, writer settings on a service that has
 * no writer, advert_interval against the VRRP version, track.services naming
 * a service that does not exist, and the warnings (secrets named but not set
 * in this environment, health options the chosen check ignores, a health
 * timeout longer than its interval).
 *
 * They run on the raw YAML value, not on the schema's output, so they still
 * report when the schema has found errors elsewhere in the file: one
 * `baton check` lists every problem. Every read is therefore defensive; a
 * value of the wrong type is skipped here because the schema reports it.
 */
import { formatDuration, parseDuration } from '@baton/core';
import { formatHostPort, listensClash, parseHostPort } from './address.js';
import type { PathIssue } from './issue.js';
import { ADMIN_DEFAULT_LISTEN, HEALTH_DEFAULTS, VRRP_DEFAULTS } from './schema.js';
import type { HostPort } from './types.js';

type RawMap = Record<string, unknown>;

function asMap(value: unknown): RawMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as RawMap) : {};
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Milliseconds of a raw duration, the default when absent, undefined when invalid (the schema reports it). */
function durationMs(value: unknown, fallback: string): number | undefined {
  const parsed = parseDuration(value === undefined ? fallback : value);
  return parsed.ok ? parsed.ms : undefined;
}

function endpointOf(value: unknown): HostPort | undefined {
  const text = asString(value);
  if (text === undefined) return undefined;
  const parsed = parseHostPort(text);
  return parsed.ok ? parsed.value : undefined;
}

/** Health options and the checks that read them; any other check ignores them. */
const HEALTH_OPTION_CHECKS: Record<string, readonly string[]> = {
  port: ['tcp', 'http', 'mysql', 'galera'],
  path: ['http'],
  status: ['http'],
  expect: ['http'],
  user: ['mysql', 'galera'],
  password_env: ['mysql', 'galera'],
  database: ['mysql', 'galera'],
  query: ['mysql', 'galera'],
  require_writable: ['mysql', 'galera'],
  max_replica_lag: ['mysql', 'galera'],
  donor_ok: ['galera'],
  command: ['script'],
};

const OTHER_BALANCES: ReadonlySet<string> = new Set(['roundrobin', 'leastconn', 'source']);

export interface RuleResult {
  errors: PathIssue[];
  warnings: PathIssue[];
}

/** Checks the relations between values of a raw (parsed YAML, not yet validated) config. */
export function checkRules(raw: unknown, env: NodeJS.ProcessEnv): RuleResult {
  const errors: PathIssue[] = [];
  const warnings: PathIssue[] = [];
  const root = asMap(raw);
  const services = asList(root.services).map(asMap);
  const serviceNames = new Set(services.map((s) => asString(s.name)).filter((n): n is string => n !== undefined));

  const admin = asMap(root.admin);
  const tokenEnv = asString(admin.token_env);
  if (tokenEnv !== undefined && env[tokenEnv] === undefined) {
    warnings.push({
      path: ['admin', 'token_env'],
      message: `${tokenEnv} is not set in this environment; where it is unset the admin API accepts changes without a token`,
    });
  }
  const adminListen = endpointOf(admin.listen ?? ADMIN_DEFAULT_LISTEN);

  checkServices(services, adminListen, env, errors, warnings);
  if (root.engine === 'js') checkJsEngine(services, errors);
  checkVrrp(asList(root.vrrp).map(asMap), serviceNames, env, errors, warnings);
  const cluster = asMap(root.cluster);
  const secretEnv = asString(cluster.secret_env);
  if (secretEnv !== undefined && !env[secretEnv]) {
    warnings.push({ path: ['cluster', 'secret_env'], message: `${secretEnv} is not set in this environment; baton start refuses to run the cluster without its secret` });
  }
  const clusterListen = endpointOf(cluster.listen);
  for (const [i, peer] of asList(cluster.peers).entries()) {
    const p = endpointOf(peer);
    if (p && clusterListen && p.host === clusterListen.host && p.port === clusterListen.port) {
      errors.push({ path: ['cluster', 'peers', i], message: 'is this node\'s own cluster.listen; list the other nodes only' });
    }
  }
  // Sync groups: every member is a vrrp instance, in one group at most; group names are unique.
  const instanceNames = new Set(asList(root.vrrp).map((v) => asString(asMap(v).name)).filter((n): n is string => n !== undefined));
  const groupOf = new Map<string, string>();
  const groupNames = new Map<string, number>();
  asList(root.vrrp_sync_groups).forEach((raw, g) => {
    const group = asMap(raw);
    const groupName = asString(group.name);
    if (groupName !== undefined) {
      const first = groupNames.get(groupName);
      if (first !== undefined) errors.push({ path: ['vrrp_sync_groups', g, 'name'], message: `sync group "${groupName}" is already defined at vrrp_sync_groups[${first}]` });
      else groupNames.set(groupName, g);
    }
    const seen = new Set<string>();
    asList(group.instances).forEach((member, k) => {
      const m = asString(member);
      if (m === undefined) return;
      const at = ['vrrp_sync_groups', g, 'instances', k];
      if (!instanceNames.has(m)) errors.push({ path: at, message: `no vrrp instance is named "${m}"` });
      else if (seen.has(m)) errors.push({ path: at, message: `"${m}" is listed twice` });
      else if (groupOf.has(m)) errors.push({ path: at, message: `"${m}" is already in sync group "${groupOf.get(m)}"; an instance belongs to one group at most` });
      seen.add(m);
      if (!groupOf.has(m)) groupOf.set(m, groupName ?? `vrrp_sync_groups[${g}]`);
    });
  });
  return { errors, warnings };
}

function checkServices(
  services: RawMap[],
  adminListen: HostPort | undefined,
  env: NodeJS.ProcessEnv,
  errors: PathIssue[],
  warnings: PathIssue[],
): void {
  const firstByName = new Map<string, number>();
  const listens: { index: number; listen: HostPort }[] = [];

  services.forEach((service, i) => {
    const at = (...rest: PropertyKey[]): PropertyKey[] => ['services', i, ...rest];

    const name = asString(service.name);
    if (name !== undefined) {
      const first = firstByName.get(name);
      if (first !== undefined) errors.push({ path: at('name'), message: `service "${name}" is already defined at services[${first}]` });
      else firstByName.set(name, i);
    }

    const listen = endpointOf(service.listen);
    if (listen) {
      const clash = listens.find((other) => listensClash(other.listen, listen));
      if (clash) {
        errors.push({
          path: at('listen'),
          message: `${formatHostPort(listen)} clashes with services[${clash.index}].listen ${formatHostPort(clash.listen)}`,
        });
      } else if (adminListen && listensClash(adminListen, listen)) {
        errors.push({ path: at('listen'), message: `${formatHostPort(listen)} clashes with admin.listen ${formatHostPort(adminListen)}` });
      }
      listens.push({ index: i, listen });
    }

    const serverNames = new Map<string, number>();
    asList(service.servers).forEach((server, k) => {
      const serverName = asString(asMap(server).name);
      if (serverName === undefined) return;
      const first = serverNames.get(serverName);
      if (first !== undefined) {
        errors.push({ path: at('servers', k, 'name'), message: `server "${serverName}" is already defined at servers[${first}] of this service` });
      } else serverNames.set(serverName, k);
    });

    const balance = service.balance === undefined ? 'roundrobin' : asString(service.balance);
    const health = service.health === undefined ? undefined : asMap(service.health);
    const check = asString(health?.check);
    // With an invalid balance the schema already reports the real mistake.
    if (service.writer !== undefined && balance !== undefined && OTHER_BALANCES.has(balance)) {
      errors.push({
        path: at('writer'),
        at: 'key',
        message: `writer settings apply only to balance: writer; this service balances with ${balance}`,
      });
    } else if (balance === 'writer' && asMap(service.writer).pick === 'galera-index' && check !== 'galera') {
      errors.push({
        path: at('writer', 'pick'),
        message: `galera-index needs health check: galera, which reads wsrep_local_index (this service's check is ${check ?? 'not set'})`,
      });
    }

    if (health) checkHealth(health, check, (...rest) => at('health', ...rest), env, errors, warnings);
  });
}

/**
 * The JavaScript relay sends no PROXY protocol header, has no connection
 * limits or queue and logs no per-session line: those keys need the native
 * engine.
 */
const NATIVE_ONLY: Record<string, string> = {
  send_proxy: 'the JavaScript relay sends no PROXY protocol header',
  max_connections: 'the JavaScript relay has no connection limits or queue',
  queue_timeout: 'the JavaScript relay has no queue',
  log_sessions: 'the JavaScript relay logs no per-session line',
};
function checkJsEngine(services: RawMap[], errors: PathIssue[]): void {
  const check = (map: RawMap, path: PropertyKey[]) => {
    for (const key of Object.keys(NATIVE_ONLY)) {
      if (map[key] !== undefined) errors.push({ path: [...path, key], at: 'key', message: `${key} needs engine: native (${NATIVE_ONLY[key]})` });
    }
  };
  services.forEach((service, i) => {
    check(service, ['services', i]);
    asList(service.servers).forEach((server, k) => check(asMap(server), ['services', i, 'servers', k]));
  });
}

function checkHealth(
  health: RawMap,
  check: string | undefined,
  at: (...rest: PropertyKey[]) => PropertyKey[],
  env: NodeJS.ProcessEnv,
  errors: PathIssue[],
  warnings: PathIssue[],
): void {
  const intervalMs = durationMs(health.interval, HEALTH_DEFAULTS.interval);
  const timeoutMs = durationMs(health.timeout, HEALTH_DEFAULTS.timeout);
  if (intervalMs !== undefined && timeoutMs !== undefined && timeoutMs > intervalMs) {
    // Allowed, as HAProxy (`timeout check` > `inter`) and keepalived
    // (`connect_timeout` > `delay_loop`) allow it: checks of one server never
    // overlap, so a check that runs into its timeout is followed at once by
    // the next, and an unresponsive server is checked every `timeout`.
    const fall = typeof health.fall === 'number' && Number.isInteger(health.fall) && health.fall >= 1 ? health.fall : HEALTH_DEFAULTS.fall;
    warnings.push({
      path: at(health.timeout === undefined ? 'interval' : 'timeout'),
      message:
        `timeout ${formatDuration(timeoutMs)}${health.timeout === undefined ? ' (the default)' : ''} is longer than interval ${formatDuration(intervalMs)}: ` +
        `checks never overlap, so a server whose checks run into the timeout is checked only every ${formatDuration(timeoutMs)} ` +
        `and goes down after about ${formatDuration(fall * timeoutMs)} (fall ${fall} × timeout), not ${formatDuration(fall * intervalMs)}`,
    });
  }
  if (check === 'script' && health.command === undefined) {
    errors.push({ path: at('command'), message: 'is required for check: script' });
  }
  if (check !== undefined) {
    for (const [key, checks] of Object.entries(HEALTH_OPTION_CHECKS)) {
      if (health[key] !== undefined && !checks.includes(check)) {
        warnings.push({ path: at(key), at: 'key', message: `is ignored by check: ${check} (used by ${checks.join(', ')})` });
      }
    }
  }
  const passwordEnv = asString(health.password_env);
  if (passwordEnv !== undefined && env[passwordEnv] === undefined) {
    warnings.push({
      path: at('password_env'),
      message: `${passwordEnv} is not set in this environment; it must be set where baton runs`,
    });
  }
}

function checkVrrp(
  instances: RawMap[],
  serviceNames: ReadonlySet<string>,
  env: NodeJS.ProcessEnv,
  errors: PathIssue[],
  warnings: PathIssue[],
): void {
  const firstByName = new Map<string, number>();
  const firstByRouter = new Map<string, number>();
  const firstByVip = new Map<string, number>();

  instances.forEach((vrrp, i) => {
    const at = (...rest: PropertyKey[]): PropertyKey[] => ['vrrp', i, ...rest];

    const name = asString(vrrp.name);
    if (name !== undefined) {
      const first = firstByName.get(name);
      if (first !== undefined) errors.push({ path: at('name'), message: `VRRP instance "${name}" is already defined at vrrp[${first}]` });
      else firstByName.set(name, i);
    }

    // RFC 5798 §7.3: the VRID picks the virtual MAC and tells adverts apart;
    // two instances with one VRID on one link would each take the other's
    // adverts as their own router's.
    const iface = asString(vrrp.interface);
    const routerId = typeof vrrp.router_id === 'number' ? vrrp.router_id : NaN;
    // An out-of-range router_id is the schema's error; comparing it here would report it twice.
    if (iface !== undefined && Number.isInteger(routerId) && routerId >= 1 && routerId <= 255) {
      const key = `${iface}/${routerId}`;
      const first = firstByRouter.get(key);
      if (first !== undefined) {
        errors.push({ path: at('router_id'), message: `router_id ${routerId} on ${iface} is already used by vrrp[${first}]` });
      } else firstByRouter.set(key, i);
    }

    asList(vrrp.virtual_ips).forEach((vip, k) => {
      const address = asString(vip)?.split('/')[0];
      if (address === undefined) return;
      const first = firstByVip.get(address);
      if (first !== undefined && first !== i) {
        errors.push({ path: at('virtual_ips', k), message: `virtual IP ${address} is also owned by vrrp[${first}]` });
      } else firstByVip.set(address, i);
    });

    const version = vrrp.version === undefined ? VRRP_DEFAULTS.version : vrrp.version;
    const advertMs = durationMs(vrrp.advert_interval, VRRP_DEFAULTS.advertInterval);
    if (advertMs !== undefined && version === 2) {
      // RFC 3768 §5.3.7: Adver Int is an 8-bit count of seconds.
      if (advertMs % 1000 !== 0 || advertMs < 1000 || advertMs > 255_000) {
        errors.push({
          path: at('advert_interval'),
          message: `VRRPv2 advertises whole seconds 1-255 (RFC 3768 §5.3.7); ${formatDuration(advertMs)} cannot be sent`,
        });
      }
    } else if (advertMs !== undefined && version === 3) {
      // RFC 5798 §5.2.7: Max Adver Int is a 12-bit count of centiseconds.
      if (advertMs % 10 !== 0 || advertMs < 10 || advertMs > 40_950) {
        errors.push({
          path: at('advert_interval'),
          message: `VRRPv3 advertises multiples of 10ms from 10ms to 40.95s (RFC 5798 §5.2.7); ${formatDuration(advertMs)} cannot be sent`,
        });
      }
    }

    const authPassEnv = asString(vrrp.auth_pass_env);
    if (vrrp.auth_pass_env !== undefined && version === 3) {
      // RFC 5798 §9: VRRPv3 removed authentication; keepalived ignores it with version 3.
      errors.push({ path: at('auth_pass_env'), at: 'key', message: 'needs version: 2; VRRPv3 has no authentication (RFC 5798 §9)' });
    } else if (authPassEnv !== undefined && env[authPassEnv] === undefined) {
      warnings.push({
        path: at('auth_pass_env'),
        message: `${authPassEnv} is not set in this environment; it must be set where baton runs`,
      });
    }

    asList(asMap(vrrp.track).services).forEach((service, k) => {
      if (typeof service === 'string' && !serviceNames.has(service)) {
        errors.push({ path: at('track', 'services', k), message: `no service is named "${service}"` });
      }
    });
  });
}
