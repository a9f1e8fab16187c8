/**
 * A planned writer handoff (`baton writer switch`, POST
 * /api/services/SERVICE/writer): the writer moves to another server without
 * a client seeing an error, and never with sessions on both servers at once.
 *
 * With a hold (hold_ms > 0):
 *   1. new clients are held: accepted and queued, not refused, not forwarded;
 *   2. sessions on the old writer may finish, until none is left, drain_ms
 *      passed, or hold_ms passed (no client waits longer than the hold);
 *   3. the sessions still open on the old writer are closed;
 *   4. the new writer is named on every node (a new decision: new epoch,
 *      decided by this node, reason "switch");
 *   5. the held clients go to it, in arrival order.
 * Without a hold, the new writer takes new clients at once (step 4 first),
 * and the old writer's sessions drain for up to drain_ms, then are closed.
 *
 * If the new writer goes down while clients are held, the switch is
 * aborted: the held clients are closed (they would otherwise be released to
 * a writer nobody chose) and the writer stays where it was.
 *
 * Invariants: one switch per service at a time; each step is one log line;
 * every wait is bounded by drain_ms / hold_ms; a rejected request changes
 * nothing. Only the node that runs the switch holds and drains: the other
 * nodes just adopt the new decision.
 */
import { BatonError, describeError, type Logger } from '@baton/core';
import type { BatonConfig } from '../config/types.js';
import type { ControlPlane } from '../control-plane.js';
import type { DataPlaneHost } from '../dataplane/host.js';
import type { ClusterSubsystem } from './subsystem.js';

export const MAX_DRAIN_MS = 3_600_000;
export const MAX_HOLD_MS = 600_000;
const POLL_MS = 50;
/** A finished switch stays in the status this long. */
const KEEP_FINISHED_MS = 300_000;

export interface SwitchRequest {
  service: string;
  to?: string;
  drainMs: number;
  holdMs: number;
  /** Who asked (the admin client's address), for the log. */
  by?: string;
}

export type SwitchPhase = 'holding' | 'draining' | 'done' | 'aborted';

export interface SwitchView {
  service: string;
  from: string | null;
  to: string;
  phase: SwitchPhase;
  drainMs: number;
  holdMs: number;
  /** Epoch ms. */
  startedAt: number;
  finishedAt: number | null;
  /** Clients released to the new writer (or closed, when aborted). */
  held: number;
  /** Sessions on the old writer closed when the drain time was over. */
  closed: number;
  error: string | null;
}

/** A request that cannot be carried out; `status` is the HTTP answer. */
export class SwitchError extends BatonError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
  ) {
    super(code, message);
  }
}

export interface SwitchDeps {
  logger: Logger;
  control: ControlPlane;
  dataPlane: () => DataPlaneHost;
  cluster: ClusterSubsystem;
  config: () => BatonConfig | undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class WriterSwitcher {
  private readonly views = new Map<string, SwitchView>();
  private readonly logger: Logger;

  constructor(private readonly deps: SwitchDeps) {
    this.logger = deps.logger.child({ subsystem: 'switch' });
  }

  /** The running (or recently finished) switch of each service. */
  view(service: string): SwitchView | undefined {
    const v = this.views.get(service);
    if (v && v.finishedAt !== null && Date.now() - v.finishedAt > KEEP_FINISHED_MS) {
      this.views.delete(service);
      return undefined;
    }
    return v;
  }

  /** Checks the request and starts the switch; it runs on, and its progress is in view(). Throws SwitchError. */
  start(req: SwitchRequest): SwitchView {
    const { control } = this.deps;
    const svc = this.deps.config()?.services.find((s) => s.name === req.service);
    if (!svc) throw new SwitchError(404, 'unknown-service', `no service named ${JSON.stringify(req.service)}`);
    if (svc.balance !== 'writer' || !svc.writer) throw new SwitchError(400, 'not-writer', `service ${svc.name} is not a writer service (balance: ${svc.balance})`);
    if (svc.writer.failback) {
      throw new SwitchError(409, 'failback', `service ${svc.name} has writer.failback: true, which would move the writer back at once; switch needs failback: false`);
    }
    const refusal = this.deps.cluster.switchRefusal(svc.name);
    if (refusal) throw new SwitchError(409, 'not-deciding', refusal);
    const running = this.views.get(svc.name);
    if (running && running.finishedAt === null) throw new SwitchError(409, 'switch-running', `a switch of ${svc.name} to ${running.to} is already running`);
    if (!Number.isInteger(req.drainMs) || req.drainMs < 0 || req.drainMs > MAX_DRAIN_MS) throw new SwitchError(400, 'bad-drain', `drain must be 0 to ${MAX_DRAIN_MS / 1000}s`);
    if (!Number.isInteger(req.holdMs) || req.holdMs < 0 || req.holdMs > MAX_HOLD_MS) throw new SwitchError(400, 'bad-hold', `hold must be 0 to ${MAX_HOLD_MS / 1000}s`);
    const from = control.writer(svc.name);
    const isUp = (name: string) => control.status(svc.name, name)?.state === 'up';
    let to = req.to;
    if (to === undefined) {
      const others = svc.servers.filter((s) => s.name !== from && isUp(s.name));
      to = (others.find((s) => !s.backup) ?? others[0])?.name;
      if (to === undefined) throw new SwitchError(409, 'no-other-server', `service ${svc.name} has no other server up to switch to`);
    } else {
      if (!svc.servers.some((s) => s.name === to)) throw new SwitchError(404, 'unknown-server', `service ${svc.name} has no server named ${JSON.stringify(to)}`);
      if (to === from) throw new SwitchError(409, 'already-writer', `${to} is already the writer of ${svc.name}`);
      if (!isUp(to)) throw new SwitchError(409, 'not-up', `${to} is not up (state ${control.status(svc.name, to)?.state ?? 'unknown'}); a switch goes to an up server only`);
    }
    const view: SwitchView = {
      service: svc.name, from, to, phase: req.holdMs > 0 ? 'holding' : 'draining', drainMs: req.drainMs, holdMs: req.holdMs,
      startedAt: Date.now(), finishedAt: null, held: 0, closed: 0, error: null,
    };
    this.views.set(svc.name, view);
    this.logger.info('writer switch started', { service: svc.name, from: from ?? 'none', to, drain_ms: req.drainMs, hold_ms: req.holdMs, by: req.by ?? '-' });
    this.run(view).catch((err: unknown) => this.abort(view, `failed: ${describeError(err)}`));
    return { ...view };
  }

  private async run(v: SwitchView): Promise<void> {
    const dp = this.deps.dataPlane();
    const t0 = performance.now();
    if (v.holdMs > 0) {
      dp.writerSwitch(v.service, { op: 'hold' });
    } else {
      // New clients to the new writer now; the old writer's sessions drain.
      dp.writerSwitch(v.service, { op: 'writer', server: v.to });
      if (!this.decide(v)) return this.abort(v, `${v.to} could not be named writer`);
    }
    const limit = v.holdMs > 0 ? Math.min(v.drainMs, v.holdMs) : v.drainMs;
    let open = await this.openOn(v.service, v.from);
    while (open > 0 && performance.now() - t0 < limit) {
      if (v.holdMs > 0 && this.deps.control.status(v.service, v.to)?.state !== 'up') return this.abort(v, `${v.to} is no longer up`);
      await sleep(Math.min(POLL_MS, Math.max(1, limit - (performance.now() - t0))));
      open = await this.openOn(v.service, v.from);
    }
    if (v.holdMs > 0 && this.deps.control.status(v.service, v.to)?.state !== 'up') return this.abort(v, `${v.to} is no longer up`);
    if (open > 0 && v.from !== null) dp.writerSwitch(v.service, { op: 'close', server: v.from });
    v.closed = open;
    this.logger.info('writer switch drained', { service: v.service, from: v.from ?? 'none', closed: open, waited_ms: Math.round(performance.now() - t0) });
    if (v.holdMs > 0) {
      if (!this.decide(v)) return this.abort(v, `${v.to} could not be named writer`);
      v.held = (await dp.counters()).find((c) => c.name === v.service)?.held ?? 0;
      dp.writerSwitch(v.service, { op: 'release' });
    }
    v.phase = 'done';
    v.finishedAt = Date.now();
    this.logger.info('writer switch done', { service: v.service, writer: v.to, released: v.held, closed: v.closed, ms: Math.round(performance.now() - t0) });
  }

  /** Names the new writer everywhere; false when it did not take (the server went down meanwhile). */
  private decide(v: SwitchView): boolean {
    const { cluster, control } = this.deps;
    if (cluster.enabled) cluster.decideSwitch(v.service, v.to);
    else control.switchWriter(v.service, v.to);
    return control.writer(v.service) === v.to;
  }

  private async openOn(service: string, server: string | null): Promise<number> {
    if (server === null) return 0;
    const c = (await this.deps.dataPlane().counters()).find((s) => s.name === service);
    return c?.servers.find((s) => s.name === server)?.active ?? 0;
  }

  private async abort(v: SwitchView, reason: string): Promise<void> {
    if (v.finishedAt !== null) return;
    const dp = this.deps.dataPlane();
    v.held = (await dp.counters().catch(() => [])).find((c) => c.name === v.service)?.held ?? 0;
    dp.writerSwitch(v.service, { op: 'abort' });
    v.phase = 'aborted';
    v.error = reason;
    v.finishedAt = Date.now();
    this.logger.warn('writer switch aborted', { service: v.service, to: v.to, reason, held_closed: v.held });
  }
}
