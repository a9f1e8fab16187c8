/**
 * The zod schema of baton.yaml: the snake_case file format (docs/config.md) on
 * the input side, the normalized `BatonConfig` of types.ts on the output side
 * (camelCase, durations in ms, addresses split, defaults filled in).
 *
 * Every object is strict, so a misspelt key is an error rather than a setting
 * silently ignored. This schema checks each value on its own; rules that
 * relate several values (duplicate names, clashing listen ports, writer
 * settings on a non-writer service, advert_interval against version) live in
 * rules.ts, which runs even when this schema has already found errors, so
 * one `baton check` reports everything.
 */
import { hostname } from 'node:os';
import { isIPv4 } from 'node:net';
import { z } from 'zod';
import { parseDuration } from '@baton/core';
import { parseHostPort, parseVirtualIp } from './address.js';
import { checkExecutable } from './executable.js';
import { describeValue } from './messages.js';
import type {
  AdminConfig,
  BatonConfig,
  ClusterConfig,
  HealthConfig,
  ServerConfig,
  ServiceConfig,
  VrrpInstanceConfig,
  VrrpSyncGroupConfig,
  VrrpTrackInterface,
  VrrpTrackScript,
  WriterConfig,
} from './types.js';
import { DEFAULT_STATE_FILE } from './types.js';

/** Longest timer Node can arm (setTimeout clamps anything above 2^31-1 ms to 1 ms). */
const MAX_TIMER_MS = 2_147_483_647;

/** A duration (`100ms`, `2s`, `1m30s`, or a number of seconds) as whole milliseconds. */
function duration(min: 'zero' | 'positive' = 'positive') {
  return z
    .union([z.string(), z.number()], {
      error: (iss) =>
        iss.input === undefined ? undefined : `must be a duration such as 100ms, 2s, 8h, or a number of seconds; got ${describeValue(iss.input)}`,
    })
    .transform((value, ctx) => {
      const parsed = parseDuration(value);
      if (!parsed.ok) {
        ctx.addIssue({ code: 'custom', message: parsed.error, input: value });
        return z.NEVER;
      }
      if (min === 'positive' && parsed.ms === 0) {
        ctx.addIssue({ code: 'custom', message: 'must be longer than 0', input: value });
        return z.NEVER;
      }
      if (parsed.ms > MAX_TIMER_MS) {
        ctx.addIssue({ code: 'custom', message: 'must be at most 24d', input: value });
        return z.NEVER;
      }
      return parsed.ms;
    });
}

/** A whole number in [min, max]; one message for every way it can be wrong. */
function intIn(min: number, max: number) {
  const error = (iss: z.core.$ZodRawIssue): string | undefined =>
    iss.input === undefined ? undefined : `must be a whole number ${min}-${max}, got ${describeValue(iss.input)}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

/** Names that appear in admin URLs (`/api/services/SERVICE/servers/SERVER`), metric labels and notify argv. */
const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, {
    error: (iss) => `must be 1-63 letters, digits, "_", "." or "-", starting with a letter or digit; got ${describeValue(iss.input)}`,
  });

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
  error: (iss) => `must be the name of an environment variable, e.g. HCHECK_PASSWORD; got ${describeValue(iss.input)}`,
});

/** Linux interface names: at most IFNAMSIZ-1 = 15 characters. */
const interfaceName = z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/, {
  error: (iss) => `must be a network interface name (1-15 characters), got ${describeValue(iss.input)}`,
});

const endpoint = z.string().transform((text, ctx) => {
  const parsed = parseHostPort(text);
  if (!parsed.ok) {
    ctx.addIssue({ code: 'custom', message: parsed.error, input: text });
    return z.NEVER;
  }
  return parsed.value;
});

const ipv4 = z.string().refine((text) => isIPv4(text), {
  error: (iss) => `must be an IPv4 address, got ${describeValue(iss.input)}`,
});

const virtualIp = z.string().transform((text, ctx) => {
  const parsed = parseVirtualIp(text);
  if (!parsed.ok) {
    ctx.addIssue({ code: 'custom', message: parsed.error, input: text });
    return z.NEVER;
  }
  return parsed.value;
});

/**
 * An argv list run without a shell; argv[0] must be an absolute path to an
 * executable file on this host, checked now rather than at the first failover.
 */
function argv(hint: string) {
  const notList = (iss: z.core.$ZodRawIssue): string | undefined =>
    iss.code === 'invalid_type' && iss.input !== undefined ? `${hint}, got ${describeValue(iss.input)}` : undefined;
  return z
    .array(z.string().min(1), { error: notList })
    .min(1)
    .superRefine((args, ctx) => {
      const problem = checkExecutable(args[0] ?? '');
      if (problem) ctx.addIssue({ code: 'custom', message: problem, path: [0], input: args[0] });
    });
}

const command = argv('must be an argv list, e.g. [/usr/local/bin/check.sh, --quiet]');
/** A notify entry: a path, or an argv list whose first element is the path. */
const notifyEntry = z.preprocess(
  (value) => (typeof value === 'string' ? [value] : value),
  argv('must be a path or an argv list, e.g. [/etc/baton/notify.sh, --page]'),
);

// ---------------------------------------------------------------- services

const writerSchema = z
  .strictObject({
    pick: z.enum(['first', 'galera-index']).default('first'),
    failback: z.boolean().default(false),
    on_change: z.enum(['close', 'keep']).default('close'),
  })
  .transform((w): WriterConfig => ({ pick: w.pick, failback: w.failback, onChange: w.on_change }));

/** What a writer service gets when its `writer:` block is left out. */
export const DEFAULT_WRITER: WriterConfig = { pick: 'first', failback: false, onChange: 'close' };

/** Health defaults, shared with rules.ts (which compares timeout and interval on the raw file). */
export const HEALTH_DEFAULTS = { interval: '2s', timeout: '1s', fall: 3 } as const;

const healthSchema = z
  .strictObject({
    check: z.enum(['tcp', 'http', 'mysql', 'galera', 'script']),
    interval: duration().prefault(HEALTH_DEFAULTS.interval),
    timeout: duration().prefault(HEALTH_DEFAULTS.timeout),
    rise: intIn(1, 1000).default(2),
    fall: intIn(1, 1000).default(HEALTH_DEFAULTS.fall),
    initial: z.enum(['up', 'down']).default('down'),
    port: intIn(1, 65535).optional(),
    path: z.string().startsWith('/', { error: 'must start with "/"' }).default('/'),
    status: intIn(100, 599).default(200),
    expect: z.string().min(1).optional(),
    user: z.string().min(1).optional(),
    password_env: envName.optional(),
    database: z.string().min(1).optional(),
    query: z.string().min(1).default('SELECT 1'),
    require_writable: z.boolean().default(false),
    max_replica_lag: z.number().min(0).optional(),
    donor_ok: z.boolean().default(false),
    command: command.optional(),
  })
  .transform(
    (h): HealthConfig => ({
      check: h.check,
      intervalMs: h.interval,
      timeoutMs: h.timeout,
      rise: h.rise,
      fall: h.fall,
      initial: h.initial,
      ...(h.port !== undefined ? { port: h.port } : {}),
      path: h.path,
      status: h.status,
      ...(h.expect !== undefined ? { expect: h.expect } : {}),
      ...(h.user !== undefined ? { user: h.user } : {}),
      ...(h.password_env !== undefined ? { passwordEnv: h.password_env } : {}),
      ...(h.database !== undefined ? { database: h.database } : {}),
      query: h.query,
      requireWritable: h.require_writable,
      ...(h.max_replica_lag !== undefined ? { maxReplicaLagS: h.max_replica_lag } : {}),
      donorOk: h.donor_ok,
      ...(h.command !== undefined ? { command: h.command } : {}),
    }),
  );

/** PROXY protocol version (haproxy's send-proxy / send-proxy-v2). */
const sendProxy = z.enum(['v1', 'v2']).transform((v) => (v === 'v1' ? 1 : 2) as 1 | 2);

const serverSchema = z
  .strictObject({
    name,
    address: endpoint,
    weight: intIn(0, 256).default(1),
    backup: z.boolean().default(false),
    send_proxy: sendProxy.optional(),
    max_connections: intIn(1, 1_000_000).optional(),
  })
  .transform(
    (s): ServerConfig => ({
      name: s.name,
      address: s.address,
      weight: s.weight,
      backup: s.backup,
      ...(s.send_proxy !== undefined ? { sendProxy: s.send_proxy } : {}),
      ...(s.max_connections !== undefined ? { maxConnections: s.max_connections } : {}),
    }),
  );

const serviceSchema = z
  .strictObject({
    name,
    listen: endpoint,
    balance: z.enum(['roundrobin', 'leastconn', 'source', 'writer']).default('roundrobin'),
    connect_timeout: duration().prefault('2s'),
    idle_timeout: duration().prefault('8h'),
    retries: intIn(0, 16).default(2),
    writer: writerSchema.optional(),
    health: healthSchema.optional(),
    servers: z.array(serverSchema).min(1, { error: 'must list at least one server' }),
    send_proxy: sendProxy.optional(),
    max_connections: intIn(1, 1_000_000).optional(),
    queue_timeout: duration().prefault('5s'),
    log_sessions: z.boolean().default(false),
  })
  .transform((s): ServiceConfig => {
    // writer is present exactly when balance is writer; on any other service
    // rules.ts reports the block as an error, so dropping it here is safe.
    const writer = s.balance === 'writer' ? (s.writer ?? { ...DEFAULT_WRITER }) : undefined;
    return {
      name: s.name,
      listen: s.listen,
      balance: s.balance,
      connectTimeoutMs: s.connect_timeout,
      idleTimeoutMs: s.idle_timeout,
      retries: s.retries,
      ...(writer ? { writer } : {}),
      ...(s.health ? { health: s.health } : {}),
      servers: s.servers,
      ...(s.send_proxy !== undefined ? { sendProxy: s.send_proxy } : {}),
      ...(s.max_connections !== undefined ? { maxConnections: s.max_connections } : {}),
      queueTimeoutMs: s.queue_timeout,
      logSessions: s.log_sessions,
    };
  });

// ---------------------------------------------------------------- vrrp

const trackScriptSchema = z
  .strictObject({
    command,
    interval: duration().prefault('2s'),
    timeout: duration().prefault('2s'),
    rise: intIn(1, 1000).default(1),
    fall: intIn(1, 1000).default(1),
    // keepalived's track_script weight range is -253..253.
    weight: intIn(-253, 253).default(0),
  })
  .transform(
    (t): VrrpTrackScript => ({
      command: t.command,
      intervalMs: t.interval,
      timeoutMs: t.timeout,
      rise: t.rise,
      fall: t.fall,
      weight: t.weight,
    }),
  );

/**
 * A tracked interface: a name (link down = FAULT), or `{ name, weight }` as
 * keepalived's `track_interface { eth0 weight -20 }`: a weight moves the
 * priority instead (positive: added while the link is up; negative: added
 * while it is down), 0 means FAULT.
 */
const trackInterfaceSchema = z
  .union([interfaceName, z.strictObject({ name: interfaceName, weight: intIn(-253, 253).default(0) })], {
    error: (iss) =>
      iss.input === undefined ? undefined : `must be an interface name or { name, weight }, got ${describeValue(iss.input)}`,
  })
  .transform((t): VrrpTrackInterface => (typeof t === 'string' ? { name: t, weight: 0 } : { name: t.name, weight: t.weight }));

/** A sync group: instances that change state together (keepalived's vrrp_sync_group). */
const syncGroupSchema = z
  .strictObject({
    name,
    instances: z.array(name).min(2, { error: 'a sync group needs at least two instances' }),
    notify: z.array(notifyEntry).default(() => []),
    notify_master: z.array(notifyEntry).default(() => []),
    notify_backup: z.array(notifyEntry).default(() => []),
    notify_fault: z.array(notifyEntry).default(() => []),
    notify_stop: z.array(notifyEntry).default(() => []),
  })
  .transform(
    (g): VrrpSyncGroupConfig => ({
      name: g.name,
      instances: g.instances,
      notify: g.notify,
      notifyOn: { master: g.notify_master, backup: g.notify_backup, fault: g.notify_fault, stop: g.notify_stop },
    }),
  );

/** VRRP defaults, shared with rules.ts (which checks advert_interval against version on the raw file). */
export const VRRP_DEFAULTS = { version: 3, advertInterval: '1s' } as const;

const vrrpSchema = z
  .strictObject({
    name,
    interface: interfaceName,
    // RFC 5798 §5.2.3: VRID 1-255.
    router_id: intIn(1, 255),
    // RFC 5798 §5.2.4: 255 is the address owner; keepalived defaults to 100.
    priority: intIn(1, 255).default(100),
    version: z.literal([2, 3]).default(VRRP_DEFAULTS.version),
    advert_interval: duration().prefault(VRRP_DEFAULTS.advertInterval),
    preempt: z.boolean().default(true),
    preempt_delay: duration('zero').prefault('0s'),
    auth_pass_env: envName.optional(),
    unicast_peers: z.array(ipv4).default(() => []),
    unicast_src_ip: ipv4.optional(),
    virtual_ips: z.array(virtualIp).min(1, { error: 'must list at least one virtual IP' }),
    garp: z
      .strictObject({
        repeat: intIn(0, 100).default(5),
        interval: duration('zero').prefault('0s'),
        refresh: duration('zero').prefault('0s'),
        // keepalived's garp_master_delay: the second burst after becoming master.
        delay: duration('zero').prefault('5s'),
      })
      .prefault({}),
    track: z
      .strictObject({
        interfaces: z.array(trackInterfaceSchema).default(() => []),
        services: z.array(z.string().min(1)).default(() => []),
        scripts: z.array(trackScriptSchema).default(() => []),
      })
      .prefault({}),
    notify: z.array(notifyEntry).default(() => []),
    // keepalived's per-state scripts: run as written (no arguments added), before `notify`.
    notify_master: z.array(notifyEntry).default(() => []),
    notify_backup: z.array(notifyEntry).default(() => []),
    notify_fault: z.array(notifyEntry).default(() => []),
    notify_stop: z.array(notifyEntry).default(() => []),
    v3_checksum_as_v2: z.boolean().default(false),
  })
  .transform(
    (v): VrrpInstanceConfig => ({
      name: v.name,
      interface: v.interface,
      routerId: v.router_id,
      priority: v.priority,
      version: v.version,
      advertIntervalMs: v.advert_interval,
      preempt: v.preempt,
      preemptDelayMs: v.preempt_delay,
      ...(v.auth_pass_env !== undefined ? { authPassEnv: v.auth_pass_env } : {}),
      unicastPeers: v.unicast_peers,
      ...(v.unicast_src_ip !== undefined ? { unicastSrcIp: v.unicast_src_ip } : {}),
      virtualIps: v.virtual_ips,
      garp: { repeat: v.garp.repeat, intervalMs: v.garp.interval, refreshMs: v.garp.refresh, delayMs: v.garp.delay },
      track: { interfaces: v.track.interfaces, services: v.track.services, scripts: v.track.scripts },
      notify: v.notify,
      notifyOn: { master: v.notify_master, backup: v.notify_backup, fault: v.notify_fault, stop: v.notify_stop },
      v3ChecksumAsV2: v.v3_checksum_as_v2,
    }),
  );

// ---------------------------------------------------------------- top level

/** Admin defaults, shared with rules.ts (a service may not listen on the admin port). */
export const ADMIN_DEFAULT_LISTEN = '127.0.0.1:9900';

const adminSchema = z
  .strictObject({
    listen: endpoint.prefault(ADMIN_DEFAULT_LISTEN),
    token_env: envName.optional(),
  })
  .transform((a): AdminConfig => ({ listen: a.listen, ...(a.token_env !== undefined ? { tokenEnv: a.token_env } : {}) }));

const clusterSchema = z
  .strictObject({
    listen: endpoint,
    peers: z.array(endpoint).min(1, { error: 'must list at least one peer (host:port of another Baton node)' }),
    secret_env: envName,
    startup_wait: duration('zero').prefault('2s'),
  })
  .transform((c): ClusterConfig => ({ listen: c.listen, peers: c.peers, secretEnv: c.secret_env, startupWaitMs: c.startup_wait }));

const stateFile = z.string().startsWith('/', { error: 'must be an absolute path, e.g. /var/lib/baton/state.json' });

/**
 * The VRRP child process's scheduling (keepalived's vrrp_rt_priority and
 * vrrp_no_swap): SCHED_RR at this priority (0 = normal scheduling) and,
 * when asked, memory locked against swap. Applied when root; otherwise one warning.
 */
const vrrpSchedulingSchema = z
  .strictObject({
    realtime_priority: intIn(0, 99).default(10),
    lock_memory: z.boolean().default(false),
  })
  .transform((s) => ({ realtimePriority: s.realtime_priority, lockMemory: s.lock_memory }));

/** The whole file. Parse with `{ error: configErrorMap }` for YAML-flavoured messages. */
export const configSchema = z
  .strictObject({
    node: z.string().min(1).default(() => hostname()),
    admin: adminSchema.prefault({}),
    workers: z
      .union([z.literal('auto'), intIn(1, 64)], {
        error: (iss) => (iss.input === undefined ? undefined : `must be auto or a whole number 1-64, got ${describeValue(iss.input)}`),
      })
      .default('auto'),
    engine: z.enum(['native', 'js']).default('native'),
    shutdown_timeout: duration('zero').prefault('10s'),
    log_level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    vrrp: z.array(vrrpSchema).default(() => []),
    vrrp_sync_groups: z.array(syncGroupSchema).default(() => []),
    vrrp_scheduling: vrrpSchedulingSchema.prefault({}),
    services: z.array(serviceSchema).default(() => []),
    cluster: clusterSchema.optional(),
    state_file: stateFile.optional(),
  })
  .transform(
    (c): BatonConfig => ({
      node: c.node,
      admin: c.admin,
      workers: c.workers,
      engine: c.engine,
      shutdownTimeoutMs: c.shutdown_timeout,
      logLevel: c.log_level,
      vrrp: c.vrrp,
      vrrpSyncGroups: c.vrrp_sync_groups,
      vrrpScheduling: c.vrrp_scheduling,
      services: c.services,
      ...(c.cluster ? { cluster: c.cluster } : {}),
      ...(c.state_file !== undefined ? { stateFile: c.state_file } : c.cluster ? { stateFile: DEFAULT_STATE_FILE } : {}),
    }),
  );
