#!/usr/bin/env node
/**
 * Advert lateness while the data plane is saturated: a Baton master
 * (`workers: 1`, so the relay runs on the daemon's own event loop while the
 * routers run in the VRRP child process; VRRPv3 at 100 ms) relays bulk
 * streams from a local backend to a client namespace;
 * tshark on the backup's interface timestamps every advert of the master.
 * Lateness = gap between consecutive adverts − the interval. Prints
 * percentiles idle and under load, and whether the backup ever left BACKUP
 * (a spurious transition).
 *
 *   npm run build first (uses test/dist/lab); node benchmarks/failover-advert-lateness.mjs [--seconds N] [--streams N] [--interval MS] [--hog]
 *
 * --interval: the advert interval, 100 ms by default (20 ms for the tight
 * case); --hog: also run one busy-loop process per CPU for the saturated
 * phase (CPU starvation on every core), so the figure shows what the VRRP
 * child's SCHED_RR (vrrp_scheduling) buys.
 *
 * Bounded: the load runs for the given seconds (at most 60), every process
 * runs in the lab and lab.destroy() stops it; the hogs are stopped by PID
 * and each exits on its own after the load's time anyway.
 */
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { Lab } from '../test/dist/lab/lab.js';
import { Proc, startBaton } from '../test/dist/lab/baton-node.js';

const arg = (name, def, max) => {
  const i = process.argv.indexOf(name);
  return Math.min(max, Math.max(1, i > 0 ? Number(process.argv[i + 1]) : def));
};
const SECONDS = arg('--seconds', 10, 60);
const STREAMS = arg('--streams', 8, 64);
const INTERVAL_MS = arg('--interval', 100, 1000);
const HOG = process.argv.includes('--hog');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

const summary = (c) => ({ adverts: c.count, p50: pct(c.late, 50), p90: pct(c.late, 90), p99: pct(c.late, 99), max: pct(c.late, 100) });

async function capture(lab, from, seconds) {
  const r = await lab.exec('lb2', ['tshark', '-n', '-i', 'eth0', '-a', `duration:${seconds}`, '-f', `ip proto 112 and src host ${from}`, '-T', 'fields', '-e', 'frame.time_epoch'], { timeoutMs: (seconds + 20) * 1000 });
  const ts = r.stdout.trim().split('\n').filter(Boolean).map((x) => Number(x) * 1000);
  const late = [];
  for (let i = 1; i < ts.length; i++) late.push(ts[i] - ts[i - 1] - INTERVAL_MS);
  return { count: ts.length, late };
}

async function main() {
  const lab = await Lab.create(['lb1', 'lb2', 'cli']);
  const hogs = [];
  try {
    const vip = lab.ip(100);
    const a1 = lab.node('lb1').addr;
    // A backend that writes as fast as each socket drains.
    new Proc(lab.spawn('lb1', [process.execPath, '-e',
      `const b=Buffer.alloc(65536,120);require('net').createServer(s=>{s.on('error',()=>{});const w=()=>{while(s.writable&&s.write(b)){}};s.on('drain',w);w()}).listen(7001,'127.0.0.1')`]));
    const advertInterval = `${INTERVAL_MS}ms`;
    const n1 = await startBaton(lab, 'lb1', { vip, priority: 150, advertInterval });
    const n2 = await startBaton(lab, 'lb2', { vip, priority: 100, advertInterval });
    await n1.proc.waitLine(/VI_1 entering MASTER/, 3000);
    await n2.proc.waitLine(/VI_1 entering BACKUP/, 3000);
    await sleep(500);
    const idle = await capture(lab, a1, Math.min(5, SECONDS));

    const client = new Proc(lab.spawn('cli', [process.execPath, '-e',
      `let n=0;const net=require('net');const end=Date.now()+${(SECONDS + 3) * 1000};` +
      `for(let i=0;i<${STREAMS};i++){const s=net.connect(7000,${JSON.stringify(a1)});s.on('data',d=>{n+=d.length});s.on('error',()=>{})}` +
      `setTimeout(()=>{console.log(JSON.stringify({bytes:n}));process.exit(0)},${(SECONDS + 3) * 1000})`]));
    if (HOG) {
      for (let i = 0; i < cpus().length; i++) {
        const hog = spawn(process.execPath, ['-e', `const end=Date.now()+${(SECONDS + 5) * 1000};while(Date.now()<end){}`], { stdio: 'ignore' });
        hogs.push(hog);
      }
    }
    await sleep(1000);
    const load = await capture(lab, a1, SECONDS);
    for (const hog of hogs) if (hog.exitCode === null) hog.kill('SIGKILL');
    const done = await client.waitLine(/bytes/, (SECONDS + 10) * 1000);
    const bytes = JSON.parse(done.text).bytes;
    const spurious = n2.proc.count(/VI_1 entering MASTER/) + n1.proc.count(/VI_1 entering (BACKUP|FAULT)/) - 1;

    const line = (label, c) =>
      `${label.padEnd(12)} ${String(c.count).padStart(7)} ${[50, 90, 99, 100].map((p) => pct(c.late, p).toFixed(1).padStart(8)).join('')}`;
    console.log(`VRRPv3 advert lateness at ${INTERVAL_MS} ms, workers: 1, ${STREAMS} bulk streams through the master${HOG ? `, ${hogs.length} busy-loop hogs` : ''} (ms)`);
    console.log(`${''.padEnd(12)} ${'adverts'.padStart(7)}${['p50', 'p90', 'p99', 'max'].map((h) => h.padStart(8)).join('')}`);
    console.log(line('idle', idle));
    console.log(line(HOG ? 'sat.+hog' : 'saturated', load));
    console.log(`relayed ${(bytes / 1e6 / (SECONDS + 2)).toFixed(0)} MB/s over the load; spurious transitions: ${spurious}; p99 target ${(INTERVAL_MS / 10).toFixed(0)} ms (10 % of the interval)`);
    console.log(JSON.stringify({ intervalMs: INTERVAL_MS, hog: HOG, streams: STREAMS, idle: summary(idle), load: summary(load), spurious }));
  } finally {
    for (const hog of hogs) if (hog.exitCode === null) hog.kill('SIGKILL');
    await lab.destroy();
  }
}

await main();
