/**
 * The cluster subsystem: this node's side of the writer agreement. It is
 * the control plane's WriterArbiter (agreement.ts decides, this file does
 * the I/O), and it talks to the peers of `cluster:` over UDP.
 *
 * Why UDP: every message is a complete snapshot of the sender's decisions
 * (a few hundred bytes), sent to every peer each second and at once after
 * a change, so a lost datagram only delays; there is no connection to
 * set up, watch or re-establish across a partition, no head-of-line
 * blocking behind a dead peer, and a restarted node is heard by its first
 * datagram. Authenticity comes from the HMAC in every message (codec.ts).
 *
 * Invariants:
 * - A message that fails authentication, parsing or the replay check
 *   changes nothing; it is counted by reason
 *   (baton_cluster_messages_dropped_total) and logged at debug level.
 * - On start the node asks every peer for its decisions and waits until
 *   each answered or `startup_wait` passed; until then it names no writer.
 *   When nobody answered it logs once that it decides alone.
 * - Every decision this node learns or makes is written to the state file
 *   before it is told to the peers.
 * - With three or more nodes (this one and its peers), a node decides only
 *   while it heard a majority of them within ALONE_AFTER_MS, itself
 *   included; otherwise it adopts the known decision, and refuses a switch.
 *   So the side of a partition that cannot hear a majority never makes a
 *   decision that would win (by its epoch) over the majority's after the
 *   heal. Two nodes have no majority to lose: each decides when alone.
 * - A new decision also waits until a majority (of two nodes: the peer)
 *   answered a query sent since it became due (the node asks its peers at
 *   once; on a sound network the answers take a round trip; an answer names
 *   the query's nonce, so a datagram already in flight does not count).
 *   Why: a node cut off a moment ago still counts its peers as heard, and
 *   its checks are the first to fail; without this it would decide a new
 *   writer nobody hears, whose higher epoch wins everywhere when the link
 *   heals. Meanwhile it names the agreed writer only if that is up here.
 *   Of two nodes, one that heard nothing from its peer for ALONE_AFTER_MS
 *   decides without waiting (a lone survivor must).
 * - Without `cluster:` and without `state_file` this subsystem is inert
 *   and the control plane decides as a single node always did.
 */
import dgram from 'node:dgram';
import { BatonError, describeError, type Logger } from '@baton/core';
import type { BatonConfig, ServiceConfig, VrrpInstanceConfig } from '../config/types.js';
import { formatHostPort } from '../config/address.js';
import type { ArbiterCandidate, ControlPlane, WriterArbiter } from '../control-plane.js';
import type { PreparedReload, ReloadFields, Subsystem } from '../subsystem.js';
import type { InstanceSnapshot } from '../vrrp/instance.js';
import { agree, beats, sameDecision, switchDecision } from './agreement.js';
import { DROP_REASONS, ReplayGuard, decodeMessage, encodeMessage, newNonce, type Decision, type DropReason, type MessageKind } from './codec.js';
import { readStateFile, writeStateFile } from './state-file.js';

/** Full state to every peer this often; a change goes out at once. */
const BROADCAST_MS = 1000;
/** How often VRRP roles are looked at (a new master decides within this). */
const TICK_MS = 100;
/**
 * A peer heard within this long counts as heard: toward a majority (three
 * or more nodes), and a node of two that heard nobody for this long decides alone.
 */
const ALONE_AFTER_MS = 5000;
/** A message that arrives this long after a decision became due was not already in flight when it did. */
const IN_FLIGHT_MS = 250;

export interface ClusterSources {
  logger: Logger;
  control: ControlPlane;
  vrrp: () => readonly InstanceSnapshot[];
  /** Epoch milliseconds (injected for tests). */
  now?: () => number;
}

export interface ClusterCounters {
  sent: number;
  received: number;
  dropped: Record<DropReason, number>;
}

export interface WriterView {
  service: string;
  writer: string | null;
  role: 'decide' | 'adopt';
  why: string;
  epoch: number | null;
  decidedBy: string | null;
  reason: string | null;
}

export interface PeerView {
  address: string;
  node: string | null;
  lastHeardMs: number | null;
}

export class ClusterSubsystem implements Subsystem, WriterArbiter {
  readonly name = 'cluster';
  private config: BatonConfig | undefined;
  private socket: dgram.Socket | undefined;
  private socketKey = '';
  private secret = '';
  private readonly known = new Map<string, Decision>();
  private readonly views = new Map<string, WriterView>();
  private readonly peers = new Map<string, { node: string | null; lastHeard: number | null }>();
  private readonly guard = new ReplayGuard();
  private ready = false;
  private stateLoaded = false;
  private lastHeardAny = 0;
  /** When each peer node (by name) was last heard: the majority is counted by node, whatever address it sent from. */
  private readonly heardFrom = new Map<string, number>();
  /** Whether this node heard a majority at the last tick (undefined: not looked at yet), for the log line on a change. */
  private hadMajority: boolean | undefined;
  /** Services whose new decision waits for a majority heard since this time (epoch ms). */
  private readonly confirmSince = new Map<string, number>();
  private lastConfirmQuery = 0;
  /** The queries this node sent lately: nonce → when. */
  private readonly queriesSent = new Map<string, number>();
  /** Per peer node, when the latest query it answered was sent. */
  private readonly answeredQueryAt = new Map<string, number>();
  private rolesKey = '';
  private tickTimer: NodeJS.Timeout | undefined;
  private broadcastTimer: NodeJS.Timeout | undefined;
  private readonly logger: Logger;
  private readonly now: () => number;
  private startupAnswered: (() => void) | undefined;
  readonly counters: ClusterCounters = { sent: 0, received: 0, dropped: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number> };

  constructor(private readonly sources: ClusterSources) {
    this.logger = sources.logger.child({ subsystem: 'cluster' });
    this.now = sources.now ?? Date.now;
  }

  /** Whether this node agrees with peers, or at least keeps a state file. */
  private get active(): boolean {
    return this.config?.cluster !== undefined || this.config?.stateFile !== undefined;
  }

  /**
   * Takes the config before the control plane first decides, so the first
   * decisions already go through the agreement (nothing is named before).
   */
  configure(config: BatonConfig): void {
    this.config = config;
    if (!this.active) {
      this.sources.control.setArbiter(undefined);
      return;
    }
    this.sources.control.setArbiter(this);
    if (config.stateFile && !this.stateLoaded) {
      this.stateLoaded = true;
      this.loadState(config);
    }
  }

  async start(config: BatonConfig): Promise<void> {
    this.configure(config);
    if (!config.cluster) {
      this.ready = true;
      if (this.active) this.sources.control.rethink();
      return;
    }
    await this.openSocket(config);
    this.startTimers();
    const wait = config.cluster.startupWaitMs;
    const t0 = this.now();
    const answered = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), wait);
      this.startupAnswered = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.broadcast('query');
      if (wait === 0) resolve(false);
    });
    this.startupAnswered = undefined;
    this.ready = true;
    if (answered) {
      this.logger.info('writers from peers', { peers: [...this.peers.values()].map((p) => p.node ?? '?').join(','), wait_ms: this.now() - t0 });
    } else {
      const heard = [...this.peers.values()].filter((p) => p.lastHeard !== null).length;
      const majority = this.majority(config);
      const what = !majority.ok
        ? 'no majority of the cluster answered, adopting the known decisions until one does'
        : heard > 0
          ? 'not every peer answered, deciding with what was heard'
          : 'no peer answered, deciding alone';
      this.logger.warn(what, {
        wait_ms: wait,
        peers: config.cluster.peers.map(formatHostPort).join(','),
        heard,
      });
      this.hadMajority = majority.ok;
    }
    this.sources.control.rethink();
  }

  /**
   * A reload: the secret and a new listen address are checked (bound) here;
   * the commit swaps the socket. The daemon has already handed the new config
   * to configure(), before the control plane's.
   */
  async prepare(config: BatonConfig): Promise<PreparedReload> {
    let socket: dgram.Socket | undefined;
    let secret = '';
    if (config.cluster) {
      secret = this.resolveSecret(config);
      if (formatHostPort(config.cluster.listen) !== this.socketKey) socket = await this.bind(config);
    }
    return {
      commit: async (): Promise<ReloadFields> => {
        if (config.cluster) {
          this.secret = secret;
          this.syncPeers(config);
          if (socket) this.install(socket, config);
          this.startTimers();
          // A new channel (cluster: added, or a new listen address): ask the peers at once.
          if (socket) this.broadcast('query');
        } else {
          this.closeSocket();
          this.stopTimers();
        }
        this.ready = true;
        this.sources.control.rethink();
        return {};
      },
      abort: async () => {
        socket?.close();
      },
    };
  }

  async stop(): Promise<void> {
    this.stopTimers();
    this.closeSocket();
  }

  // ------------------------------------------------------------ the arbiter

  writer(service: ServiceConfig, candidates: readonly ArbiterCandidate[], _current: string | null): { writer: string | null; reason?: string } {
    const config = this.config;
    if (!config || !service.writer) return { writer: null, reason: 'starting' };
    const { role, priority } = this.roleOf(config, service.name);
    const known = this.known.get(service.name);
    let out = agree({ service: service.name, writer: service.writer, candidates, role, node: config.node, priority }, known);
    if (out.made) {
      const waiting = this.awaitingMajority(config, service.name);
      if (waiting) {
        const current = known?.writer ?? null;
        const keep = current !== null && candidates.some((c) => c.name === current && c.up) ? current : null;
        out = { writer: keep, decision: known, made: false, why: `a new decision is due (${out.decision?.reason ?? 'first'}), ${waiting}` };
      }
    } else {
      this.confirmSince.delete(service.name);
    }
    if (out.made && out.decision) {
      this.logger.info('writer decided', {
        service: service.name,
        writer: out.decision.writer ?? 'none',
        epoch: out.decision.epoch,
        reason: out.decision.reason,
        priority: out.decision.priority,
      });
      this.learn(out.decision);
      this.broadcast('state');
    }
    const d = out.decision;
    this.views.set(service.name, {
      service: service.name,
      writer: out.writer,
      role,
      why: out.why,
      epoch: d?.epoch ?? null,
      decidedBy: d?.decidedBy ?? null,
      reason: d?.reason ?? null,
    });
    return { writer: out.writer, reason: out.why };
  }

  /** The operator's switch: a new decision naming `to`, told to every peer. */
  decideSwitch(service: string, to: string): Decision {
    const config = this.config;
    if (!config) throw new BatonError('not-started', 'the cluster subsystem is not running');
    const { priority } = this.roleOf(config, service);
    const decision = switchDecision(service, to, this.known.get(service), config.node, priority);
    this.logger.info('writer decided', { service, writer: to, epoch: decision.epoch, reason: decision.reason, priority });
    this.learn(decision);
    this.broadcast('state');
    this.sources.control.rethink(service);
    return decision;
  }

  /**
   * Why this node may not run a switch of `service` (it is not the node
   * that decides its writer, so its clients are not the ones to hold), or
   * undefined when it may.
   */
  switchRefusal(service: string): string | undefined {
    const config = this.config;
    if (!config?.cluster) return undefined;
    const majority = this.majority(config);
    if (!majority.ok) {
      return `this node hears ${majority.heard} of the ${majority.size} cluster nodes; a writer switch needs a majority (it would be undone, or undo theirs, when the cluster is whole again)`;
    }
    const inst = this.instanceFor(config, service);
    if (!inst || this.roleOf(config, service).role === 'decide') return undefined;
    const master = this.sources.vrrp().find((s) => s.name === inst.name)?.master;
    return `this node is not the VRRP master of ${inst.name}, which decides the writer of ${service}: run the switch on the master${master ? ` (${master})` : ''}`;
  }

  get enabled(): boolean {
    return this.active;
  }

  decision(service: string): Decision | undefined {
    return this.known.get(service);
  }

  writerViews(): WriterView[] {
    return (this.config?.services ?? []).filter((s) => s.balance === 'writer').map(
      (s) => this.views.get(s.name) ?? { service: s.name, writer: null, role: 'adopt', why: 'not decided yet', epoch: null, decidedBy: null, reason: null },
    );
  }

  peerViews(): PeerView[] {
    const now = this.now();
    return [...this.peers.entries()].map(([address, p]) => ({ address, node: p.node, lastHeardMs: p.lastHeard === null ? null : now - p.lastHeard }));
  }

  // ------------------------------------------------------------ roles

  /** The VRRP instance whose master decides this service's writer. */
  private instanceFor(config: BatonConfig, service: string): VrrpInstanceConfig | undefined {
    return config.vrrp.find((v) => v.track.services.includes(service));
  }

  private roleOf(config: BatonConfig, service: string): { role: 'decide' | 'adopt'; priority: number } {
    const inst = this.instanceFor(config, service);
    const snap = inst ? this.sources.vrrp().find((s) => s.name === inst.name) : undefined;
    const priority = snap?.effectivePriority ?? inst?.priority ?? 0;
    if (!config.cluster) return { role: 'decide', priority };
    if (!this.ready) return { role: 'adopt', priority };
    const majority = this.majority(config);
    if (!majority.ok) return { role: 'adopt', priority };
    if (!inst) return { role: 'decide', priority };
    if (snap?.state === 'master') return { role: 'decide', priority };
    if (majority.size < 3 && this.now() - this.lastHeardAny > ALONE_AFTER_MS) return { role: 'decide', priority };
    return { role: 'adopt', priority };
  }

  /**
   * Undefined when a new decision for `service` may be made now; otherwise
   * what it waits for. The first call asks every peer for its state, so the
   * answers (or a peer's next message) confirm it within a round trip.
   */
  private awaitingMajority(config: BatonConfig, service: string): string | undefined {
    if (!config.cluster) return undefined;
    const size = config.cluster.peers.length + 1;
    const now = this.now();
    // Of two nodes, one that heard nothing from its peer for ALONE_AFTER_MS decides alone: a lone survivor must.
    if (size < 3 && now - this.lastHeardAny > ALONE_AFTER_MS) {
      this.confirmSince.delete(service);
      return undefined;
    }
    const whom = size < 3 ? 'the peer' : `a majority of the ${size} nodes`;
    const since = this.confirmSince.get(service);
    if (since === undefined) {
      this.confirmSince.set(service, now);
      this.lastConfirmQuery = now;
      this.broadcast('query');
      return `waiting for ${whom} to answer`;
    }
    // A peer confirms by answering a query sent since, or (a node of an older version, which does
    // not name the query it answers) by any message that arrived well after: not one in flight.
    let heard = 1;
    for (const [node, at] of this.heardFrom) {
      if (node === config.node) continue;
      if ((this.answeredQueryAt.get(node) ?? -Infinity) >= since || at >= since + IN_FLIGHT_MS) heard++;
    }
    if (heard * 2 > size) {
      this.confirmSince.delete(service);
      return undefined;
    }
    return `waiting for ${whom} to answer (${heard} of ${size} nodes since ${now - since} ms)`;
  }

  /**
   * The cluster's size (this node and its peers) and how many of its nodes
   * this node hears now, itself included; `ok` when that is a majority, or
   * always with fewer than three nodes.
   */
  private majority(config: BatonConfig): { size: number; heard: number; ok: boolean } {
    const size = (config.cluster?.peers.length ?? 0) + 1;
    const now = this.now();
    let heard = 1;
    for (const [node, at] of this.heardFrom) if (node !== config.node && now - at <= ALONE_AFTER_MS) heard++;
    heard = Math.min(heard, size);
    return { size, heard, ok: size < 3 || heard * 2 > size };
  }

  private tick(): void {
    const config = this.config;
    if (!config || !this.ready) return;
    if (config.cluster) {
      const majority = this.majority(config);
      if (this.hadMajority !== undefined && majority.ok !== this.hadMajority) {
        if (majority.ok) this.logger.info('cluster majority heard again, deciding as before', { heard: majority.heard, nodes: majority.size });
        else this.logger.warn('cluster majority lost, adopting the known decisions only', { heard: majority.heard, nodes: majority.size });
      }
      this.hadMajority = majority.ok;
      // A decision waiting for answers: ask again now and then (a lost datagram), and look again.
      if (this.confirmSince.size > 0) {
        if (this.now() - this.lastConfirmQuery >= 500) {
          this.lastConfirmQuery = this.now();
          this.broadcast('query');
        }
        for (const service of [...this.confirmSince.keys()]) this.sources.control.rethink(service);
      }
    }
    const key = config.services
      .filter((s) => s.balance === 'writer')
      .map((s) => {
        const r = this.roleOf(config, s.name);
        return `${s.name}:${r.role}:${r.priority}`;
      })
      .join(',');
    if (key === this.rolesKey) return;
    this.rolesKey = key;
    this.sources.control.rethink();
  }

  // ------------------------------------------------------------ decisions

  /** Keeps a decision that wins over the known one; returns whether it did. */
  private learn(decision: Decision): boolean {
    const known = this.known.get(decision.service);
    if (sameDecision(known, decision) || !beats(decision, known)) return false;
    this.known.set(decision.service, decision);
    this.saveState();
    return true;
  }

  private loadState(config: BatonConfig): void {
    const path = config.stateFile!;
    const r = readStateFile(path);
    if (!r.ok) {
      this.logger.error('state file ignored', { path, error: r.error });
      return;
    }
    const writers = new Map(config.services.filter((s) => s.writer).map((s) => [s.name, s]));
    let kept = 0;
    for (const d of r.decisions) {
      const svc = writers.get(d.service);
      if (!svc || (d.writer !== null && !svc.servers.some((s) => s.name === d.writer))) continue;
      this.known.set(d.service, d);
      kept++;
    }
    this.logger.info('state file read', { path, decisions: kept, missing: r.missing });
  }

  private saveState(): void {
    const path = this.config?.stateFile;
    if (!path) return;
    try {
      writeStateFile(path, this.config!.node, [...this.known.values()]);
    } catch (err) {
      this.logger.error('state file not written', { path, error: describeError(err) });
    }
  }

  // ------------------------------------------------------------ transport

  private resolveSecret(config: BatonConfig): string {
    const env = config.cluster!.secretEnv;
    const secret = process.env[env];
    if (!secret) throw new BatonError('config-invalid', `cluster.secret_env ${env} is not set`);
    return secret;
  }

  private syncPeers(config: BatonConfig): void {
    const cluster = config.cluster!;
    for (const p of cluster.peers) {
      const key = formatHostPort(p);
      if (!this.peers.has(key)) this.peers.set(key, { node: null, lastHeard: null });
    }
    const wanted = new Set(cluster.peers.map(formatHostPort));
    for (const key of [...this.peers.keys()]) if (!wanted.has(key)) this.peers.delete(key);
  }

  private async openSocket(config: BatonConfig): Promise<void> {
    this.secret = this.resolveSecret(config);
    this.syncPeers(config);
    if (this.socket && formatHostPort(config.cluster!.listen) === this.socketKey) return;
    this.install(await this.bind(config), config);
  }

  private async bind(config: BatonConfig): Promise<dgram.Socket> {
    const cluster = config.cluster!;
    const key = formatHostPort(cluster.listen);
    const socket = dgram.createSocket({ type: cluster.listen.host.includes(':') ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(cluster.listen.port, cluster.listen.host, () => {
        socket.off('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      socket.close();
      throw new BatonError('listen-failed', `cluster.listen ${key}: ${describeError(err)}`);
    });
    return socket;
  }

  private install(socket: dgram.Socket, config: BatonConfig): void {
    const cluster = config.cluster!;
    const key = formatHostPort(cluster.listen);
    socket.on('error', (err) => this.logger.warn('cluster socket error', { error: describeError(err) }));
    socket.on('message', (data, rinfo) => this.onMessage(data, rinfo));
    this.closeSocket();
    this.socket = socket;
    this.socketKey = key;
    this.logger.info('cluster listening', { listen: key, peers: cluster.peers.map(formatHostPort).join(',') });
  }

  private closeSocket(): void {
    this.socket?.close();
    this.socket = undefined;
    this.socketKey = '';
  }

  private startTimers(): void {
    this.tickTimer ??= setInterval(() => this.tick(), TICK_MS);
    this.broadcastTimer ??= setInterval(() => this.broadcast('state'), BROADCAST_MS);
  }

  private stopTimers(): void {
    clearInterval(this.tickTimer);
    clearInterval(this.broadcastTimer);
    this.tickTimer = undefined;
    this.broadcastTimer = undefined;
  }

  private messageFor(kind: MessageKind, re?: string): Buffer {
    const nonce = newNonce();
    const now = this.now();
    if (kind === 'query') {
      // Bounded: a query is answered within a round trip or not at all; keep 10 s of them.
      for (const [n, at] of this.queriesSent) {
        if (now - at <= 10_000 && this.queriesSent.size < 1000) break;
        this.queriesSent.delete(n);
      }
      this.queriesSent.set(nonce, now);
    }
    return encodeMessage(this.secret, { node: this.config!.node, sentAt: now, nonce, kind, decisions: [...this.known.values()], ...(re !== undefined ? { re } : {}) });
  }

  private broadcast(kind: MessageKind): void {
    const cluster = this.config?.cluster;
    if (!this.socket || !cluster) return;
    for (const peer of cluster.peers) this.sendTo(kind, peer.host, peer.port);
  }

  private sendTo(kind: MessageKind, host: string, port: number, re?: string): void {
    const socket = this.socket;
    if (!socket) return;
    // A fresh nonce per datagram: the same bytes twice would be a replay.
    socket.send(this.messageFor(kind, re), port, host, (err) => {
      if (err) this.logger.debug('cluster send failed', { to: `${host}:${port}`, error: describeError(err) });
    });
    this.counters.sent++;
  }

  private onMessage(data: Buffer, rinfo: dgram.RemoteInfo): void {
    const config = this.config;
    if (!config?.cluster) return;
    const now = this.now();
    const r = decodeMessage(this.secret, data, now, this.guard, config.node);
    if (!r.ok) {
      this.counters.dropped[r.reason]++;
      this.logger.debug('cluster message dropped', { from: `${rinfo.address}:${rinfo.port}`, reason: r.reason, detail: r.detail });
      return;
    }
    this.counters.received++;
    const msg = r.message;
    this.lastHeardAny = now;
    const before = this.heardFrom.get(msg.node);
    this.heardFrom.set(msg.node, now);
    // A peer heard again after a silence (a healed partition, a restart) gets our decisions at once,
    // not up to a second later: the cluster converges on one decision sooner.
    const back = before === undefined || now - before > ALONE_AFTER_MS;
    const from = formatHostPort({ host: rinfo.address, port: rinfo.port });
    const peer = this.peers.get(from);
    if (peer) {
      peer.node = msg.node;
      peer.lastHeard = now;
    }
    const writers = new Set(config.services.filter((s) => s.writer).map((s) => s.name));
    const changed: string[] = [];
    for (const d of msg.decisions) {
      if (!writers.has(d.service)) continue;
      if (this.learn(d)) {
        changed.push(d.service);
        this.logger.info('writer decision adopted', { service: d.service, writer: d.writer ?? 'none', epoch: d.epoch, decided_by: d.decidedBy, reason: d.reason, from: msg.node });
      }
    }
    if (msg.re !== undefined) {
      const askedAt = this.queriesSent.get(msg.re);
      if (askedAt !== undefined && askedAt > (this.answeredQueryAt.get(msg.node) ?? -Infinity)) this.answeredQueryAt.set(msg.node, askedAt);
    }
    if (msg.kind === 'query') this.sendTo('state', rinfo.address, rinfo.port, msg.nonce);
    else if (back) this.sendTo('state', rinfo.address, rinfo.port);
    if (this.startupAnswered && [...this.peers.values()].every((p) => p.lastHeard !== null)) this.startupAnswered();
    if (this.ready) for (const service of new Set([...changed, ...this.confirmSince.keys()])) this.sources.control.rethink(service);
  }
}
