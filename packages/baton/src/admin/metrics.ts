/**
 * GET /metrics: Baton's series (the table in docs/operations.md, "Metrics and
 * the Grafana dashboard", which a test checks against this registry), plus
 * Node's default process metrics, in one prom-client registry of the
 * daemon's own (never the global one, so tests can build several).
 *
 * Invariants:
 * - A scrape asks the data plane for its counters once (every worker,
 *   summed); each metric's collect() then reads that one snapshot, so the
 *   series of one scrape agree with each other.
 * - Counters are set from running totals that never go backwards; services
 *   and servers removed by a reload disappear from the output.
 * - baton_server_up is the health verdict (1 = the checks pass); the
 *   operator's drain/maint shows in baton_server_state.
 */
import client from 'prom-client';
import { QUEUE_WAIT_BUCKETS_S, type ServiceCounters } from '@baton/proxy';
import type { BatonConfig } from '../config/types.js';
import type { ControlPlane } from '../control-plane.js';
import type { InstanceSnapshot } from '../vrrp/instance.js';

const VRRP_STATES = ['init', 'backup', 'master', 'fault'] as const;
const SERVER_STATES = ['up', 'down', 'drain', 'maint'] as const;

export interface MetricsSources {
  config: () => BatonConfig | undefined;
  control: ControlPlane;
  counters: () => Promise<ServiceCounters[]>;
  vrrp: () => readonly InstanceSnapshot[];
  /** The cluster channel's counters; undefined without `cluster:`. */
  cluster?: () => { sent: number; received: number; dropped: Record<string, number> } | undefined;
}

/** The _bucket (cumulative), _sum and _count lines of the queue-wait histogram. */
function queueWaitValues(snapshot: readonly ServiceCounters[]): Array<{ metricName: string; labels: Record<string, string | number>; value: number }> {
  const name = 'baton_service_queue_seconds';
  const out: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
  for (const svc of snapshot) {
    let cumulative = 0;
    svc.queueWait.buckets.forEach((n, i) => {
      cumulative += n;
      const le = i < QUEUE_WAIT_BUCKETS_S.length ? QUEUE_WAIT_BUCKETS_S[i]! : '+Inf';
      out.push({ metricName: `${name}_bucket`, labels: { le, service: svc.name }, value: cumulative });
    });
    out.push({ metricName: `${name}_sum`, labels: { service: svc.name }, value: svc.queueWait.sumS });
    out.push({ metricName: `${name}_count`, labels: { service: svc.name }, value: svc.queueWait.count });
  }
  return out;
}

export class BatonMetrics {
  readonly registry = new client.Registry();
  private snapshot: ServiceCounters[] = [];
  private readonly checkDuration: client.Histogram<'service' | 'server'>;
  private readonly writerChanges = new Map<string, number>();
  private readonly lastWriter = new Map<string, string | null>();
  /** Label sets the histogram holds, so a reload can remove the ones gone. */
  private readonly observed = new Map<string, { service: string; server: string }>();

  constructor(private readonly sources: MetricsSources) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry });
    // prom-client names three gauges *_total, which promtool rejects (a
    // _total suffix means a counter); the same counts remain, by type, in
    // nodejs_active_handles / _requests / _resources.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
    const self = this;

    new client.Gauge({
      name: 'baton_vrrp_state',
      help: 'VRRP state of each instance: 1 for the current state, 0 for the others.',
      labelNames: ['instance', 'state'],
      registers,
      collect() {
        this.reset();
        for (const s of self.sources.vrrp()) for (const state of VRRP_STATES) this.set({ instance: s.name, state }, s.state === state ? 1 : 0);
      },
    });
    new client.Counter({
      name: 'baton_vrrp_transitions_total',
      help: 'VRRP state transitions, by destination state.',
      labelNames: ['instance', 'to'],
      registers,
      collect() {
        this.reset();
        for (const s of self.sources.vrrp()) for (const to of VRRP_STATES) this.inc({ instance: s.name, to }, s.stats.transitions[to] ?? 0);
      },
    });
    new client.Counter({
      name: 'baton_vrrp_adverts_sent_total',
      help: 'VRRP advertisements sent.',
      labelNames: ['instance'],
      registers,
      collect() {
        this.reset();
        for (const s of self.sources.vrrp()) this.inc({ instance: s.name }, s.stats.advertsSent);
      },
    });
    new client.Counter({
      name: 'baton_vrrp_adverts_received_total',
      help: 'Valid VRRP advertisements received.',
      labelNames: ['instance'],
      registers,
      collect() {
        this.reset();
        for (const s of self.sources.vrrp()) this.inc({ instance: s.name }, s.stats.advertsReceived);
      },
    });
    new client.Counter({
      name: 'baton_vrrp_address_mismatch_total',
      help: 'VRRP advertisements processed although their address list differs from ours (not counted as dropped).',
      labelNames: ['instance'],
      registers,
      collect() {
        this.reset();
        for (const s of self.sources.vrrp()) this.inc({ instance: s.name }, s.stats.addressMismatches ?? 0);
      },
    });
    new client.Counter({
      name: 'baton_vrrp_packets_dropped_total',
      help: 'VRRP packets dropped, by reason.',
      labelNames: ['instance', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const s of self.sources.vrrp()) for (const [reason, n] of Object.entries(s.stats.drops)) this.inc({ instance: s.name, reason }, n);
      },
    });

    const perServer = (fn: (svc: ServiceCounters, s: ServiceCounters['servers'][number]) => void) => {
      for (const svc of self.snapshot) for (const s of svc.servers) fn(svc, s);
    };
    new client.Gauge({
      name: 'baton_server_up',
      help: 'Health of each server: 1 when its checks pass (or it has none), 0 when down.',
      labelNames: ['service', 'server'],
      registers,
      collect() {
        this.reset();
        for (const svc of self.sources.config()?.services ?? []) {
          for (const srv of svc.servers) {
            this.set({ service: svc.name, server: srv.name }, self.sources.control.status(svc.name, srv.name)?.health === 'up' ? 1 : 0);
          }
        }
      },
    });
    new client.Gauge({
      name: 'baton_server_state',
      help: 'Effective state of each server (health and operator): 1 for the current state.',
      labelNames: ['service', 'server', 'state'],
      registers,
      collect() {
        this.reset();
        for (const svc of self.sources.config()?.services ?? []) {
          for (const srv of svc.servers) {
            const current = self.sources.control.status(svc.name, srv.name)?.state;
            for (const state of SERVER_STATES) this.set({ service: svc.name, server: srv.name, state }, current === state ? 1 : 0);
          }
        }
      },
    });
    new client.Gauge({
      name: 'baton_server_connections',
      help: 'Client sessions open now, per server.',
      labelNames: ['service', 'server'],
      registers,
      collect() {
        this.reset();
        perServer((svc, s) => this.set({ service: svc.name, server: s.name }, s.active));
      },
    });
    new client.Counter({
      name: 'baton_server_connections_total',
      help: 'Sessions established to each server.',
      labelNames: ['service', 'server'],
      registers,
      collect() {
        this.reset();
        perServer((svc, s) => this.inc({ service: svc.name, server: s.name }, s.total));
      },
    });
    new client.Counter({
      name: 'baton_server_bytes_total',
      help: 'Bytes relayed per server: in = from clients to the server, out = from the server to clients.',
      labelNames: ['service', 'server', 'direction'],
      registers,
      collect() {
        this.reset();
        perServer((svc, s) => {
          this.inc({ service: svc.name, server: s.name, direction: 'in' }, s.bytesIn);
          this.inc({ service: svc.name, server: s.name, direction: 'out' }, s.bytesOut);
        });
      },
    });
    new client.Counter({
      name: 'baton_server_connect_errors_total',
      help: 'Connects to each server that were refused, timed out or failed.',
      labelNames: ['service', 'server'],
      registers,
      collect() {
        this.reset();
        perServer((svc, s) => this.inc({ service: svc.name, server: s.name }, s.connectErrors));
      },
    });
    this.checkDuration = new client.Histogram({
      name: 'baton_health_check_duration_seconds',
      help: 'Duration of health checks, failed ones included.',
      labelNames: ['service', 'server'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    new client.Counter({
      name: 'baton_service_connections_total',
      help: 'Client connections accepted per service.',
      labelNames: ['service'],
      registers,
      collect() {
        this.reset();
        for (const svc of self.snapshot) this.inc({ service: svc.name }, svc.total);
      },
    });
    new client.Gauge({
      name: 'baton_server_max_connections',
      help: 'Session limit of each server that has one (max_connections), to set against baton_server_connections.',
      labelNames: ['service', 'server'],
      registers,
      collect() {
        this.reset();
        perServer((svc, s) => {
          if (s.maxConnections > 0) this.set({ service: svc.name, server: s.name }, s.maxConnections);
        });
      },
    });
    new client.Gauge({
      name: 'baton_service_queue_length',
      help: 'Clients waiting now for a server slot, per service.',
      labelNames: ['service'],
      registers,
      collect() {
        this.reset();
        for (const svc of self.snapshot) this.set({ service: svc.name }, svc.queued);
      },
    });
    new client.Counter({
      name: 'baton_service_queue_timeouts_total',
      help: 'Queued clients closed because they waited longer than queue_timeout.',
      labelNames: ['service'],
      registers,
      collect() {
        this.reset();
        for (const svc of self.snapshot) this.inc({ service: svc.name }, svc.queueTimeouts);
      },
    });
    // The workers keep the queue-wait buckets and the daemon sums them, so
    // this histogram is built from those sums; prom-client's Histogram can
    // only observe values one by one.
    const queueName = 'baton_service_queue_seconds';
    const queueHelp = 'Time queued clients waited for a server slot (served or timed out).';
    this.registry.registerMetric({
      name: queueName,
      help: queueHelp,
      type: 'histogram',
      aggregator: 'sum',
      get: () => ({ name: queueName, help: queueHelp, type: 'histogram', aggregator: 'sum', values: queueWaitValues(self.snapshot) }),
      reset: () => {},
    } as unknown as client.Metric);
    new client.Counter({
      name: 'baton_service_writer_changes_total',
      help: 'Times a writer service moved its writer to another server (or to none).',
      labelNames: ['service'],
      registers,
      collect() {
        this.reset();
        for (const svc of self.sources.config()?.services ?? []) {
          if (svc.balance === 'writer') this.inc({ service: svc.name }, self.writerChanges.get(svc.name) ?? 0);
        }
      },
    });
    new client.Counter({
      name: 'baton_cluster_messages_dropped_total',
      help: 'Cluster peer messages dropped, by reason (bad-mac: not signed with the shared secret).',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        const c = self.sources.cluster?.();
        if (c) for (const [reason, n] of Object.entries(c.dropped)) this.inc({ reason }, n);
      },
    });
    new client.Counter({
      name: 'baton_cluster_messages_total',
      help: 'Cluster peer messages sent and accepted.',
      labelNames: ['direction'],
      registers,
      collect() {
        this.reset();
        const c = self.sources.cluster?.();
        if (!c) return;
        this.inc({ direction: 'sent' }, c.sent);
        this.inc({ direction: 'received' }, c.received);
      },
    });
    sources.control.subscribe((event) => {
      if (event.writer === undefined || event.service === '*') return;
      const last = this.lastWriter.get(event.service);
      this.lastWriter.set(event.service, event.writer);
      // The first choice of a writer is not a change.
      if (last !== undefined && last !== event.writer) this.writerChanges.set(event.service, (this.writerChanges.get(event.service) ?? 0) + 1);
    });
  }

  observeCheck(service: string, server: string, ms: number): void {
    const labels = { service, server };
    this.observed.set(`${service}\0${server}`, labels);
    this.checkDuration.observe(labels, ms / 1000);
  }

  /** Forgets series of services and servers a reload removed. */
  prune(config: BatonConfig): void {
    const names = new Set(config.services.flatMap((s) => s.servers.map((x) => `${s.name}\0${x.name}`)));
    for (const [key, labels] of this.observed) {
      if (names.has(key)) continue;
      this.observed.delete(key);
      this.checkDuration.remove(labels);
    }
    const services = new Set(config.services.map((s) => s.name));
    for (const service of [...this.lastWriter.keys()]) {
      if (!services.has(service)) {
        this.lastWriter.delete(service);
        this.writerChanges.delete(service);
      }
    }
  }

  async render(): Promise<{ contentType: string; body: string }> {
    this.snapshot = await this.sources.counters();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
