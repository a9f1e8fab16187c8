/**
 * GET /api/status: the daemon's state in one JSON document (its fields are
 * listed in docs/operations.md, "The commands"), built from plain inputs so
 * it is tested without sockets.
 */
import type { CheckResult } from '@baton/health';
import type { ServiceCounters } from '@baton/proxy';
import { formatHostPort } from '../config/address.js';
import type { BatonConfig } from '../config/types.js';
import type { ControlPlane } from '../control-plane.js';
import type { InstanceSnapshot } from '../vrrp/instance.js';
import type { PeerView, WriterView } from '../cluster/subsystem.js';
import type { SwitchView } from '../cluster/switch.js';

export const VERSION = '0.1.0';

export interface StatusInputs {
  config: BatonConfig;
  control: ControlPlane;
  counters: readonly ServiceCounters[];
  vrrp: readonly InstanceSnapshot[];
  lastCheck(service: string, server: string): CheckResult | undefined;
  workers: number;
  uptimeS: number;
  tokenRequired: boolean;
  /** `?why=1`: the reasons behind each state (adverts, master-down arithmetic, rise/fall counters). */
  why?: {
    health(service: string, server: string): { state: string; counter: number; rise: number; fall: number; checks: number; sinceMs: number } | undefined;
    /** performance.now() and Date.now() of this answer, to turn the sources' times into ages. */
    nowMono: number;
    nowEpoch: number;
  };
  /** The running or last planned writer switch of a service. */
  switches?: (service: string) => SwitchView | undefined;
  /** The writer agreement, when `cluster:` or `state_file:` is set. */
  cluster?: { listen: string | null; writers: readonly WriterView[]; peers: readonly PeerView[] };
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

const CHECK_LAYER: Record<string, string> = { tcp: 'L4', http: 'L7', mysql: 'L7', galera: 'L7', script: 'script' };

/** The layer a check result speaks of: the failure's (l4-refused is L4), or the whole check's when it passed. */
function layerOf(check: CheckResult, kind: string | undefined): string {
  if (!check.ok) {
    const m = /^(l\d)/i.exec(check.reason);
    return m ? m[1]!.toUpperCase() : CHECK_LAYER[kind ?? ''] ?? '-';
  }
  return CHECK_LAYER[kind ?? ''] ?? '-';
}

function vrrpWhy(s: InstanceSnapshot | undefined, nowEpoch: number) {
  const w = s?.why;
  if (!w) return null;
  // The snapshot was taken up to a second ago: age its times to now.
  const late = Math.max(0, nowEpoch - w.takenAt);
  const md = w.masterDown;
  const left = md.leftMs === null ? null : Math.max(0, md.leftMs - late);
  return {
    adverts: w.adverts.map((a) => ({ from: a.from, priority: a.priority, age_s: round((a.ageMs + late) / 1000, 2), count: a.count })),
    master_down: {
      interval_ms: md.intervalMs,
      skew_ms: round(md.skewMs, 1),
      total_ms: round(md.totalMs, 1),
      left_ms: left === null ? null : round(left, 0),
      arithmetic: `3 x ${md.intervalMs}ms + ${round(md.skewMs, 1)}ms skew = ${round(md.totalMs, 1)}ms`,
    },
    reason: w.reason,
    since_s: round((w.sinceMs + late) / 1000, 1),
  };
}

export function buildStatus(input: StatusInputs) {
  const { config, control } = input;
  const counters = new Map(input.counters.map((c) => [c.name, c]));
  const snapshots = new Map(input.vrrp.map((s) => [s.name, s]));
  const views = new Map((input.cluster?.writers ?? []).map((w) => [w.service, w]));
  return {
    node: config.node,
    version: VERSION,
    pid: process.pid,
    uptime_s: round(input.uptimeS, 1),
    workers: input.workers,
    auth: { token_required: input.tokenRequired },
    vrrp: config.vrrp.map((cfg) => {
      const s = snapshots.get(cfg.name);
      return {
        name: cfg.name,
        state: s?.state ?? 'init',
        priority: cfg.priority,
        effective_priority: s?.effectivePriority ?? cfg.priority,
        master: s?.master ?? null,
        virtual_ips: cfg.virtualIps.map((v) => `${v.address}/${v.prefixLength}`),
        interface: cfg.interface,
        router_id: cfg.routerId,
        faults: s?.faults ?? [],
        ...(input.why ? { why: vrrpWhy(s, input.why.nowEpoch) } : {}),
      };
    }),
    cluster: input.cluster
      ? {
          listen: input.cluster.listen,
          peers: input.cluster.peers.map((p) => ({ address: p.address, node: p.node, last_heard_s: p.lastHeardMs === null ? null : round(p.lastHeardMs / 1000, 1) })),
        }
      : null,
    services: config.services.map((svc) => {
      const c = counters.get(svc.name);
      const byName = new Map((c?.servers ?? []).map((s) => [s.name, s]));
      return {
        name: svc.name,
        listen: formatHostPort(svc.listen),
        balance: svc.balance,
        writer: svc.balance === 'writer' ? control.writer(svc.name) : null,
        switch: (() => {
          const w = svc.balance === 'writer' ? input.switches?.(svc.name) : undefined;
          if (!w) return null;
          const now = input.why?.nowEpoch ?? Date.now();
          return {
            from: w.from, to: w.to, phase: w.phase, drain_ms: w.drainMs, hold_ms: w.holdMs,
            running: w.finishedAt === null, elapsed_s: round(((w.finishedAt ?? now) - w.startedAt) / 1000, 1),
            held: w.held, closed: w.closed, error: w.error,
          };
        })(),
        decision: (() => {
          const v = views.get(svc.name);
          return v ? { epoch: v.epoch, decided_by: v.decidedBy, reason: v.reason, role: v.role, why: v.why } : null;
        })(),
        active: c?.active ?? 0,
        total: c?.total ?? 0,
        max_connections: svc.maxConnections ?? null,
        queued: c?.queued ?? 0,
        queue_timeout_ms: svc.queueTimeoutMs,
        queue_timeouts: c?.queueTimeouts ?? 0,
        servers: svc.servers.map((srv) => {
          const st = control.status(svc.name, srv.name);
          const sc = byName.get(srv.name);
          const check = input.lastCheck(svc.name, srv.name);
          return {
            name: srv.name,
            address: formatHostPort(srv.address),
            state: st?.state ?? 'down',
            admin: st?.admin ?? 'ready',
            health: st?.health ?? 'down',
            weight: srv.weight,
            backup: srv.backup,
            active: sc?.active ?? 0,
            max_connections: srv.maxConnections ?? null,
            total: sc?.total ?? 0,
            bytes_in: sc?.bytesIn ?? 0,
            bytes_out: sc?.bytesOut ?? 0,
            connect_errors: sc?.connectErrors ?? 0,
            check: check ? { ok: check.ok, ms: round(check.ms, 1), error: check.ok ? null : `${check.reason}: ${check.detail}` } : null,
            ...(input.why
              ? {
                  why: (() => {
                    const h = input.why.health(svc.name, srv.name);
                    return {
                      last_check: check ? { result: check.ok ? 'ok' : check.reason, layer: layerOf(check, svc.health?.check), ms: round(check.ms, 1) } : null,
                      counter: h ? { value: h.counter, rise: h.rise, fall: h.fall, checks: h.checks } : null,
                      since_s: h ? round((input.why.nowMono - h.sinceMs) / 1000, 1) : null,
                      reason: st?.healthReason ?? null,
                    };
                  })(),
                }
              : {}),
          };
        }),
      };
    }),
  };
}

export type Status = ReturnType<typeof buildStatus>;
