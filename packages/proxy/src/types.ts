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
  /** State when the server is first added; ignored for a server that already exists. Default 'up'. */
  initialState?: ServerState;
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
  /** Write a PROXY protocol header (v1 text, v2 binary) to the server before the client's bytes; absent = none. */
  sendProxy?: 'v1' | 'v2';
  servers: ServerSpec[];
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
  servers: ServerCounters[];
}

/** What a data plane reports when a service's config was applied. */
export interface ApplyResult {
  added: string[];
  removed: string[];
  changed: string[];
}
