/**
 * Lab helpers for the VRRP acceptance tests: a Baton daemon in a lab
 * namespace (`workers: 1`, one trivial TCP service answering its node name,
 * a `vrrp:` section on eth0), a keepalived in a namespace, an address
 * watcher, and a reconnecting client.
 *
 * Times are epoch milliseconds with sub-millisecond precision
 * (performance.timeOrigin + performance.now()), the same base the client
 * script prints, so figures from different processes compare.
 *
 * Invariants: every process goes through lab.spawn(), so lab.destroy()
 * stops it; every wait has a timeout.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab } from './lab.js';

export const epochNow = (): number => performance.timeOrigin + performance.now();

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root, from test/dist/lab/. */
export const repoRoot = resolve(here, '..', '..', '..');
export const batonCli = join(repoRoot, 'packages/baton/dist/src/cli.js');

/** Port of the trivial service on every Baton node, and of its backend. */
export const SERVICE_PORT = 7000;
export const BACKEND_PORT = 7001;

export interface LogLine {
  at: number;
  text: string;
}

/** A spawned process whose output is kept as timestamped lines. */
export class Proc {
  readonly lines: LogLine[] = [];
  private readonly waiters = new Set<() => void>();
  exited = false;

  constructor(readonly child: ChildProcess) {
    let partial = '';
    const onData = (chunk: string) => {
      const at = epochNow();
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const text of parts) this.lines.push({ at, text });
      for (const w of [...this.waiters]) w();
    };
    child.stdout?.setEncoding('utf8').on('data', onData);
    child.stderr?.setEncoding('utf8').on('data', onData);
    child.on('exit', () => {
      this.exited = true;
      for (const w of [...this.waiters]) w();
    });
  }

  text(): string {
    return this.lines.map((l) => l.text).join('\n');
  }

  /** The first line matching `re` after line index `from`, waiting up to timeoutMs. */
  waitLine(re: RegExp, timeoutMs: number, from = 0): Promise<LogLine> {
    return new Promise((resolvePromise, reject) => {
      const check = () => {
        const hit = this.lines.slice(from).find((l) => re.test(l.text));
        if (!hit) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolvePromise(hit);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no line matching ${re} in ${timeoutMs} ms:\n${this.text().slice(-4000)}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  count(re: RegExp): number {
    return this.lines.filter((l) => re.test(l.text)).length;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.child.pid !== undefined && !this.exited) process.kill(this.child.pid, sig);
  }

  /** Signals the process's whole group: the daemon and the VRRP child it forked (a node crash). */
  signalGroup(sig: NodeJS.Signals): void {
    if (this.child.pid !== undefined && !this.exited) process.kill(-this.child.pid, sig);
  }

  waitExit(timeoutMs: number): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`process did not exit in ${timeoutMs} ms`)), timeoutMs);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolvePromise();
      });
    });
  }
}

/**
 * `ip netns exec` leaves the command as its own child; the signal must reach
 * the daemon itself, so the daemon is exec'ed by the shell (exec replaces it).
 */
function spawnExec(lab: Lab, node: string, argv: readonly string[], env: Record<string, string> = {}): Proc {
  return new Proc(lab.spawn(node, argv, { env: { ...process.env, ...env } }));
}

export interface BatonVrrpOptions {
  priority: number;
  routerId?: number;
  version?: 2 | 3;
  advertInterval?: string;
  preempt?: boolean;
  preemptDelay?: string;
  vip: string;
  unicastPeers?: string[];
  authPassEnv?: string;
  trackInterfaces?: string[];
  trackScripts?: { command: string[]; interval: string; weight: number; rise?: number; fall?: number }[];
  notify?: string[];
  garpRepeat?: number;
  /** Data-plane processes; default 1. */
  workers?: number;
  /** Top-level YAML appended to the config (e.g. `vrrp_scheduling: ...`). */
  extraYaml?: string;
  /** A command the daemon is exec'ed through (e.g. setpriv dropping capabilities). */
  wrapper?: readonly string[];
}

export function batonYaml(node: string, v: BatonVrrpOptions): string {
  const lines = [
    `node: ${node}`,
    'admin: { listen: 127.0.0.1:9900 }',
    `workers: ${v.workers ?? 1}`,
    'shutdown_timeout: 1s',
    'services:',
    '  - name: app',
    `    listen: 0.0.0.0:${SERVICE_PORT}`,
    '    balance: roundrobin',
    '    connect_timeout: 1s',
    '    servers:',
    `      - { name: local, address: 127.0.0.1:${BACKEND_PORT} }`,
    'vrrp:',
    '  - name: VI_1',
    '    interface: eth0',
    `    router_id: ${v.routerId ?? 51}`,
    `    priority: ${v.priority}`,
    `    version: ${v.version ?? 3}`,
    `    advert_interval: ${v.advertInterval ?? '100ms'}`,
    `    preempt: ${v.preempt ?? true}`,
    `    preempt_delay: ${v.preemptDelay ?? '0s'}`,
    `    virtual_ips: [${v.vip}/24]`,
    `    garp: { repeat: ${v.garpRepeat ?? 5} }`,
  ];
  if (v.unicastPeers) lines.push(`    unicast_peers: [${v.unicastPeers.join(', ')}]`);
  if (v.authPassEnv) lines.push(`    auth_pass_env: ${v.authPassEnv}`);
  if (v.notify) lines.push(`    notify: [${v.notify.map((n) => JSON.stringify(n)).join(', ')}]`);
  if (v.trackInterfaces || v.trackScripts) {
    lines.push('    track:');
    if (v.trackInterfaces) lines.push(`      interfaces: [${v.trackInterfaces.join(', ')}]`);
    if (v.trackScripts) {
      lines.push('      scripts:');
      for (const s of v.trackScripts) {
        lines.push(
          `        - { command: ${JSON.stringify(s.command)}, interval: ${s.interval}, timeout: 1s, rise: ${s.rise ?? 1}, fall: ${s.fall ?? 1}, weight: ${s.weight} }`,
        );
      }
    }
  }
  if (v.extraYaml) lines.push(v.extraYaml);
  return lines.join('\n') + '\n';
}

/** The backend of the trivial service: answers its node name and closes. One per node, for the life of the lab. */
export function startBackend(lab: Lab, node: string): Proc {
  const script =
    `require('net').createServer(s=>{s.on('error',()=>{});s.end(${JSON.stringify(node + '\n')})})` +
    `.listen(${BACKEND_PORT},'127.0.0.1',()=>console.log('listening'))`;
  return spawnExec(lab, node, [process.execPath, '-e', script]);
}

export interface BatonNode {
  proc: Proc;
  yamlPath: string;
}

/** Starts `baton start` in the node's namespace; resolves once it logged "baton started". */
export async function startBaton(lab: Lab, node: string, v: BatonVrrpOptions, env: Record<string, string> = {}): Promise<BatonNode> {
  const yamlPath = join(lab.dir, `${node}.yaml`);
  writeFileSync(yamlPath, batonYaml(node, v));
  // exec: the daemon replaces `ip netns exec`, so signals sent to the child's PID reach it.
  const argv = v.wrapper
    ? ['sh', '-c', 'exec "$@"', 'sh', ...v.wrapper, process.execPath, batonCli, 'start', '-c', yamlPath]
    : ['sh', '-c', `exec "$0" "$1" start -c "$2"`, process.execPath, batonCli, yamlPath];
  const proc = spawnExec(lab, node, argv, env);
  await proc.waitLine(/baton started|cannot start/, 15_000);
  if (proc.count(/cannot start/) > 0) throw new Error(`baton on ${node} did not start:\n${proc.text()}`);
  return { proc, yamlPath };
}

/**
 * `ip monitor address` in the node's namespace: the times the VIP came and
 * went. The master renews its VIPs' lifetime every second, and each renewal
 * is an address event too: only changes count (an add after a delete or
 * after the start of the watch, a delete after an add).
 */
export class AddrWatch {
  readonly proc: Proc;
  constructor(lab: Lab, node: string) {
    this.proc = spawnExec(lab, node, ['ip', '-o', 'monitor', 'address', 'dev', 'eth0']);
  }
  /** The first time after line `from` the VIP was added (or deleted). */
  wait(vip: string, added: boolean, timeoutMs: number, from = 0): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolvePromise, reject) => {
      const tick = () => {
        let held = false;
        for (const [i, l] of this.proc.lines.entries()) {
          if (!l.text.includes(`inet ${vip}/`)) continue;
          const now = !l.text.startsWith('Deleted');
          if (i >= from && now === added && now !== held) return resolvePromise(l);
          held = now;
        }
        if (Date.now() >= deadline) return reject(new Error(`VIP ${vip} not ${added ? 'added' : 'deleted'} in ${timeoutMs} ms:\n${this.proc.text().slice(-4000)}`));
        setTimeout(tick, 5);
      };
      tick();
    });
  }
  get mark(): number {
    return this.proc.lines.length;
  }
}

/** Whether the node's eth0 holds `vip` now. */
export async function hasVip(lab: Lab, node: string, vip: string): Promise<boolean> {
  const r = await lab.exec(node, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
  return r.stdout.includes(` ${vip}/`);
}

/**
 * A client that connects to addr:port every `everyMs` (each connect times
 * out after `timeoutMs`), reads the serving node's name and prints
 * `{at, node}` or `{at, error}` as JSON lines, for `durationMs`.
 */
export function startClient(lab: Lab, node: string, addr: string, durationMs: number, everyMs = 20, timeoutMs = 100): Proc {
  const script = `
const net=require('net');const now=()=>performance.timeOrigin+performance.now();
const end=now()+${durationMs};
function one(){
  if(now()>end){process.exit(0)}
  const t0=now();let buf='';let done=false;
  const s=net.connect(${SERVICE_PORT},${JSON.stringify(addr)});
  const fin=(r)=>{if(done)return;done=true;s.destroy();console.log(JSON.stringify({at:t0,...r}));setTimeout(one,${everyMs})};
  s.setTimeout(${timeoutMs},()=>fin({error:'timeout'}));
  s.on('data',d=>{buf+=d;if(buf.includes('\\n'))fin({node:buf.trim()})});
  s.on('error',e=>fin({error:e.code}));
  s.on('end',()=>fin(buf?{node:buf.trim()}:{error:'eof'}));
}
one();`;
  return spawnExec(lab, node, [process.execPath, '-e', script]);
}

export interface ClientResult {
  at: number;
  node?: string;
  error?: string;
}

export function clientResults(p: Proc): ClientResult[] {
  return p.lines.filter((l) => l.text.startsWith('{')).map((l) => JSON.parse(l.text) as ClientResult);
}

/** keepalived in the node's namespace, in the foreground, logging to stderr. */
export function startKeepalived(lab: Lab, node: string, conf: string): Proc {
  const file = join(lab.dir, `${node}-keepalived.conf`);
  writeFileSync(file, conf);
  return spawnExec(lab, node, [
    'sh', '-c', 'exec keepalived -n -l -D -f "$0" -p "$1" -r "$2"',
    file, join(lab.dir, `${node}-${Date.now()}.pid`), join(lab.dir, `${node}-${Date.now()}-vrrp.pid`),
  ]);
}

export interface KeepalivedInstance {
  priority: number;
  version: 2 | 3;
  advertInterval: string;
  vip: string;
  routerId?: number;
  state?: 'MASTER' | 'BACKUP';
  /** Path of a notify script (keepalived's `notify`). */
  notify?: string;
}

export function keepalivedConf(k: KeepalivedInstance): string {
  return `global_defs {
  vrrp_version ${k.version}
  script_user root
  vrrp_garp_master_delay 0
}
vrrp_instance VI_1 {
  state ${k.state ?? 'BACKUP'}
  interface eth0
  virtual_router_id ${k.routerId ?? 51}
  priority ${k.priority}
  advert_int ${k.advertInterval}
  virtual_ipaddress {
    ${k.vip}/24 dev eth0
  }${k.notify ? `\n  notify ${k.notify}` : ''}
}
`;
}
