/**
 * The normalized configuration: what the YAML file means once validated.
 * Keys are camelCase, durations are milliseconds (`...Ms`), addresses are
 * split into host and port, defaults are filled in. Everything downstream of
 * the loader (data plane, health, VRRP, admin) consumes these types only.
 *
 * The YAML spelling (snake_case) is documented in docs/config.md.
 */

export interface HostPort {
  host: string;
  port: number;
}

export type BalanceKind = 'roundrobin' | 'leastconn' | 'source' | 'writer';
export type HealthCheckKind = 'tcp' | 'http' | 'mysql' | 'galera' | 'script';

export interface ServerConfig {
  name: string;
  address: HostPort;
  /** 0-256, default 1; 0 takes no new clients. */
  weight: number;
  /** Takes clients only while no primary (non-backup) server is up. */
  backup: boolean;
  /** PROXY protocol version sent to this server before the client's bytes (send_proxy: v1 | v2). */
  sendProxy?: 1 | 2;
  /** At most this many sessions to this server at once, daemon-wide; more clients wait in the queue. */
  maxConnections?: number;
}

export interface WriterConfig {
  /** first: first up server in config order; galera-index: up server with the lowest wsrep_local_index. */
  pick: 'first' | 'galera-index';
  /** false: keep the current writer while it stays up, even when a preferred one returns. */
  failback: boolean;
  /** close: close client sessions to the old writer when the writer changes. */
  onChange: 'close' | 'keep';
}

export interface HealthConfig {
  check: HealthCheckKind;
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  /** State before the first checks complete; default 'down'. */
  initial: 'up' | 'down';
  /** Port to check (tcp, http, mysql, galera); default the server's port. */
  port?: number;
  // http
  path: string;
  status: number;
  expect?: string;
  // mysql, galera
  user?: string;
  passwordEnv?: string;
  database?: string;
  query: string;
  requireWritable: boolean;
  maxReplicaLagS?: number;
  donorOk: boolean;
  // script
  command?: string[];
}

export interface ServiceConfig {
  name: string;
  listen: HostPort;
  balance: BalanceKind;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** Other servers tried when a connect is refused or times out. */
  retries: number;
  /** Present exactly when balance is 'writer'. */
  writer?: WriterConfig;
  health?: HealthConfig;
  servers: ServerConfig[];
  /** PROXY protocol header for every server of the service that does not set its own. */
  sendProxy?: 1 | 2;
  /** At most this many clients at once, daemon-wide; more wait in the listen backlog. */
  maxConnections?: number;
  /** How long a client waits in the queue for a server slot before it is closed. */
  queueTimeoutMs: number;
  /** One log line per session at its close. */
  logSessions: boolean;
}

export interface VrrpTrackScript {
  command: string[];
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  /** 0: failure means FAULT; otherwise the priority moves by weight (keepalived semantics). */
  weight: number;
}

export interface VrrpTrackInterface {
  name: string;
  /** 0: link down means FAULT; otherwise the priority moves by weight (keepalived semantics). */
  weight: number;
}

/** Scripts run as written on entering a state (keepalived's notify_master, ...), before `notify`. */
export interface VrrpStateScripts {
  master: string[][];
  backup: string[][];
  fault: string[][];
  stop: string[][];
}

export interface VrrpSyncGroupConfig {
  name: string;
  /** Names of vrrp instances; each instance is in at most one group. */
  instances: string[];
  /** Called as ...argv GROUP NAME STATE when the whole group has changed state. */
  notify: string[][];
  notifyOn: VrrpStateScripts;
}

export interface VirtualIp {
  address: string;
  prefixLength: number;
}

export interface VrrpInstanceConfig {
  name: string;
  interface: string;
  routerId: number;
  /** 1-254; 255 = address owner. */
  priority: number;
  version: 2 | 3;
  advertIntervalMs: number;
  preempt: boolean;
  preemptDelayMs: number;
  authPassEnv?: string;
  /** Empty = multicast 224.0.0.18. */
  unicastPeers: string[];
  /** Source address for unicast adverts; default the interface's primary address. */
  unicastSrcIp?: string;
  virtualIps: VirtualIp[];
  /** delayMs: the second gratuitous ARP burst after becoming master (keepalived's garp_master_delay). */
  garp: { repeat: number; intervalMs: number; refreshMs: number; delayMs: number };
  track: { interfaces: VrrpTrackInterface[]; services: string[]; scripts: VrrpTrackScript[] };
  /** Each entry an argv prefix; called as ...argv INSTANCE NAME STATE PRIORITY. */
  notify: string[][];
  notifyOn: VrrpStateScripts;
  /** VRRPv3 checksum without the pseudo-header, as keepalived's vrrp_version 3 + v3_checksum_as_v2. */
  v3ChecksumAsV2: boolean;
}

export interface AdminConfig {
  listen: HostPort;
  tokenEnv?: string;
}

/** `cluster:`: the other Baton nodes this one agrees with on writers. */
export interface ClusterConfig {
  /** UDP address this node receives peer messages on. */
  listen: HostPort;
  peers: HostPort[];
  /** Environment variable holding the shared HMAC secret. */
  secretEnv: string;
  /** How long a starting node waits for its peers' decisions before it decides alone. */
  startupWaitMs: number;
}

/** Where `cluster:` keeps its decisions when `state_file` is not set. */
export const DEFAULT_STATE_FILE = '/var/lib/baton/state.json';

export interface BatonConfig {
  node: string;
  admin: AdminConfig;
  /** Data-plane worker processes; 'auto' = CPU count. */
  workers: number | 'auto';
  /** Which relay moves the bytes: the native engine, or the JavaScript one (a fallback). Changes need a restart. */
  engine: 'native' | 'js';
  /** How long open sessions may finish on SIGTERM before they are closed. */
  shutdownTimeoutMs: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  vrrp: VrrpInstanceConfig[];
  vrrpSyncGroups: VrrpSyncGroupConfig[];
  /** The VRRP child's scheduling; absent = the defaults (SCHED_RR 10, memory not locked). */
  vrrpScheduling?: VrrpScheduling;
  services: ServiceConfig[];
  cluster?: ClusterConfig;
  /**
   * Where writer decisions are kept across restarts: `state_file`, or
   * DEFAULT_STATE_FILE when `cluster:` is set; none otherwise.
   */
  stateFile?: string;
}

/** `vrrp_scheduling:`: SCHED_RR priority of the VRRP child (0 = normal) and mlockall. */
export interface VrrpScheduling {
  realtimePriority: number;
  lockMemory: boolean;
}
