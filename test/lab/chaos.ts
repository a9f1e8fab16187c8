/**
 * The chaos run (issue #13): three real `baton start` daemons (VRRPv3,
 * 100 ms adverts, `cluster:` writer agreement) in front of two real MariaDB
 * servers, in the network-namespace lab, with a client in `cli` sending
 * short connections and long sessions through the VIP's write (3306) and
 * read (3307) ports, while a seeded schedule injects a fault every 3-15 s:
 * SIGKILL (of the daemon, or of its whole process group: a node crash) or
 * SIGTERM of a Baton node and its restart; its link down and up; loss and
 * delay on its link; a partition of it (link up, nothing passes) and the
 * heal; a database killed and restarted; a SIGHUP with a randomly changed
 * valid config; a burst of malformed VRRP packets; a CPU hog on both cores.
 * Each node's VIP comes from `ip monitor` in its namespace, each node's
 * writer from a sampler polling /api/status every 20 ms; chaos-report.ts
 * turns the records into the verdict.
 *
 * Invariants:
 * - The schedule is a pure function of the seed (planFor), printed first,
 *   so a failing run is replayed with `--seed`; what happens at run time
 *   (which node is master when "the master" is hit) is in the fault list.
 * - Faults do not overlap: each one is healed (the node restarted, the DB
 *   up again, the link back) before the next starts, so at most one Baton
 *   node and one database are down at a time.
 * - Everything runs inside one lab (withLab): processes through lab.spawn(),
 *   stopped by PID; the lab, its namespaces, processes and temp dir are
 *   removed whether the run passes, fails or throws. Every load (client,
 *   sampler, CPU hog, injector, impairment relay) is bounded in time.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeAdvert, vipLifetimeSeconds } from '@baton/vrrp';
import { prng } from '@baton/vrrp/testing';
import { withLab, type Lab } from './lab.js';
import { epochNow, Proc, repoRoot } from './baton-node.js';
import { LabMariaDb } from './mariadb-node.js';
import { ADMIN_PORT, APP_PW, CLUSTER_PORT, DB_SETUP, DB_USERS, startClusterNode, started, waitFor, writeServiceOf } from './cluster-node.js';
import { analyze, type ChaosReport, type ClientError, type DaemonFootprint, type FaultKind, type FaultRecord, type OffSegment, type VipEvent, type WriterSample, FAULT_KINDS } from './chaos-report.js';
import type { ChaosClientRequest } from './chaos-client.js';
import type { ChaosSamplerRequest } from './chaos-sampler.js';
import type { InjectRequest } from './vrrp-inject.js';

export { table, type ChaosReport } from './chaos-report.js';

const NODES = ['lb1', 'lb2', 'lb3'] as const;
const DBS = ['db1', 'db2'] as const;
/** Far enough apart that two backups' master-down timers differ by ~20 ms: the first one's advert reaches the other before it fires. */
const PRIORITY: Record<string, number> = { lb1: 200, lb2: 150, lb3: 100 };
const ADVERT_MS = 100;
const VRID = 61;
const WRITE_PORT = 3306;
const READ_PORT = 3307;
const CHECK = { intervalMs: 250, timeoutMs: 200, rise: 2, fall: 2 };
/** RFC 5798: master down = 3 × interval + skew, skew = (256 − priority) × interval / 256; the lowest priority waits longest. */
export const VIP_BOUND_MS = 3 * ADVERT_MS + ((256 - Math.min(...Object.values(PRIORITY))) * ADVERT_MS) / 256;
/** A server's state changes after at most max(rise, fall) + 1 check intervals plus a timeout on every node; then one cluster message. */
export const WRITER_BOUND_MS = (Math.max(CHECK.rise, CHECK.fall) + 1) * CHECK.intervalMs + CHECK.timeoutMs + 100;
const SAMPLE_MS = 20;
const here = import.meta.dirname;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ the plan

/** What a SIGHUP may change: service settings only, all valid, none that moves the writer or the VIP by itself. */
export interface ConfigVariant {
  connectTimeout: '1s' | '2s';
  idleTimeout: '1h' | '8h';
  retries: 0 | 1;
  readBalance: 'roundrobin' | 'leastconn';
  readWeights: [number, number];
  garpRepeat: number;
  extraService: boolean;
}

const BASE_VARIANT: ConfigVariant = { connectTimeout: '1s', idleTimeout: '8h', retries: 0, readBalance: 'roundrobin', readWeights: [1, 1], garpRepeat: 5, extraService: false };

export interface PlannedFault {
  kind: FaultKind;
  /** Seconds from this fault's start to the next one's. */
  gapS: number;
  /** How long the fault holds before its heal (restart, link up …). */
  holdS: number;
  /** Hit the current VIP owner (or the current writer, for a database) rather than `node` / `db`. */
  current: boolean;
  node: string;
  db: string;
  /** sigkill: the daemon alone (its children must follow) rather than its whole process group. */
  daemonOnly: boolean;
  netem: { lossPct: number; delayMs: number; jitterMs: number };
  burst: { count: number; seed: number };
  variant: ConfigVariant;
}

/** The whole schedule, from the seed alone: every fault draws the same number of values, whatever its kind. */
export function planFor(seed: number, minutes: number): PlannedFault[] {
  const rnd = prng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const plan: PlannedFault[] = [];
  for (let t = 0; t < minutes * 60; ) {
    const gapS = int(3, 15);
    const f: PlannedFault = {
      kind: pick(FAULT_KINDS),
      gapS,
      holdS: int(1, Math.min(8, gapS - 1)),
      current: rnd() < 0.5,
      node: pick(NODES),
      db: pick(DBS),
      daemonOnly: rnd() < 0.5,
      netem: { lossPct: int(1, 15), delayMs: int(10, 80), jitterMs: int(0, 10) },
      burst: { count: int(300, 2000), seed: int(1, 1_000_000) },
      variant: {
        connectTimeout: pick(['1s', '2s'] as const),
        idleTimeout: pick(['1h', '8h'] as const),
        retries: pick([0, 1] as const),
        readBalance: pick(['roundrobin', 'leastconn'] as const),
        readWeights: [int(1, 3), int(1, 3)],
        garpRepeat: int(1, 5),
        extraService: rnd() < 0.5,
      },
    };
    plan.push(f);
    t += gapS;
  }
  return plan;
}

/** One fault for a fixed schedule (a reproduction): `kind` on `node` / `db`, the rest at calm defaults. */
export function planned(kind: FaultKind, o: Partial<Omit<PlannedFault, 'kind'>> = {}): PlannedFault {
  return {
    kind, gapS: 10, holdS: 3, current: false, node: 'lb2', db: 'db1', daemonOnly: false,
    netem: { lossPct: 5, delayMs: 30, jitterMs: 5 }, burst: { count: 500, seed: 1 }, variant: BASE_VARIANT, ...o,
  };
}

// ------------------------------------------------------------------ config

/**
 * A deliberately broken lb2, to see the verdict fail in the lab: `vrrp`, it
 * uses another VRID (it hears no master and takes the VIP too); `cluster`,
 * it signs with another secret and lists the servers the other way round
 * (it decides alone, on db2).
 */
export type Sabotage = 'vrrp' | 'cluster';

function chaosYaml(lab: Lab, node: string, vip: string, dbs: readonly LabMariaDb[], v: ConfigVariant, sabotage?: Sabotage): string {
  const addr = lab.node(node).addr;
  const broken = node === 'lb2' ? sabotage : undefined;
  if (broken === 'cluster') dbs = [...dbs].reverse();
  const peers = NODES.filter((n) => n !== node).map((n) => `${lab.node(n).addr}:${CLUSTER_PORT}`);
  const health = `{ check: mysql, interval: ${CHECK.intervalMs}ms, timeout: ${CHECK.timeoutMs}ms, rise: ${CHECK.rise}, fall: ${CHECK.fall}, user: hcheck, password_env: HCHECK_PASSWORD }`;
  return `node: ${node}
admin: { listen: ${addr}:${ADMIN_PORT} }
workers: 1
shutdown_timeout: 1s
state_file: ${join(lab.dir, `${node}-state.json`)}
cluster:
  listen: ${addr}:${CLUSTER_PORT}
  peers: [${peers.join(', ')}]
  secret_env: ${broken === 'cluster' ? 'HCHECK_PASSWORD' : 'BATON_CLUSTER_SECRET'}
  startup_wait: 2s
vrrp:
  - name: VI_1
    interface: eth0
    router_id: ${broken === 'vrrp' ? VRID + 1 : VRID}
    version: 3
    priority: ${PRIORITY[node]}
    advert_interval: ${ADVERT_MS}ms
    preempt: false
    virtual_ips: [${vip}/24]
    garp: { repeat: ${v.garpRepeat} }
    track: { interfaces: [eth0], services: [write] }
services:
  - name: write
    listen: 0.0.0.0:${WRITE_PORT}
    balance: writer
    writer: { pick: first, failback: false, on_change: close }
    connect_timeout: ${v.connectTimeout}
    idle_timeout: ${v.idleTimeout}
    retries: ${v.retries}
    health: ${health}
    servers:
${dbs.map((d) => `      - { name: ${d.node}, address: ${d.address} }`).join('\n')}
  - name: read
    listen: 0.0.0.0:${READ_PORT}
    balance: ${v.readBalance}
    connect_timeout: ${v.connectTimeout}
    idle_timeout: ${v.idleTimeout}
    retries: 1
    health: ${health}
    servers:
${dbs.map((d, i) => `      - { name: ${d.node}, address: ${d.address}, weight: ${v.readWeights[i] ?? 1} }`).join('\n')}
${v.extraService ? `  - name: extra\n    listen: 127.0.0.1:3399\n    servers:\n      - { name: ${dbs[0]!.node}, address: ${dbs[0]!.address} }\n` : ''}`;
}

// ------------------------------------------------------------------ daemons

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Alive and not a zombie (an orphan's exit is reaped by whoever adopted it, maybe late). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '(exited)';
  }
}

/** RSS and open fds of a daemon and its children (the VRRP child, the worker). */
function footprint(pid: number): DaemonFootprint {
  let rssKb = 0;
  let fds = 0;
  for (const p of [pid, ...childrenOf(pid)]) {
    try {
      rssKb += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
      fds += readdirSync(`/proc/${p}/fd`).length;
    } catch {
      // Exited in between.
    }
  }
  return { rssKb, fds };
}

/** One Baton node: its current process, what it was told, and every exit it was not told to make. */
class Node {
  proc: Proc | undefined;
  /** Every process this node ran, for its log. */
  readonly runs: Proc[] = [];
  private told: NodeJS.Signals | undefined;
  starts = 0;
  readonly crashes: string[] = [];
  startFootprint: DaemonFootprint | null = null;
  /** Since when the daemon is down (told to stop), until its next start logs "baton started". */
  private downSince: number | undefined;

  constructor(
    private readonly lab: Lab,
    readonly name: string,
    public yaml: string,
    private readonly finding: (f: string) => void,
    private readonly down: OffSegment[],
  ) {}

  get pid(): number | undefined {
    return this.proc && !this.proc.exited ? this.proc.child.pid : undefined;
  }

  /** Starts the daemon; resolves with the time it logged "baton started". */
  async start(): Promise<number> {
    this.told = undefined;
    const proc = startClusterNode(this.lab, this.name, this.yaml);
    this.proc = proc;
    this.runs.push(proc);
    this.starts++;
    proc.child.once('exit', (code, signal) => {
      const why = `exit code ${code ?? '-'} signal ${signal ?? '-'}`;
      if (this.told === undefined) this.crashes.push(`exited when not told to (${why}):\n${proc.text().slice(-3000)}`);
      else if (this.told === 'SIGTERM' && code !== 0) this.crashes.push(`${why} after SIGTERM:\n${proc.text().slice(-3000)}`);
    });
    const at = await started(proc);
    // Its VRRP instance started (and removed a VIP its predecessor left) before this line.
    if (this.downSince !== undefined) this.down.push({ node: this.name, from: this.downSince, to: at });
    this.downSince = undefined;
    return at;
  }

  /**
   * Signals the daemon (or its group), waits for it to exit, and checks that
   * its children went with it. Resolves with the time the daemon exited.
   */
  async stop(signal: 'SIGKILL' | 'SIGTERM', group = false): Promise<number> {
    const proc = this.proc;
    const pid = this.pid;
    if (!proc || pid === undefined) return epochNow();
    const kids = childrenOf(pid);
    this.told = signal;
    this.downSince = epochNow();
    if (group) proc.signalGroup(signal);
    else proc.signal(signal);
    try {
      await proc.waitExit(15_000);
    } catch {
      this.crashes.push(`still running 15 s after ${signal}`);
      proc.signalGroup('SIGKILL');
      await proc.waitExit(5000);
    }
    const exitedAt = epochNow();
    // The VRRP child and the worker leave when their channel to the daemon closes.
    const until = Date.now() + 5000;
    while (kids.some(alive) && Date.now() < until) await sleep(50);
    const left = kids.filter(alive);
    if (left.length > 0) {
      this.finding(`${this.name}: ${left.length} child process(es) of pid ${pid} still running 5 s after ${signal}${group ? ' (group)' : ''}: ${left.map((p) => `${p} ${cmdline(p)}`).join('; ')}`);
      for (const p of left) process.kill(p, 'SIGKILL');
    }
    return exitedAt;
  }

  /** Writes a new config and sends SIGHUP; resolves with the time of the outcome line. */
  async reload(yaml: string): Promise<number> {
    const proc = this.proc;
    if (!proc || this.pid === undefined) throw new Error(`${this.name} is not running`);
    this.yaml = yaml;
    writeFileSync(join(this.lab.dir, `${this.name}.yaml`), yaml);
    const mark = proc.lines.length;
    proc.signal('SIGHUP');
    const line = await proc.waitLine(/config reloaded|reload rejected/, 10_000, mark);
    if (/rejected/.test(line.text)) this.finding(`${this.name}: a valid config was rejected on SIGHUP: ${proc.lines.slice(mark).map((l) => l.text).join(' | ')}`);
    return line.at;
  }
}

// ------------------------------------------------------------------ observers

/** `ip -ts monitor address` in each node's namespace: every time the VIP came or went, with the kernel event's wall-clock time. */
function watchVip(lab: Lab, node: string): Proc {
  return new Proc(lab.spawn(node, ['ip', '-ts', '-o', 'monitor', 'address', 'dev', 'eth0'], { env: { ...process.env, TZ: 'UTC' } }));
}

function vipEvents(node: string, p: Proc, vip: string): VipEvent[] {
  const re = new RegExp(`^\\[(\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d)\\.(\\d+)\\]\\s+(Deleted\\s+)?\\d+:\\s+eth0\\s+inet ${vip.replace(/\./g, '\\.')}/`);
  const out: VipEvent[] = [];
  for (const l of p.lines) {
    const m = re.exec(l.text);
    if (!m) continue;
    const held = m[3] === undefined;
    // The master renews the VIP's lifetime every second, an address event each time: keep the changes.
    if (held === (out[out.length - 1]?.held ?? false)) continue;
    out.push({ at: Date.parse(`${m[1]}Z`) + Number(`0.${m[2]}`) * 1000, node, held });
  }
  return out;
}

function jsonLines<T>(p: Proc): T[] {
  return p.lines.filter((l) => l.text.startsWith('{')).map((l) => JSON.parse(l.text) as T);
}

// ------------------------------------------------------------------ the run

export interface ChaosOptions {
  minutes: number;
  seed?: number;
  /** A fixed schedule instead of the seed's (a reproduction of one sequence of faults). */
  plan?: PlannedFault[];
  /** Faults played before the seed's schedule (reproductions of defects found before). */
  prelude?: PlannedFault[];
  /** Break lb2 on purpose (see Sabotage): the run must then fail. */
  sabotage?: Sabotage;
  /** Where to keep every daemon's log (one file per node, each run of the daemon after the other), for a post-mortem. */
  logDir?: string;
  log?: (line: string) => void;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const seed = o.seed ?? Math.floor(Math.random() * 2 ** 31);
  const log = o.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const plan = [...(o.prelude ?? []), ...(o.plan ?? planFor(seed, o.minutes))];
  log(`chaos: ${o.minutes} min, seed ${seed} (replay: node benchmarks/chaos.mjs ${o.minutes} --seed ${seed}${o.prelude?.length ? ', after a fixed prelude' : ''}); ${plan.length} faults planned`);
  log(`chaos: plan ${plan.map((f) => `${f.kind}@+${f.gapS}s`).join(' ')}`);

  return withLab([...NODES, ...DBS, 'cli'], async (lab) => {
    const vip = lab.ip(100);
    const findings: string[] = [];
    const finding = (f: string) => {
      findings.push(f);
      log(`chaos: finding: ${f.split('\n')[0]}`);
    };
    // One after the other: two bootstraps at once on 2 busy cores have failed now and then.
    const dbs: LabMariaDb[] = [];
    for (const d of DBS) dbs.push(await LabMariaDb.create(lab, d, DB_USERS, DB_SETUP));
    const db = (name: string) => dbs.find((d) => d.node === name)!;
    const monitors = new Map<string, Proc>(NODES.map((n) => [n, watchVip(lab, n)]));
    await sleep(300);
    const daemonDown: OffSegment[] = [];
    const nodes = new Map<string, Node>(NODES.map((n) => [n, new Node(lab, n, chaosYaml(lab, n, vip, dbs, BASE_VARIANT, o.sabotage), finding, daemonDown)]));
    const node = (name: string) => nodes.get(name)!;
    for (const n of NODES) await node(n).start();
    await node('lb1').proc!.waitLine(/VI_1 entering MASTER state/, 10_000);
    // A sabotaged lb2 never agrees: give it the time the others take, and go on.
    if (o.sabotage) await sleep(5000);
    else {
      await waitFor('every node names db1', async () => {
        for (const n of NODES) if ((await writeServiceOf(lab, n))?.writer !== 'db1') return false;
        return true;
      }, 20_000);
    }

    const offSegment: OffSegment[] = [];
    const faults: FaultRecord[] = [];
    const held = () => NODES.filter((n) => {
      const ev = vipEvents(n, monitors.get(n)!, vip);
      return ev.length > 0 && ev[ev.length - 1]!.held;
    });
    const netemInKernel = (await lab.exec('cli', ['tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms'], { check: false })).code === 0;
    if (netemInKernel) await lab.exec('cli', ['tc', 'qdisc', 'del', 'dev', 'lo', 'root']);
    // The interpreter itself, not a version manager's shim in front of it (slow to start, and a signal must reach the relay).
    const python = netemInKernel ? '' : execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
    log(`chaos: loss and delay by ${netemInKernel ? 'tc netem' : 'a user-space relay (this kernel has no netem)'}`);

    // Load and sampling, bounded well past the planned end.
    const boundMs = (o.minutes * 60 + 300) * 1000;
    const clientReq: ChaosClientRequest = { vip, ports: { write: WRITE_PORT, read: READ_PORT }, user: 'app', password: APP_PW, durationMs: boundMs, long: 3, shortPerSec: 5, maxShort: Math.ceil((boundMs / 1000) * 5) };
    const client = new Proc(lab.spawn('cli', [process.execPath, join(here, 'chaos-client.js'), JSON.stringify(clientReq)]));
    const samplerReq: ChaosSamplerRequest = { nodes: Object.fromEntries(NODES.map((n) => [n, `http://${lab.node(n).addr}:${ADMIN_PORT}`])), periodMs: SAMPLE_MS, staleMs: 150, durationMs: boundMs };
    const sampler = new Proc(lab.spawn('cli', [process.execPath, join(here, 'chaos-sampler.js'), JSON.stringify(samplerReq)]));
    await sleep(2000);
    for (const n of nodes.values()) n.startFootprint = footprint(n.pid!);
    const from = epochNow();
    const endAt = from + o.minutes * 60_000;
    log(`chaos: steady (lb1 master, every node names db1); faults from now until +${o.minutes * 60}s`);

    const hogs: Proc[] = [];
    let relay: Proc | undefined;
    const port = (n: string) => lab.node(n).bridgePort;
    const actions: Record<FaultKind, (f: PlannedFault, target: string, rec: FaultRecord) => Promise<() => Promise<void>>> = {
      // The injection is over when the daemon has exited (not when its children have: that wait must not widen the window).
      sigkill: async (f, target, rec) => {
        rec.done = await node(target).stop('SIGKILL', !f.daemonOnly);
        return async () => void (await node(target).start());
      },
      sigterm: async (_f, target, rec) => {
        rec.done = await node(target).stop('SIGTERM');
        return async () => void (await node(target).start());
      },
      link: async (_f, target, rec) => {
        await lab.cutLink(target);
        return async () => {
          await lab.healLink(target);
          offSegment.push({ node: target, from: rec.at, to: epochNow() });
        };
      },
      partition: async (_f, target, rec) => {
        // The bridge stops forwarding to and from the node's port; both ends keep their carrier, so the node cannot tell.
        await lab.execBridge(['bridge', 'link', 'set', 'dev', port(target), 'state', '0']);
        return async () => {
          await lab.execBridge(['bridge', 'link', 'set', 'dev', port(target), 'state', '3']);
          offSegment.push({ node: target, from: rec.at, to: epochNow() });
        };
      },
      netem: async (f, target) => {
        const { lossPct, delayMs, jitterMs } = f.netem;
        if (netemInKernel) {
          const args = ['root', 'netem', 'loss', `${lossPct}%`, 'delay', `${delayMs}ms`, `${jitterMs}ms`];
          await lab.exec(target, ['tc', 'qdisc', 'add', 'dev', 'eth0', ...args]);
          await lab.execBridge(['tc', 'qdisc', 'add', 'dev', port(target), ...args]);
          return async () => {
            await lab.exec(target, ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
            await lab.execBridge(['tc', 'qdisc', 'del', 'dev', port(target), 'root']);
          };
        }
        // The node's port leaves the bridge; the relay joins it to a new port (i*), losing and delaying frames both ways.
        const p = port(target);
        const [bp, rp] = [`i${p.slice(1)}`, `j${p.slice(1)}`];
        await lab.execBridge(['ip', 'link', 'add', bp, 'type', 'veth', 'peer', 'name', rp]);
        await lab.execBridge(['ip', 'link', 'set', bp, 'master', lab.bridge, 'up']);
        await lab.execBridge(['ip', 'link', 'set', rp, 'up', 'promisc', 'on']);
        await lab.execBridge(['ip', 'link', 'set', p, 'promisc', 'on']);
        relay = new Proc(lab.spawnBridge([python, join(repoRoot, 'test/lab/impair.py'), p, rp, String(lossPct), String(delayMs), String(jitterMs), String(f.burst.seed), String(f.holdS + 30)]));
        await relay.waitLine(/^ready$/, 5000);
        await lab.execBridge(['ip', 'link', 'set', p, 'nomaster']);
        return async () => {
          // The relay stops before the port rejoins the bridge: for a moment nothing passes, rather than everything twice.
          relay!.signal('SIGTERM');
          await relay!.waitExit(5000);
          await lab.execBridge(['ip', 'link', 'set', p, 'master', lab.bridge, 'promisc', 'off']);
          await lab.execBridge(['ip', 'link', 'del', bp]);
          const stats = relay!.lines.find((l) => l.text.startsWith('{'))?.text ?? '';
          relay = undefined;
          log(`chaos:   relay ${stats}`);
        };
      },
      'db-kill': async (_f, target) => {
        await db(target).kill();
        return async () => db(target).start();
      },
      sighup: async (f, target) => {
        await node(target).reload(chaosYaml(lab, target, vip, dbs, f.variant, o.sabotage));
        return async () => undefined;
      },
      'vrrp-burst': async (f) => {
        const src = lab.node('cli').addr;
        const base = encodeAdvert({ version: 3, vrid: VRID, priority: 254, addresses: [vip], maxAdvertIntervalCs: ADVERT_MS / 10 }, { srcAddr: src, dstAddr: '224.0.0.18' });
        // Each packet is one the receivers must drop, made to outrank the master if one were taken.
        const req: InjectRequest = {
          src, dst: '224.0.0.18', kinds: ['random', 'truncated', 'bad-checksum', 'ttl64', 'mutated'], count: f.burst.count, ratePerSec: 1000, vrid: VRID, version: 3, priority: 254, vips: [vip],
          advertIntervalMs: ADVERT_MS, mutateBase: base.toString('hex'), mutateSeed: f.burst.seed, mutateChecks: { version: 3, vrid: VRID, virtualIps: [vip] },
        };
        const r = await lab.exec('cli', [process.execPath, join(here, 'vrrp-inject.js'), JSON.stringify(req)], { check: false, timeoutMs: f.burst.count + 15_000 });
        if (r.code !== 0) finding(`vrrp injector exited ${r.code}: ${r.stderr.slice(0, 300)}`);
        return async () => undefined;
      },
      'cpu-hog': async (f) => {
        // One busy loop per core, each ending by itself a little after the hold even if the kill below never came.
        const script = `const end=Date.now()+${(f.holdS + 5) * 1000};while(Date.now()<end){}`;
        for (let i = 0; i < 2; i++) hogs.push(new Proc(lab.spawn('cli', [process.execPath, '-e', script])));
        return async () => {
          for (const h of hogs.splice(0)) {
            h.signal('SIGKILL');
            await h.waitExit(5000);
          }
        };
      },
    };

    const nodeKinds: ReadonlySet<FaultKind> = new Set(['sigkill', 'sigterm', 'link', 'partition', 'netem', 'sighup']);
    let next = from + (plan[0]?.gapS ?? 0) * 1000;
    for (const f of plan) {
      await sleep(Math.max(0, next - epochNow()));
      if (epochNow() >= endAt) break;
      let target = '-';
      if (nodeKinds.has(f.kind)) target = f.current ? (held()[0] ?? f.node) : f.node;
      if (f.kind === 'db-kill') {
        const writer = f.current ? (await writeServiceOf(lab, held()[0] ?? 'lb1'))?.writer : undefined;
        target = DBS.find((d) => d === writer) ?? f.db;
      }
      const detail =
        f.kind === 'sigkill' ? (f.daemonOnly ? 'daemon only' : 'process group') :
        f.kind === 'netem' ? `loss ${f.netem.lossPct}% delay ${f.netem.delayMs}ms ±${f.netem.jitterMs}ms` :
        f.kind === 'vrrp-burst' ? `${f.burst.count} packets` :
        f.kind === 'sighup' ? JSON.stringify(f.variant) : '';
      const rec: FaultRecord = { kind: f.kind, target, detail, at: epochNow(), done: 0 };
      log(`chaos: +${((rec.at - from) / 1000).toFixed(1)}s ${f.kind} ${target} ${detail} (hold ${f.holdS}s)`);
      let heal: () => Promise<void> = async () => undefined;
      try {
        heal = await actions[f.kind](f, target, rec);
      } catch (err) {
        finding(`${f.kind} ${target}: injection failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (rec.done === 0) rec.done = epochNow();
      faults.push(rec);
      await sleep(f.holdS * 1000);
      rec.healAt = epochNow();
      try {
        await heal();
      } catch (err) {
        finding(`${f.kind} ${target}: heal failed: ${err instanceof Error ? err.message : String(err)}`);
        // A node that cannot come back: one more try, then the run ends (its crash is recorded).
        if (nodes.has(target) && node(target).pid === undefined) {
          await sleep(2000);
          try {
            await node(target).start();
          } catch (again) {
            finding(`${target}: second start failed: ${again instanceof Error ? again.message : String(again)}`);
            rec.healDone = epochNow();
            break;
          }
        }
      }
      rec.healDone = epochNow();
      next = rec.at + f.gapS * 1000;
    }

    // A quiet tail, judged like the rest, then the daemons' footprint before anything stops.
    await sleep(3000);
    const to = epochNow();
    const endFootprint = new Map([...nodes.values()].map((n) => [n.name, n.pid === undefined ? null : footprint(n.pid)]));
    for (const p of [client, sampler]) p.child.stdin?.end();
    await Promise.all([client.waitExit(15_000), sampler.waitExit(15_000)]).catch((err: unknown) => finding(`client or sampler did not stop: ${String(err)}`));

    // Every daemon must stop cleanly on SIGTERM (exit 0, children gone), and leave nothing behind in its namespace.
    for (const n of nodes.values()) await n.stop('SIGTERM');
    for (const n of NODES) {
      const pids = execFileSync('ip', ['netns', 'pids', lab.node(n).ns], { encoding: 'utf8' }).split(/\s+/).filter(Boolean).map(Number);
      const left = pids.filter((p) => p !== monitors.get(n)!.child.pid && alive(p));
      if (left.length > 0) finding(`${n}: process(es) left in the namespace after every daemon stopped: ${left.join(', ')}`);
    }

    if (o.logDir) {
      mkdirSync(o.logDir, { recursive: true });
      for (const n of nodes.values()) writeFileSync(join(o.logDir, `${n.name}.log`), n.runs.map((p, i) => `--- run ${i + 1}\n${p.text()}\n`).join(''));
      writeFileSync(join(o.logDir, 'client.log'), client.text());
      log(`chaos: daemon logs in ${o.logDir}`);
    }
    const clientLines = jsonLines<{ t: string } & ClientError & { ok?: Record<string, number> }>(client);
    const inputs = {
      seed,
      minutes: o.minutes,
      nodes: NODES,
      from,
      to,
      vipBoundMs: Math.round(VIP_BOUND_MS * 10) / 10,
      writerBoundMs: WRITER_BOUND_MS,
      staleBoundMs: vipLifetimeSeconds(ADVERT_MS) * 1000 + 2000,
      faults,
      vipEvents: NODES.flatMap((n) => vipEvents(n, monitors.get(n)!, vip)).sort((a, b) => a.at - b.at),
      offSegment,
      daemonDown,
      samples: jsonLines<WriterSample>(sampler),
      clientErrors: clientLines.filter((l) => l.t === 'err'),
      clientOk: clientLines.find((l) => l.t === 'sum')?.ok ?? {},
      daemons: [...nodes.values()].map((n) => ({ node: n.name, start: n.startFootprint, end: endFootprint.get(n.name) ?? null, starts: n.starts, crashes: n.crashes })),
      findings,
    };
    return analyze(inputs);
  });
}
