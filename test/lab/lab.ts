/**
 * The network-namespace lab for end-to-end tests: a private Ethernet segment
 * (a Linux bridge) with one network namespace per node (Baton nodes,
 * keepalived nodes, a client, a server), each joined to the bridge by a veth
 * pair and given an address, plus helpers to run commands and start processes
 * inside them.
 *
 * Layout of a lab with id `bt-1a2b3c`:
 *   namespace bt-1a2b3c-br   holds bridge `bt-1a2b3c` and the bridge-side
 *                             veth ends `n0`, `n1` …; no address, no traffic
 *                             of its own
 *   namespace bt-1a2b3c-NAME one per node: `lo` and `eth0` (the other veth
 *                             end), address 10.203.S.(11+i)/24
 *
 * Invariants:
 * - Nothing is created in the host's namespace, not even the veth pairs
 *   (both ends are created directly inside their namespaces), so a lab never
 *   touches the host's links, routes or firewall, and all traffic stays in
 *   the namespaces.
 * - Names carry a random id, so labs of parallel test runs never collide;
 *   the /24 is random too (S in 1..254), which only matters for readability
 *   of captures, since segments are separate bridges.
 * - destroy() always removes everything: the processes started with spawn()
 *   (SIGTERM to their process group, SIGKILL after a grace period), then any
 *   other process left in the lab's namespaces, then the namespaces (which
 *   takes the veths and the bridge with them), then the lab's temp dir. It is
 *   idempotent, and runs synchronously on process exit, SIGINT and SIGTERM
 *   for every lab not yet destroyed.
 * - Only processes this lab started, or that run inside its namespaces, are
 *   ever signalled, and only by PID.
 */
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRoot } from '@baton/core';

export interface LabNode {
  name: string;
  /** Network namespace name, e.g. bt-1a2b3c-lb1. */
  ns: string;
  /** The node's interface on the segment (inside its namespace). */
  ifname: string;
  /** Its address, e.g. 10.203.57.11. */
  addr: string;
  /** "addr/24". */
  cidr: string;
  /** The bridge-side veth end (inside the bridge namespace). */
  bridgePort: string;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  timeoutMs?: number;
  /** Reject when the command does not exit 0 (default true). */
  check?: boolean;
}

const IFNAME = 'eth0';
const BRIDGE_NS_SUFFIX = 'br';
const KILL_GRACE_MS = 2000;

/** Labs not yet destroyed, for the exit and signal handlers. */
const live = new Set<Lab>();
let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const lab of live) lab.destroySync();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const lab of live) lab.destroySync();
      process.kill(process.pid, signal);
    });
  }
}

function run(file: string, args: readonly string[], timeoutMs = 20_000): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      const killed = err && err.killed ? ` (killed after ${timeoutMs} ms)` : '';
      resolve({ code, stdout: String(stdout), stderr: (String(stderr) || (err && !stderr ? err.message : '')) + killed });
    });
  });
}

async function mustRun(file: string, args: readonly string[]): Promise<string> {
  const r = await run(file, args);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Whether this machine can run a lab: root and iproute2. */
export function labCapability(): { ok: boolean; reason: string } {
  if (!isRoot()) return { ok: false, reason: 'network namespaces need root' };
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return { ok: false, reason: 'iproute2 (ip) is not installed' };
  }
  return { ok: true, reason: '' };
}

/** Whether an executable is on PATH (for keepalived, tshark …). */
export function hasTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export class Lab {
  /** e.g. bt-1a2b3c: the bridge's name and the prefix of every namespace. */
  readonly id: string;
  readonly bridge: string;
  readonly bridgeNs: string;
  /** First three octets of the segment's /24, e.g. "10.203.57". */
  readonly subnet: string;
  /** A private temp dir (configs, pid files, logs), removed by destroy(). */
  readonly dir: string;
  private readonly nodes = new Map<string, LabNode>();
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;
  private destroying: Promise<void> | undefined;

  private constructor(id: string, subnetOctet: number) {
    this.id = id;
    this.bridge = id;
    this.bridgeNs = `${id}-${BRIDGE_NS_SUFFIX}`;
    this.subnet = `10.203.${subnetOctet}`;
    this.dir = mkdtempSync(join(tmpdir(), `${id}-`));
  }

  /**
   * Builds the segment and one namespace per name (order gives addresses
   * .11, .12 …). On any failure, whatever was created is removed and the
   * error is rethrown.
   */
  static async create(names: readonly string[]): Promise<Lab> {
    for (const n of names) {
      if (!/^[a-z][a-z0-9]{0,11}$/.test(n) || n === BRIDGE_NS_SUFFIX) throw new Error(`bad lab node name: ${n}`);
    }
    if (new Set(names).size !== names.length) throw new Error('lab node names must be unique');
    const lab = new Lab(`bt-${randomBytes(3).toString('hex')}`, 1 + (randomBytes(1)[0] ?? 0) % 254);
    installExitHandlers();
    live.add(lab);
    try {
      await lab.build(names);
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  private async build(names: readonly string[]): Promise<void> {
    const br = this.bridgeNs;
    await mustRun('ip', ['netns', 'add', br]);
    await mustRun('ip', ['-n', br, 'link', 'set', 'lo', 'up']);
    await mustRun('ip', ['-n', br, 'link', 'add', this.bridge, 'type', 'bridge']);
    await mustRun('ip', ['-n', br, 'link', 'set', this.bridge, 'up']);
    for (const [i, name] of names.entries()) {
      const node: LabNode = {
        name,
        ns: `${this.id}-${name}`,
        ifname: IFNAME,
        addr: `${this.subnet}.${11 + i}`,
        cidr: `${this.subnet}.${11 + i}/24`,
        bridgePort: `n${i}`,
      };
      this.nodes.set(name, node);
      await mustRun('ip', ['netns', 'add', node.ns]);
      // Both ends are created straight inside their namespaces.
      await mustRun('ip', ['link', 'add', node.bridgePort, 'netns', br, 'type', 'veth', 'peer', 'name', IFNAME, 'netns', node.ns]);
      await mustRun('ip', ['-n', br, 'link', 'set', node.bridgePort, 'master', this.bridge]);
      await mustRun('ip', ['-n', br, 'link', 'set', node.bridgePort, 'up']);
      await mustRun('ip', ['-n', node.ns, 'link', 'set', 'lo', 'up']);
      await mustRun('ip', ['-n', node.ns, 'addr', 'add', node.cidr, 'dev', IFNAME]);
      await mustRun('ip', ['-n', node.ns, 'link', 'set', IFNAME, 'up']);
    }
  }

  node(name: string): LabNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no lab node ${name}`);
    return n;
  }

  /** An address on the segment that no node has, e.g. ip(100) for a VIP. */
  ip(hostOctet: number): string {
    return `${this.subnet}.${hostOctet}`;
  }

  /** Runs argv inside the node's namespace and collects its output. */
  async exec(name: string, argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const r = await run('ip', ['netns', 'exec', this.node(name).ns, ...argv], options.timeoutMs);
    if ((options.check ?? true) && r.code !== 0) {
      throw new Error(`[${name}] ${argv.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
    }
    return r;
  }

  /**
   * Starts argv inside the node's namespace, in its own process group,
   * tracked until it exits; destroy() stops it if it is still running.
   */
  spawn(name: string, argv: readonly string[], options: SpawnOptions = {}): ChildProcess {
    return this.spawnIn(this.node(name).ns, argv, options);
  }

  /** exec() in the bridge's namespace, where the nodes' ports are (partitions, impairments). */
  async execBridge(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const r = await run('ip', ['netns', 'exec', this.bridgeNs, ...argv], options.timeoutMs);
    if ((options.check ?? true) && r.code !== 0) throw new Error(`[bridge] ${argv.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
    return r;
  }

  /** spawn() in the bridge's namespace, tracked the same way. */
  spawnBridge(argv: readonly string[], options: SpawnOptions = {}): ChildProcess {
    return this.spawnIn(this.bridgeNs, argv, options);
  }

  private spawnIn(ns: string, argv: readonly string[], options: SpawnOptions): ChildProcess {
    if (this.destroyed) throw new Error('lab is destroyed');
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...options,
      detached: true,
    });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    child.on('error', () => this.children.delete(child));
    return child;
  }

  /** Unplugs the node's cable: its eth0 stays up but loses carrier. */
  async cutLink(name: string): Promise<void> {
    await mustRun('ip', ['-n', this.bridgeNs, 'link', 'set', this.node(name).bridgePort, 'down']);
  }

  async healLink(name: string): Promise<void> {
    await mustRun('ip', ['-n', this.bridgeNs, 'link', 'set', this.node(name).bridgePort, 'up']);
  }

  /** The node's MAC on the segment. */
  async mac(name: string): Promise<string> {
    const out = await mustRun('ip', ['-n', this.node(name).ns, '-o', 'link', 'show', IFNAME]);
    const m = /link\/ether ([0-9a-f:]{17})/.exec(out);
    if (!m?.[1]) throw new Error(`no MAC for ${name}`);
    return m[1];
  }

  private namespaces(): string[] {
    return [...[...this.nodes.values()].map((n) => n.ns), this.bridgeNs];
  }

  /** Stops every process, removes namespaces and the temp dir. Idempotent. */
  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  private async teardown(): Promise<void> {
    const children = [...this.children];
    for (const c of children) signalGroup(c, 'SIGTERM');
    await Promise.all(children.map((c) => waitExit(c, KILL_GRACE_MS)));
    for (const c of children) if (c.exitCode === null && c.signalCode === null) signalGroup(c, 'SIGKILL');
    await Promise.all(children.map((c) => waitExit(c, KILL_GRACE_MS)));
    for (const ns of this.namespaces()) {
      // Anything else still running inside (a daemon's own children).
      const pids = await run('ip', ['netns', 'pids', ns]);
      for (const pid of pids.stdout.split(/\s+/).filter(Boolean).map(Number)) killPid(pid, 'SIGKILL');
      await run('ip', ['netns', 'del', ns]);
    }
    rmSync(this.dir, { recursive: true, force: true });
    this.destroyed = true;
    live.delete(this);
  }

  /** destroy() for exit handlers, where nothing asynchronous runs any more. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const c of this.children) signalGroup(c, 'SIGKILL');
    for (const ns of this.namespaces()) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
        for (const pid of pids.split(/\s+/).filter(Boolean).map(Number)) killPid(pid, 'SIGKILL');
      } catch {
        /* namespace already gone */
      }
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }
}

function killPid(pid: number, signal: NodeJS.Signals): void {
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return;
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    killPid(child.pid, signal);
  }
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Whether `from` reaches `addr` on the segment: a TCP connect to port 9 (a
 * refusal counts as reached, since it took ARP and a round trip). Uses node,
 * which every lab host has, rather than ping, which minimal images lack.
 */
export async function reach(lab: Lab, from: string, addr: string, timeoutMs = 1500): Promise<'connected' | 'unreachable'> {
  const script = `const s=require('net').connect(9,${JSON.stringify(addr)});s.setTimeout(${timeoutMs});` +
    `s.on('connect',()=>{console.log('connected');process.exit(0)});` +
    `s.on('error',e=>{console.log(e.code==='ECONNREFUSED'?'connected':'unreachable');process.exit(0)});` +
    `s.on('timeout',()=>{console.log('unreachable');process.exit(0)});`;
  const r = await lab.exec(from, [process.execPath, '-e', script], { timeoutMs: timeoutMs + 5000 });
  return r.stdout.trim() === 'connected' ? 'connected' : 'unreachable';
}

/** Creates a lab, runs `fn`, and always destroys the lab, whether fn returns or throws. */
export async function withLab<T>(names: readonly string[], fn: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = await Lab.create(names);
  try {
    return await fn(lab);
  } finally {
    await lab.destroy();
  }
}
