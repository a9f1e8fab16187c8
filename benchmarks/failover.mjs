#!/usr/bin/env node
/**
 * VRRP failover, Baton against keepalived in the same lab (VRRPv3, 100 ms
 * adverts, priorities 150 and 100, one client in its own namespace that
 * connects to VIP:7000 every 10 ms). For each implementation: TRIALS trials
 * of SIGKILL and of SIGTERM of the master; per trial the time from the
 * signal to the VIP appearing on the backup (`ip monitor address`), and
 * from then to the client's first connection served by the new master.
 * Prints medians and maxima side by side.
 *
 *   npm run build first (uses test/dist/lab); node benchmarks/failover.mjs [--trials N]
 *
 * keepalived's SIGKILL goes to its VRRP child (the process that sends the
 * adverts; killing the parent makes the child exit cleanly with priority 0),
 * and keepalived runs with --dont-respawn so the parent does not restart it.
 * Every process runs inside the lab and is stopped by lab.destroy(), also
 * on failure; every loop is bounded by the trial count and a timeout.
 */
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../test/dist/lab/lab.js';
import { AddrWatch, Proc, clientResults, epochNow, hasVip, keepalivedConf, startBackend, startBaton, startClient } from '../test/dist/lab/baton-node.js';

const argTrials = process.argv.indexOf('--trials');
const TRIALS = Math.min(50, Math.max(1, argTrials > 0 ? Number(process.argv[argTrials + 1]) : 20));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** A name server on 0.0.0.0:7000, the keepalived nodes' stand-in for Baton's service. */
function startNameServer(lab, node) {
  const script = `require('net').createServer(s=>{s.on('error',()=>{});s.end(${JSON.stringify(node + '\n')})}).listen(7000,'0.0.0.0')`;
  return new Proc(lab.spawn(node, [process.execPath, '-e', script]));
}

let kaRun = 0;
function startKa(lab, node, priority, vip) {
  kaRun++;
  const conf = join(lab.dir, `${node}-${kaRun}.conf`);
  const vrrpPid = join(lab.dir, `${node}-${kaRun}-vrrp.pid`);
  writeFileSync(conf, keepalivedConf({ priority, version: 3, advertInterval: '0.1', vip }));
  const proc = new Proc(lab.spawn(node, ['sh', '-c', 'exec keepalived -n -l -D -R -f "$0" -p "$1" -r "$2"', conf, join(lab.dir, `${node}-${kaRun}.pid`), vrrpPid]));
  return { proc, vrrpPid };
}

async function waitFor(pred, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await pred()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function runTrials(lab, impl, vip) {
  const wB = new AddrWatch(lab, 'b');
  const client = startClient(lab, 'cli', vip, TRIALS * 2 * 8000 + 30_000, 10, 80);
  const out = { kill: { move: [], reconnect: [] }, term: { move: [], reconnect: [] } };
  let master = await impl.startA();
  await waitFor(async () => (await hasVip(lab, 'a', vip)) && !(await hasVip(lab, 'b', vip)), 10_000, 'a master');
  for (const kind of ['kill', 'term']) {
    for (let i = 0; i < TRIALS; i++) {
      await sleep(400);
      const mark = wB.mark;
      const at = epochNow();
      await impl.signal(master, kind === 'kill' ? 'SIGKILL' : 'SIGTERM');
      const added = await wB.wait(vip, true, 5000, mark);
      await waitFor(() => clientResults(client).some((r) => r.at >= added.at - 100 && r.node === 'b'), 5000, 'client on b').catch((e) => { throw new Error(`${e.message}: ${JSON.stringify(clientResults(client).slice(-5))}`); });
      const served = clientResults(client).find((r) => r.at >= at && r.node === 'b');
      out[kind].move.push(added.at - at);
      out[kind].reconnect.push(Math.max(0, served.at - added.at));
      await impl.cleanupA(master);
      master = await impl.startA();
      await waitFor(async () => (await hasVip(lab, 'a', vip)) && !(await hasVip(lab, 'b', vip)), 10_000, 'a master again');
      process.stderr.write(`${impl.name} ${kind} ${i + 1}/${TRIALS}: move ${out[kind].move.at(-1).toFixed(0)} ms, reconnect ${out[kind].reconnect.at(-1).toFixed(0)} ms\n`);
    }
  }
  await impl.stopAll(master);
  client.signal('SIGTERM');
  wB.proc.signal('SIGTERM');
  return out;
}

async function main() {
  const results = {};
  const lab = await Lab.create(['a', 'b', 'cli']);
  try {
    const vip = lab.ip(100);
    // Baton.
    startBackend(lab, 'a');
    startBackend(lab, 'b');
    const bBaton = await startBaton(lab, 'b', { vip, priority: 100 });
    results.baton = await runTrials(lab, {
      name: 'baton',
      startA: async () => (await startBaton(lab, 'a', { vip, priority: 150 })).proc,
      signal: async (p, sig) => p.signal(sig),
      cleanupA: async (p) => p.waitExit(5000),
      stopAll: async (p) => {
        p.signal('SIGTERM');
        bBaton.proc.signal('SIGTERM');
        await Promise.all([p.waitExit(5000), bBaton.proc.waitExit(5000)]);
      },
    }, vip);
    for (const n of ['a', 'b']) await lab.exec(n, ['ip', 'addr', 'del', `${vip}/24`, 'dev', 'eth0'], { check: false });

    // keepalived, same lab, same VRID, same timing.
    startNameServer(lab, 'a');
    startNameServer(lab, 'b');
    const kb = startKa(lab, 'b', 100, vip);
    await kb.proc.waitLine(/Entering BACKUP STATE/, 10_000);
    results.keepalived = await runTrials(lab, {
      name: 'keepalived',
      startA: async () => {
        const ka = startKa(lab, 'a', 150, vip);
        await ka.proc.waitLine(/Entering MASTER STATE/, 10_000);
        return ka;
      },
      signal: async (ka, sig) => {
        if (sig === 'SIGKILL') process.kill(Number(readFileSync(ka.vrrpPid, 'utf8').trim()), 'SIGKILL');
        else ka.proc.signal('SIGTERM');
      },
      cleanupA: async (ka) => {
        ka.proc.signal('SIGKILL');
        await ka.proc.waitExit(5000);
        await lab.exec('a', ['ip', 'addr', 'del', `${vip}/24`, 'dev', 'eth0'], { check: false });
      },
      stopAll: async (ka) => {
        ka.proc.signal('SIGTERM');
        kb.proc.signal('SIGTERM');
        await Promise.all([ka.proc.waitExit(5000), kb.proc.waitExit(5000)]);
      },
    }, vip);
  } finally {
    await lab.destroy();
  }

  const row = (label, pick) => {
    const f = (impl) => {
      const xs = pick(results[impl]);
      return `${median(xs).toFixed(0).padStart(6)} ${Math.max(...xs).toFixed(0).padStart(6)}`;
    };
    return `${label.padEnd(30)} ${f('baton')}   ${f('keepalived')}`;
  };
  console.log(`VRRP failover, v3 at 100 ms, ${TRIALS} trials each (ms; median, max)`);
  console.log(`${''.padEnd(30)} ${'baton'.padStart(13)}   ${'keepalived'.padStart(13)}`);
  console.log(row('SIGKILL: VIP moved', (r) => r.kill.move));
  console.log(row('SIGKILL: client reconnected', (r) => r.kill.reconnect));
  console.log(row('SIGTERM: VIP moved', (r) => r.term.move));
  console.log(row('SIGTERM: client reconnected', (r) => r.term.reconnect));
}

await main();
