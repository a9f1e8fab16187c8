/**
 * The chaos run's verdict, as pure functions of what the run recorded: the
 * faults with their times, each node's VIP (from `ip monitor`), when a node
 * was cut off the segment, the writer samples, the client failures and the
 * daemons' exits and footprint. No I/O, so it is tested on made-up records
 * (test/chaos.test.ts) as well as run on real ones.
 *
 * Definitions:
 * - A VIP owner is a node that holds the VIP, is on the segment (not
 *   partitioned, link up) and runs its daemon: a node cut off may hold the
 *   VIP in its own island (it cannot know better), but no client can reach
 *   it there. A VIP still on the interface of a node whose daemon is down
 *   (SIGKILL of the whole process group: no process is left to remove it)
 *   is "stale": not an owner, counted on its own line.
 * - Each fault opens windows in which the protocol allows the VIP to have
 *   no owner or two, and the nodes to name different writers: `vipBoundMs`
 *   (3 × advert interval + skew) and `writerBoundMs` (health checks' fall/
 *   rise + timeout + one message) after the injection and after the heal
 *   (measured from when the command started to when it returned, plus the
 *   bound); after a heal that ends a node's isolation, one more cluster
 *   message period for the writers (CLUSTER_PERIOD_MS). A fault that lasts (loss and delay for both; CPU starvation for
 *   the writers, since health checks are not real-time) excludes its whole
 *   span as well. Samples outside every window are "judged".
 * - Writer agreement: every node that answers names the same writer ("none"
 *   counts as a name: its clients would be refused); a node that does not
 *   answer (stopped, cut off) is not live.
 * - A writer change is a change of the writer every live node agrees on
 *   (from one server to another, "none" aside). With `failback: false` the
 *   writer changes only when it fails: a change is explained when the old
 *   writer's database was killed since the nodes first agreed on it; any
 *   other change is reported (not a failure of the run: it is a finding to
 *   look into, like a reset it causes).
 * - A crash is a daemon that exited when it was not told to, or exited
 *   non-zero (or by a signal) after SIGTERM; the engine records them.
 */

export const FAULT_KINDS = ['sigkill', 'sigterm', 'link', 'netem', 'partition', 'db-kill', 'sighup', 'vrrp-burst', 'cpu-hog'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Faults whose whole span is excluded from the VIP verdict (VRRP over a lossy link may flap). */
const SUSTAINED_FOR_VIP: ReadonlySet<FaultKind> = new Set(['netem']);
/** … and from the writer verdict (a starved or lossy node's checks may fail on it alone). */
const SUSTAINED_FOR_WRITER: ReadonlySet<FaultKind> = new Set(['netem', 'cpu-hog']);
/**
 * A node back from isolation hears its peers' decisions with their next
 * periodic message (every second; only a change is sent at once), so the
 * writer bound after these heals is one period longer.
 */
export const CLUSTER_PERIOD_MS = 1000;
const ISOLATING: ReadonlySet<FaultKind> = new Set(['link', 'partition', 'netem']);

export interface FaultRecord {
  kind: FaultKind;
  /** The node or database hit, or "-". */
  target: string;
  detail: string;
  /** Epoch ms: the injection started and returned; the heal (restart, link up …) started and returned. */
  at: number;
  done: number;
  healAt?: number;
  healDone?: number;
}

export interface VipEvent {
  at: number;
  node: string;
  held: boolean;
}

/** A node off the segment (link down, partitioned), or with its daemon down, from `from` to `to`. */
export interface OffSegment {
  node: string;
  from: number;
  to: number;
}

export interface WriterSample {
  at: number;
  /** Node -> writer named, "none", or "-" (did not answer). */
  w: Record<string, string>;
}

export interface ClientError {
  /** The failed attempt's start and its failure (epoch ms). */
  at: number;
  end?: number;
  port: string;
  kind: string;
  code: string;
}

export interface DaemonFootprint {
  rssKb: number;
  fds: number;
}

export interface DaemonRecord {
  node: string;
  start: DaemonFootprint | null;
  end: DaemonFootprint | null;
  starts: number;
  crashes: string[];
}

export interface ChaosInputs {
  seed: number;
  minutes: number;
  nodes: readonly string[];
  /** The judged span: from steady state to the end of the quiet tail. */
  from: number;
  to: number;
  vipBoundMs: number;
  writerBoundMs: number;
  /** How long a node killed outright may keep the VIP (its lifetime, plus the kernel's once-a-second check). */
  staleBoundMs: number;
  faults: readonly FaultRecord[];
  vipEvents: readonly VipEvent[];
  offSegment: readonly OffSegment[];
  daemonDown: readonly OffSegment[];
  samples: readonly WriterSample[];
  clientErrors: readonly ClientError[];
  clientOk: Record<string, number>;
  daemons: readonly DaemonRecord[];
  /** Anything else the engine saw go wrong (a reload refused, a child left behind …). */
  findings: readonly string[];
}

type Span = [number, number];

export function windowsOf(f: FaultRecord, boundMs: number, sustained: boolean, healBoundMs = boundMs): Span[] {
  const end = f.healDone ?? f.done;
  if (sustained) return [[f.at, end + healBoundMs]];
  const out: Span[] = [[f.at, f.done + boundMs]];
  if (f.healAt !== undefined && f.healDone !== undefined) out.push([f.healAt, f.healDone + healBoundMs]);
  return out;
}

const inAny = (t: number, spans: readonly Span[]) => spans.some(([a, b]) => t >= a && t < b);

/** The kind of the last fault injected at or before `t` ("before-faults" before the first). */
export function faultAt(faults: readonly FaultRecord[], t: number): string {
  let kind = 'before-faults';
  for (const f of faults) if (f.at <= t) kind = f.kind;
  return kind;
}

interface Step {
  at: number;
  owners: string[];
  /** Nodes holding the VIP with their daemon down. */
  stale: string[];
}

/** The VIP owners (and stale holders) as a step function: each entry holds from its time to the next one's. */
export function ownerSteps(nodes: readonly string[], events: readonly VipEvent[], off: readonly OffSegment[], down: readonly OffSegment[]): Step[] {
  type State = { held: Map<string, boolean>; off: Map<string, number>; down: Map<string, number> };
  const span = (o: OffSegment, key: 'off' | 'down') => [
    { at: o.from, apply: (s: State) => s[key].set(o.node, (s[key].get(o.node) ?? 0) + 1) },
    { at: o.to, apply: (s: State) => s[key].set(o.node, (s[key].get(o.node) ?? 0) - 1) },
  ];
  const changes = [
    ...events.map((e) => ({ at: e.at, apply: (s: State) => void s.held.set(e.node, e.held) })),
    ...off.flatMap((o) => span(o, 'off')),
    ...down.flatMap((o) => span(o, 'down')),
  ].sort((a, b) => a.at - b.at);
  const state: State = { held: new Map(), off: new Map(), down: new Map() };
  const steps: Step[] = [{ at: -Infinity, owners: [], stale: [] }];
  for (const c of changes) {
    c.apply(state);
    const holding = nodes.filter((n) => state.held.get(n) === true);
    const isDown = (n: string) => (state.down.get(n) ?? 0) > 0;
    const owners = holding.filter((n) => (state.off.get(n) ?? 0) <= 0 && !isDown(n));
    const stale = holding.filter(isDown);
    const last = steps[steps.length - 1]!;
    if (last.at === c.at) Object.assign(last, { owners, stale });
    else steps.push({ at: c.at, owners, stale });
  }
  return steps;
}

function stepAt(steps: readonly Step[], t: number): Step {
  let lo = 0;
  let hi = steps.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (steps[mid]!.at <= t) lo = mid;
    else hi = mid - 1;
  }
  return steps[lo]!;
}

export function classify(code: string): 'refused' | 'reset' | 'timeout' | 'other' {
  if (code === 'ECONNREFUSED') return 'refused';
  if (['ECONNRESET', 'EPIPE', 'PROTOCOL_CONNECTION_LOST', 'CONNECTION_CLOSED', 'ER_SERVER_SHUTDOWN', 'ER_CONNECTION_KILLED'].includes(code)) return 'reset';
  if (['ETIMEDOUT', 'PROTOCOL_SEQUENCE_TIMEOUT', 'EHOSTUNREACH'].includes(code)) return 'timeout';
  return 'other';
}

/** The longest stretch in [from, to) with owner count matching `want`, and the fault it started under. */
function longest(steps: readonly Step[], from: number, to: number, want: (s: Step) => boolean, faults: readonly FaultRecord[]) {
  let best = { ms: 0, at: from, fault: '-' };
  let start: number | undefined;
  const close = (t: number) => {
    if (start !== undefined && t - start > best.ms) best = { ms: t - start, at: start, fault: faultAt(faults, start) };
    start = undefined;
  };
  for (const [i, s] of steps.entries()) {
    const a = Math.max(s.at, from);
    const b = Math.min(steps[i + 1]?.at ?? to, to);
    if (b <= a) continue;
    if (want(s)) start ??= a;
    else close(a);
  }
  close(to);
  return { ms: Math.round(best.ms), at: best.at, fault: best.fault };
}

const share = (n: number, of: number) => (of === 0 ? null : Math.round((n / of) * 1e6) / 1e4);

export function analyze(x: ChaosInputs) {
  const vipWindows = x.faults.flatMap((f) => windowsOf(f, x.vipBoundMs, SUSTAINED_FOR_VIP.has(f.kind)));
  const writerWindows = x.faults.flatMap((f) =>
    windowsOf(f, x.writerBoundMs, SUSTAINED_FOR_WRITER.has(f.kind), x.writerBoundMs + (ISOLATING.has(f.kind) ? CLUSTER_PERIOD_MS : 0)),
  );
  const steps = ownerSteps(x.nodes, x.vipEvents, x.offSegment, x.daemonDown);
  const samples = x.samples.filter((s) => s.at >= x.from && s.at < x.to);

  // VIP, on the sampler's 20 ms grid.
  let vipJudged = 0;
  let exactlyOne = 0;
  let exactlyOneAll = 0;
  let staleSamples = 0;
  const dualOutside: Array<{ at: number; owners: string[]; after: string }> = [];
  const noneOutside: Array<{ at: number; after: string }> = [];
  for (const s of samples) {
    const { owners, stale } = stepAt(steps, s.at);
    if (owners.length === 1) exactlyOneAll++;
    if (stale.length > 0) staleSamples++;
    if (inAny(s.at, vipWindows)) continue;
    vipJudged++;
    if (owners.length === 1) exactlyOne++;
    else if (owners.length === 0) noneOutside.push({ at: s.at, after: faultAt(x.faults, s.at) });
    else dualOutside.push({ at: s.at, owners, after: faultAt(x.faults, s.at) });
  }

  // Writers.
  let writerJudged = 0;
  let agree = 0;
  let agreeAll = 0;
  let liveAll = 0;
  const disagreeOutside: Array<{ at: number; w: Record<string, string>; after: string }> = [];
  for (const s of samples) {
    const live = x.nodes.filter((n) => (s.w[n] ?? '-') !== '-');
    if (live.length === 0) continue;
    const same = new Set(live.map((n) => s.w[n])).size === 1;
    liveAll++;
    if (same) agreeAll++;
    if (inAny(s.at, writerWindows)) continue;
    writerJudged++;
    if (same) agree++;
    else disagreeOutside.push({ at: s.at, w: s.w, after: faultAt(x.faults, s.at) });
  }

  // Changes of the agreed writer, and whether the old writer's database was killed meanwhile.
  const writerChanges: Array<{ at: number; from: string; to: string; explained: boolean }> = [];
  let agreed: { w: string; since: number } | undefined;
  for (const s of samples) {
    const names = new Set(x.nodes.map((n) => s.w[n] ?? '-').filter((w) => w !== '-'));
    if (names.size !== 1) continue;
    const w = [...names][0]!;
    if (w === 'none') continue;
    if (agreed && agreed.w !== w) {
      const since = agreed.since;
      // Explained: the old writer's database was killed meanwhile, or the deciding node (the VIP
      // owner) had loss and delay on its link, which fail its checks as a dead server would.
      const explained = x.faults.some(
        (f) =>
          (f.kind === 'db-kill' && f.target === agreed!.w && f.at >= since && f.at <= s.at) ||
          (f.kind === 'netem' && stepAt(steps, f.at).owners.includes(f.target) && s.at >= f.at && s.at <= (f.healDone ?? f.done) + x.writerBoundMs),
      );
      writerChanges.push({ at: s.at, from: agreed.w, to: w, explained });
    }
    if (!agreed || agreed.w !== w) agreed = { w, since: s.at };
  }

  // Client failures by class, under the fault last injected before the failure (an attempt under way when a fault strikes is that fault's).
  const errors: Record<string, Record<'refused' | 'reset' | 'timeout' | 'other', number>> = {};
  const otherCodes: Record<string, number> = {};
  for (const e of x.clientErrors) {
    const kind = faultAt(x.faults, e.end ?? e.at);
    const row = (errors[kind] ??= { refused: 0, reset: 0, timeout: 0, other: 0 });
    const c = classify(e.code);
    row[c]++;
    if (c === 'other') otherCodes[e.code] = (otherCodes[e.code] ?? 0) + 1;
  }

  // Failovers: the VIP taken by a node (the first owner is not one), under the fault last injected.
  const takes = x.vipEvents.filter((e) => e.held).sort((a, b) => a.at - b.at);
  const failovers: Record<string, number> = {};
  for (const e of takes.slice(1)) failovers[faultAt(x.faults, e.at)] = (failovers[faultAt(x.faults, e.at)] ?? 0) + 1;

  const injected: Record<string, number> = {};
  for (const f of x.faults) injected[f.kind] = (injected[f.kind] ?? 0) + 1;
  const crashes = x.daemons.flatMap((d) => d.crashes.map((c) => `${d.node}: ${c}`));

  const failures: string[] = [];
  if (crashes.length > 0) failures.push(`${crashes.length} daemon crash(es): ${crashes.slice(0, 3).join('; ')}`);
  if (dualOutside.length > 0) failures.push(`${dualOutside.length} sample(s) with two VIP owners outside the bounds, first ${JSON.stringify(dualOutside[0])}`);
  if (disagreeOutside.length > 0) failures.push(`${disagreeOutside.length} sample(s) of writer disagreement outside the bounds, first ${JSON.stringify(disagreeOutside[0])}`);
  const unexplained = writerChanges.filter((c) => !c.explained);
  if (unexplained.length > 0) failures.push(`${unexplained.length} change(s) of the agreed writer with the old writer alive, first ${JSON.stringify({ ...unexplained[0], after: faultAt(x.faults, unexplained[0]!.at) })}`);
  const longestStale = longest(steps, x.from, x.to, (st) => st.stale.length > 0, x.faults);
  if (longestStale.ms > x.staleBoundMs) failures.push(`the VIP stayed on a node with its daemon down for ${longestStale.ms} ms (bound ${x.staleBoundMs} ms), from ${JSON.stringify(longestStale)}`);
  if (samples.length === 0) failures.push('no samples');

  return {
    ok: failures.length === 0,
    failures,
    seed: x.seed,
    minutes: x.minutes,
    /** Epoch ms of the start of the judged span; the fault times below are relative to it. */
    from: x.from,
    judgedSeconds: Math.round((x.to - x.from) / 1000),
    bounds: { vipMs: x.vipBoundMs, writerMs: x.writerBoundMs, writerAfterIsolationMs: x.writerBoundMs + CLUSTER_PERIOD_MS },
    faults: { total: x.faults.length, byKind: injected, list: x.faults.map((f) => ({ ...f, at: Math.round(f.at - x.from), done: Math.round(f.done - x.from), healAt: f.healAt === undefined ? undefined : Math.round(f.healAt - x.from), healDone: f.healDone === undefined ? undefined : Math.round(f.healDone - x.from) })) },
    vip: {
      samples: samples.length,
      judged: vipJudged,
      exactlyOneShareJudged: share(exactlyOne, vipJudged),
      exactlyOneShareAll: share(exactlyOneAll, samples.length),
      noOwnerJudged: noneOutside.length,
      dualJudged: dualOutside.length,
      longestNoOwner: longest(steps, x.from, x.to, (s) => s.owners.length === 0, x.faults),
      longestDual: longest(steps, x.from, x.to, (s) => s.owners.length >= 2, x.faults),
      staleSamples,
      longestStale,
      staleBoundMs: x.staleBoundMs,
      firstDualOutside: dualOutside.slice(0, 5),
      firstNoOwnerOutside: noneOutside.slice(0, 5),
    },
    writer: {
      samplesWithLiveNodes: liveAll,
      judged: writerJudged,
      agreeShareJudged: share(agree, writerJudged),
      agreeShareAll: share(agreeAll, liveAll),
      disagreeJudged: disagreeOutside.length,
      firstDisagreeOutside: disagreeOutside.slice(0, 5),
      changes: writerChanges.length,
      unexplainedChanges: writerChanges.filter((c) => !c.explained).map((c) => ({ ...c, after: faultAt(x.faults, c.at) })),
    },
    clients: { ok: x.clientOk, errors, otherCodes },
    failovers: { total: Math.max(0, takes.length - 1), byFault: failovers },
    crashes: crashes.length,
    crashList: crashes,
    daemons: x.daemons,
    findings: x.findings,
  };
}

export type ChaosReport = ReturnType<typeof analyze>;

const pct = (v: number | null) => (v === null ? '-' : `${v.toFixed(2)} %`);

/** The report as a plain-text table. */
export function table(r: ChaosReport): string {
  const lines: string[] = [];
  const row = (k: string, v: string | number) => lines.push(`${k.padEnd(52)} ${v}`);
  lines.push(`chaos run: ${r.minutes} min, seed ${r.seed}, ${r.faults.total} faults, ${r.judgedSeconds} s judged`);
  lines.push(`bounds: VIP ${r.bounds.vipMs} ms (3 x interval + skew), writer ${r.bounds.writerMs} ms (${r.bounds.writerAfterIsolationMs} ms after a link, partition or loss heals), after each injection and heal`);
  lines.push('');
  row('VIP: samples (20 ms) / judged outside the bounds', `${r.vip.samples} / ${r.vip.judged}`);
  row('VIP: exactly one owner, judged samples', pct(r.vip.exactlyOneShareJudged));
  row('VIP: exactly one owner, all samples', pct(r.vip.exactlyOneShareAll));
  row('VIP: no owner / two owners, judged samples', `${r.vip.noOwnerJudged} / ${r.vip.dualJudged}`);
  row('VIP: longest with no owner', `${r.vip.longestNoOwner.ms} ms (during ${r.vip.longestNoOwner.fault})`);
  row('VIP: longest with two owners', `${r.vip.longestDual.ms} ms (during ${r.vip.longestDual.fault})`);
  row('VIP: samples with a stale VIP on a stopped node', `${r.vip.staleSamples} (longest ${r.vip.longestStale.ms} ms, during ${r.vip.longestStale.fault})`);
  row('writer: samples with a live node / judged', `${r.writer.samplesWithLiveNodes} / ${r.writer.judged}`);
  row('writer: all live nodes agree, judged samples', pct(r.writer.agreeShareJudged));
  row('writer: all live nodes agree, all samples', pct(r.writer.agreeShareAll));
  row('writer: disagreeing judged samples', r.writer.disagreeJudged);
  row('writer: changes / without the old writer killed', `${r.writer.changes} / ${r.writer.unexplainedChanges.length}${r.writer.unexplainedChanges.length > 0 ? ` (after ${r.writer.unexplainedChanges.map((c) => c.after).join(', ')})` : ''}`);
  row('failovers (VIP taken by another node)', r.failovers.total);
  row('daemon crashes', r.crashes);
  lines.push('');
  const kinds = [...new Set(['before-faults', ...FAULT_KINDS, ...Object.keys(r.clients.errors)])];
  lines.push(`${'fault'.padEnd(14)} ${'injected'.padStart(8)} ${'failovers'.padStart(9)} ${'refused'.padStart(8)} ${'reset'.padStart(8)} ${'timeout'.padStart(8)} ${'other'.padStart(8)}`);
  for (const k of kinds) {
    const e = r.clients.errors[k] ?? { refused: 0, reset: 0, timeout: 0, other: 0 };
    lines.push(
      `${k.padEnd(14)} ${String(r.faults.byKind[k] ?? 0).padStart(8)} ${String(r.failovers.byFault[k] ?? 0).padStart(9)} ${String(e.refused).padStart(8)} ${String(e.reset).padStart(8)} ${String(e.timeout).padStart(8)} ${String(e.other).padStart(8)}`,
    );
  }
  if (Object.keys(r.clients.otherCodes).length > 0) lines.push(`other error codes: ${JSON.stringify(r.clients.otherCodes)}`);
  lines.push(`client successes: ${JSON.stringify(r.clients.ok)}`);
  lines.push('');
  lines.push(`${'daemon'.padEnd(8)} ${'starts'.padStart(6)} ${'RSS start kB'.padStart(13)} ${'RSS end kB'.padStart(11)} ${'fds start'.padStart(10)} ${'fds end'.padStart(8)} crashes`);
  for (const d of r.daemons) {
    lines.push(
      `${d.node.padEnd(8)} ${String(d.starts).padStart(6)} ${String(d.start?.rssKb ?? '-').padStart(13)} ${String(d.end?.rssKb ?? '-').padStart(11)} ${String(d.start?.fds ?? '-').padStart(10)} ${String(d.end?.fds ?? '-').padStart(8)} ${d.crashes.length}`,
    );
  }
  if (r.findings.length > 0) {
    lines.push('');
    lines.push('findings:');
    for (const f of r.findings) lines.push(`  ${f}`);
  }
  lines.push('');
  lines.push(r.ok ? 'chaos: ok' : `chaos: FAILED\n  ${r.failures.join('\n  ')}`);
  return lines.join('\n');
}
