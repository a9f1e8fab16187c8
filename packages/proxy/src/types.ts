/**
 * The data plane's API in plain data, so a control plane in another process
 * can drive it (specs and state changes in, counters out) without sharing
 * objects.
 */
import type { BalanceKind } from './balancers/balancer.js';

/**
 * up: takes new clients. down: failed its health check; no new clients,
 * existing sessions stay (HAProxy's default). drain: no new clients, existing
 * stay. maint: no new clients, existing closed.
 */
export type ServerState = 'up' | 'down' | 'drain' | 'maint';
export const SERVER_STATES: readonly ServerState[] = ['up', 'down', 'drain', 'maint'];

export interface ServerSpec {
  name: string;
  host: string;
  port: number;
  /** 0-256; 0 takes no new clients from weighted balancers. */
  weight: number;
  /** Takes clients only while no primary server is usable. */
  backup: boolean;
  /**
   * PROXY protocol header (version 1 or 2) sent before the client's first
   * byte, carrying the client's address; absent: none. Native engine only.
   */
  sendProxy?: 1 | 2;
  /** State when the server is first added; ignored for a server that already exists. Default 'up'. */
  initialState?: ServerState;
  /**
   * At most this many sessions to this server at once, daemon-wide (HAProxy's
   * server `maxconn`); a client that would exceed it waits in the service's
   * queue. Absent or 0: no limit.
   */
  maxConnections?: number;
}

export interface ServiceSpec {
  name: string;
  host: string;
  port: number;
  balance: BalanceKind;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** Other servers tried when a connect is refused or times out. */
  retries: number;
  /** Writer services: close the old writer's sessions when the writer changes. */
  writerOnChange: 'close' | 'keep';
  servers: ServerSpec[];
  /**
   * At most this many clients at once, daemon-wide (a frontend's `maxconn`):
   * at the limit the listener stops accepting and new clients wait in the
   * kernel's listen backlog. Absent or 0: no limit.
   */
  maxConnections?: number;
  /** How long a client may wait in the queue for a server slot before it is closed (HAProxy's `timeout queue`). */
  queueTimeoutMs?: number;
  /** One log line per session at its close (HAProxy's `option tcplog`). */
  logSessions?: boolean;
}

/** Upper bounds (seconds) of the queue-wait histogram's buckets; +Inf is implied. */
export const QUEUE_WAIT_BUCKETS_S: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Time in queue: per-bucket counts (not cumulative; one more than the bounds, the last for +Inf), their sum and count. */
export interface QueueWait {
  buckets: number[];
  sumS: number;
  count: number;
}

export interface ServerCounters {
  name: string;
  address: string;
  state: ServerState;
  weight: number;
  backup: boolean;
  /** Sessions open now (including ones still connecting). */
  active: number;
  /** Sessions established to this server since start. */
  total: number;
  /** Bytes received from clients and sent to this server. */
  bytesIn: number;
  /** Bytes received from this server and sent to clients. */
  bytesOut: number;
  /** Connects to this server that were refused, timed out or failed. */
  connectErrors: number;
  /** Established sessions that ended with an error (reset, idle timeout). */
  sessionErrors: number;
  /** The server's session limit (0: none). */
  maxConnections: number;
}

export interface ServiceCounters {
  name: string;
  listen: string;
  balance: BalanceKind;
  listening: boolean;
  /** Writer services: the current writer, or null when none is named. */
  writer: string | null;
  /** Client connections accepted since start. */
  total: number;
  /** Client connections open now. */
  active: number;
  /** Clients refused because no server could take them. */
  refused: number;
  /** Clients accepted and held (paused) by a writer switch now. */
  held?: number;
  /** The service's client limit (0: none). */
  maxConnections: number;
  /** Clients waiting now for a slot on a server. */
  queued: number;
  /** Clients closed because they waited longer than queue_timeout. */
  queueTimeouts: number;
  /** How long queued clients waited (served or timed out). */
  queueWait: QueueWait;
  servers: ServerCounters[];
}

/** What a data plane reports when a service's config was applied. */
export interface ApplyResult {
  added: string[];
  removed: string[];
  changed: string[];
}
