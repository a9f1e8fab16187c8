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
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

export function buildStatus(input: StatusInputs) {
  const { config, control } = input;
  const counters = new Map(input.counters.map((c) => [c.name, c]));
  const snapshots = new Map(input.vrrp.map((s) => [s.name, s]));
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
      };
    }),
    services: config.services.map((svc) => {
      const c = counters.get(svc.name);
      const byName = new Map((c?.servers ?? []).map((s) => [s.name, s]));
      return {
        name: svc.name,
        listen: formatHostPort(svc.listen),
        balance: svc.balance,
        writer: svc.balance === 'writer' ? control.writer(svc.name) : null,
        active: c?.active ?? 0,
        total: c?.total ?? 0,
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
            total: sc?.total ?? 0,
            bytes_in: sc?.bytesIn ?? 0,
            bytes_out: sc?.bytesOut ?? 0,
            connect_errors: sc?.connectErrors ?? 0,
            check: check ? { ok: check.ok, ms: round(check.ms, 1), error: check.ok ? null : `${check.reason}: ${check.detail}` } : null,
          };
        }),
      };
    }),
  };
}

export type Status = ReturnType<typeof buildStatus>;
