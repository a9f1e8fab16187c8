/**
 * Lab helpers for the writer-agreement tests: Baton nodes with `cluster:`
 * and a writer service in lab namespaces, a sampler of every node's writer
 * (from /api/status, every 50 ms), a client writing through the VIP, and
 * one-shot reads of a node's status and metrics, all from a `cli` node.
 *
 * Invariants: every process goes through lab.spawn() (lab.destroy() stops
 * it); every wait is bounded; times are epoch ms on one base (epochNow).
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Lab } from './lab.js';
import { batonCli, Proc } from './baton-node.js';

export const ADMIN_PORT = 9900;
export const CLUSTER_PORT = 9901;
export const CLUSTER_SECRET = 'lab cluster secret';
export const HCHECK_PW = 'hcheck-pw';
export const APP_PW = 'app-pw';
export const DB_USERS = [
  { user: 'hcheck', password: HCHECK_PW, grants: 'USAGE' },
  { user: 'app', password: APP_PW, grants: 'ALL' },
];
/** The table the writer client fills: where (node) and when (at) each write landed. */
export const DB_SETUP =
  'CREATE DATABASE IF NOT EXISTS bt;\nCREATE TABLE IF NOT EXISTS bt.w (id INT AUTO_INCREMENT PRIMARY KEY, at DOUBLE NOT NULL, seq INT NOT NULL, node VARCHAR(64) NOT NULL);';

const mysql2Promise = createRequire(import.meta.url).resolve('mysql2/promise');

export interface ClusterNodeOptions {
  node: string;
  peers: string[];
  priority: number;
  vip: string;
  /** The `servers:` entries, name and address. */
  servers: Array<{ name: string; address: string }>;
  pick: 'first' | 'galera-index';
  check: 'mysql' | 'galera';
  intervalMs?: number;
  /** Galera: a donor stays up (health.donor_ok). */
  donorOk?: boolean;
  /** health.require_writable: a read_only server is down. */
  requireWritable?: boolean;
}

export function clusterYaml(lab: Lab, o: ClusterNodeOptions): string {
  const addr = lab.node(o.node).addr;
  const interval = o.intervalMs ?? 250;
  return `node: ${o.node}
admin: { listen: ${addr}:${ADMIN_PORT} }
workers: 1
shutdown_timeout: 1s
state_file: ${join(lab.dir, `${o.node}-state.json`)}
cluster:
  listen: ${addr}:${CLUSTER_PORT}
  peers: [${o.peers.map((p) => `${lab.node(p).addr}:${CLUSTER_PORT}`).join(', ')}]
  secret_env: BATON_CLUSTER_SECRET
  startup_wait: 2s
vrrp:
  - name: VI_1
    interface: eth0
    router_id: 61
    priority: ${o.priority}
    advert_interval: 100ms
    preempt: false
    virtual_ips: [${o.vip}/24]
    track: { services: [write] }
services:
  - name: write
    listen: 0.0.0.0:3306
    balance: writer
    writer: { pick: ${o.pick}, failback: false, on_change: close }
    connect_timeout: 1s
    retries: 0
    health: { check: ${o.check}, interval: ${interval}ms, timeout: ${Math.round(interval * 0.8)}ms, rise: 2, fall: 2, user: hcheck, password_env: HCHECK_PASSWORD${o.donorOk ? ', donor_ok: true' : ''}${o.requireWritable ? ', require_writable: true' : ''} }
    servers:
${o.servers.map((s) => `      - { name: ${s.name}, address: ${s.address} }`).join('\n')}
`;
}

/** `baton start` in the node's namespace with the cluster secret and the check password. */
export function startClusterNode(lab: Lab, node: string, yaml: string): Proc {
  const path = join(lab.dir, `${node}.yaml`);
  writeFileSync(path, yaml);
  return new Proc(
    lab.spawn(node, ['sh', '-c', 'exec "$0" "$1" start -c "$2"', process.execPath, batonCli, path], {
      env: { ...process.env, BATON_CLUSTER_SECRET: CLUSTER_SECRET, HCHECK_PASSWORD: HCHECK_PW },
    }),
  );
}

/** Resolves with the time of "baton started"; rejects with the log when it could not start. */
export async function started(p: Proc): Promise<number> {
  const line = await p.waitLine(/baton started|cannot start/, 20_000);
  if (/cannot start/.test(line.text)) throw new Error(`baton did not start:\n${p.text()}`);
  return line.at;
}

/** Prints {at, NODE: writer, …} every 50 ms from `cli`; "-" for a node that does not answer. Stop it by ending its stdin. */
export function startSampler(lab: Lab, nodes: readonly string[]): Proc {
  const addrs = Object.fromEntries(nodes.map((n) => [n, lab.node(n).addr]));
  const script = `
const now=()=>performance.timeOrigin+performance.now();const addrs=${JSON.stringify(addrs)};
let stop=false;process.stdin.on('end',()=>{stop=true});process.stdin.resume();
async function one(a){try{const r=await fetch('http://'+a+':${ADMIN_PORT}/api/status',{signal:AbortSignal.timeout(300)});const j=await r.json();
const s=j.services.find(x=>x.name==='write');return s.writer===null?'none':s.writer}catch{return '-'}}
(async()=>{while(!stop){const at=now();const names=Object.keys(addrs);const got=await Promise.all(names.map(n=>one(addrs[n])));
const o={at};names.forEach((n,i)=>o[n]=got[i]);console.log(JSON.stringify(o));const wait=50-(now()-at);if(wait>0)await new Promise(r=>setTimeout(r,wait))}process.exit(0)})();`;
  return new Proc(lab.spawn('cli', [process.execPath, '-e', script]));
}

export type WriterSample = { at: number } & Record<string, string | number>;

export function samplesOf(p: Proc): WriterSample[] {
  return p.lines.filter((l) => l.text.startsWith('{')).map((l) => JSON.parse(l.text) as WriterSample);
}

/**
 * Inserts a row through the VIP every 20 ms, its `node` column set by the
 * SQL expression `nodeExpr` (e.g. @@wsrep_node_name: where it landed),
 * reconnecting after errors; prints {ok, errors} when its stdin ends.
 */
export function startWriter(lab: Lab, vip: string, nodeExpr: string): Proc {
  const script = `
const mysql=require(${JSON.stringify(mysql2Promise)});
const now=()=>performance.timeOrigin+performance.now();
let stop=false;process.stdin.on('end',()=>{stop=true});process.stdin.resume();
let conn=null,seq=0,ok=0,errors=0;
(async()=>{while(!stop){try{if(!conn){conn=await mysql.createConnection({host:${JSON.stringify(vip)},port:3306,user:'app',password:${JSON.stringify(APP_PW)},connectTimeout:1000});conn.on('error',()=>{conn=null})}
await conn.query(${JSON.stringify(`INSERT INTO bt.w(at,seq,node) VALUES(?,?,${nodeExpr})`)},[now(),++seq]);ok++}catch(e){errors++;try{conn&&conn.destroy()}catch{};conn=null}
await new Promise(r=>setTimeout(r,20))}console.log(JSON.stringify({ok,errors}));process.exit(0)})();`;
  return new Proc(lab.spawn('cli', [process.execPath, '-e', script]));
}

export interface LabStatus {
  services: Array<{
    name: string;
    writer: string | null;
    decision: { epoch: number; decided_by: string; reason: string } | null;
    servers: Array<{ name: string; health: string }>;
  }>;
  vrrp: Array<{ state: string }>;
}

/** A node's /api/status, fetched from `cli`; undefined when it does not answer. */
export async function statusOf(lab: Lab, node: string): Promise<LabStatus | undefined> {
  const script = `fetch('http://${lab.node(node).addr}:${ADMIN_PORT}/api/status',{signal:AbortSignal.timeout(1000)}).then(r=>r.text()).then(t=>console.log(t),()=>console.log('null'))`;
  const r = await lab.exec('cli', [process.execPath, '-e', script], { check: false, timeoutMs: 5000 });
  try {
    return (JSON.parse(r.stdout) as LabStatus | null) ?? undefined;
  } catch {
    return undefined;
  }
}

export async function writeServiceOf(lab: Lab, node: string): Promise<LabStatus['services'][number] | undefined> {
  return (await statusOf(lab, node))?.services.find((s) => s.name === 'write');
}

export async function metricsOf(lab: Lab, node: string): Promise<string> {
  const script = `fetch('http://${lab.node(node).addr}:${ADMIN_PORT}/metrics').then(r=>r.text()).then(t=>console.log(t),e=>console.log(String(e)))`;
  return (await lab.exec('cli', [process.execPath, '-e', script], { check: false, timeoutMs: 5000 })).stdout;
}

/** Polls `fn` every 100 ms until it gives a truthy value; rejects after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false | null>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Samples in which every node answered, outside [change, change + windowMs), that do not all name the same writer. */
export function disagreements(samples: readonly WriterSample[], nodes: readonly string[], changes: ReadonlyArray<{ at: number }>, windowMs: number) {
  const judged = samples.filter((s) => nodes.every((n) => s[n] !== '-') && !changes.some((c) => s.at >= c.at && s.at < c.at + windowMs));
  return { judged, disagree: judged.filter((s) => new Set(nodes.map((n) => s[n])).size > 1) };
}
