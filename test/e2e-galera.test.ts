/**
 * End to end through `baton start` with a real 3-node Galera cluster behind
 * it: the read port spreads over the synced nodes, the write port goes to
 * the node with wsrep_local_index 0 (galera-index), though the config lists
 * it last, so "the first server up" or "the first in config order" would
 * pick another; killing the writer moves new write clients to the new
 * writer within fall × interval + timeout + 1 s and closes the old writer's
 * sessions; when the old writer returns, failback: false keeps the new one.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import { requireCapability } from '@baton/core';
import { galeraCapability, startGalera, type GaleraCluster } from './helpers/galera.js';
import { startBaton, type BatonProcess } from './helpers/baton.js';
import { freePorts } from './helpers/ports.js';
import { tally, times, sleep } from './helpers/backends.js';

const HCHECK = { user: 'hcheck', password: 'hcheck-pw' };
const INTERVAL_MS = 500;
const TIMEOUT_MS = 400;
const FALL = 2;

let cluster: GaleraCluster | undefined;
let baton: BatonProcess | undefined;
let readPort = 0;
let writePort = 0;

before(async () => {
  if (!galeraCapability().ok) return;
  cluster = await startGalera({ users: [HCHECK] });
});

after(async () => {
  await baton?.stop();
  await cluster?.stop();
});

/** Which node a new client through `port` lands on. */
async function nodeVia(port: number): Promise<string> {
  const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: HCHECK.user, password: HCHECK.password, connectTimeout: 2000 });
  try {
    const [rows] = await conn.query('SELECT @@wsrep_node_name AS n');
    return (rows as Array<{ n: string }>)[0]!.n;
  } finally {
    await conn.end().catch(() => undefined);
  }
}

test('galera behind baton: read spread, one writer, writer failover and no failback', { timeout: 180_000 }, async (t) => {
  const cap = galeraCapability();
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  const c = cluster!;
  const [r, w, admin] = await freePorts(3);
  readPort = r!;
  writePort = w!;
  const health = `{ check: galera, interval: ${INTERVAL_MS}ms, timeout: ${TIMEOUT_MS}ms, rise: 2, fall: ${FALL}, user: ${HCHECK.user}, password_env: HCHECK_PASSWORD }`;
  // Highest wsrep_local_index first: the node with index 0 is listed last and,
  // the first checks being staggered in config order, is the last to come up.
  const indexes = await Promise.all(c.nodes.map(async (n) => ({ node: n, index: await n.admin.status('wsrep_local_index') })));
  const ordered = [...indexes].sort((x, y) => Number(y.index) - Number(x.index));
  t.diagnostic(`config order (wsrep_local_index): ${ordered.map((o) => `${o.node.name}(${o.index})`).join(' ')}`);
  assert.equal(ordered.at(-1)!.index, 0);
  const servers = ordered.map(({ node: n }) => `      - { name: ${n.name}, address: 127.0.0.1:${n.port} }`).join('\n');
  baton = await startBaton(
    `
node: e2e-galera
admin: { listen: 127.0.0.1:${admin} }
workers: 1
services:
  - name: read
    listen: 127.0.0.1:${readPort}
    balance: roundrobin
    health: ${health}
    servers:
${servers}
  - name: write
    listen: 127.0.0.1:${writePort}
    balance: writer
    writer: { pick: galera-index, failback: false, on_change: close }
    health: ${health}
    servers:
${servers}
`,
    { env: { HCHECK_PASSWORD: HCHECK.password } },
  );
  const b = baton;
  // Every server of both services up (they start down until `rise` checks pass).
  const deadline = Date.now() + 15_000;
  while (b.logs.filter((l) => / server up /.test(l)).length < 6 && Date.now() < deadline) await sleep(50);
  const firstWriterLine = await b.waitForLog(/writer changed service=write from=none to=/, 5000);
  const writer = /to=(\S+)/.exec(firstWriterLine)![1]!;

  // The writer is the node with wsrep_local_index 0, and the first pick was the only one.
  assert.equal(writer, ordered.at(-1)!.node.name, `indexes ${ordered.map((o) => `${o.node.name}=${o.index}`).join(' ')}`);
  assert.equal(b.logs.filter((l) => /writer changed service=write/.test(l)).length, 1, b.logs.filter((l) => /writer changed/.test(l)).join('\n'));

  // Read port: round robin over the three synced nodes.
  const reads = await times(30, 3, () => nodeVia(readPort));
  assert.deepEqual(tally(reads), Object.fromEntries(c.nodes.map((n) => [n.name, 10])));

  // Write port: all to the writer.
  const writes = await times(10, 3, () => nodeVia(writePort));
  assert.deepEqual(tally(writes), { [writer]: 10 });

  // Sessions held on the writer.
  const held = await Promise.all(
    [1, 2].map(() => mysql.createConnection({ host: '127.0.0.1', port: writePort, user: HCHECK.user, password: HCHECK.password })),
  );
  const heldClosed = held.map(
    (conn) =>
      new Promise<void>((resolve) => {
        conn.on('error', () => resolve());
        conn.on('end', () => resolve());
      }),
  );

  // Kill the writer.
  const victim = c.nodes.find((n) => n.name === writer)!;
  const killedAt = Date.now();
  await victim.kill('SIGKILL');
  let newWriter = '';
  const bound = FALL * INTERVAL_MS + TIMEOUT_MS + 1000;
  while (Date.now() - killedAt < bound + 2000) {
    try {
      const n = await nodeVia(writePort);
      if (n !== writer) {
        newWriter = n;
        break;
      }
    } catch {
      /* refused while no writer is named, or the old writer's connect failed */
    }
    await sleep(50);
  }
  const movedMs = Date.now() - killedAt;
  t.diagnostic(`write clients moved ${writer} -> ${newWriter} after ${movedMs} ms (bound ${bound} ms)`);
  assert.ok(newWriter !== '', 'new write clients reach a new writer');
  assert.ok(movedMs <= bound, `moved after ${movedMs} ms, bound ${bound} ms`);
  // The old writer's sessions were closed.
  await Promise.race([Promise.all(heldClosed), sleep(3000).then(() => assert.fail('old writer sessions still open'))]);
  // Reads keep working on the two survivors.
  const after = tally(await times(10, 2, () => nodeVia(readPort)));
  assert.equal(after[writer], undefined);

  // The old writer returns: it comes back up, but does not get the writer
  // back (failback: false). Its rejoin may move the writer once more (the
  // SST donor is desynced and so down), never back to the old writer.
  const mark = b.logs.length;
  await victim.restart();
  await b.waitForLog(new RegExp(` server up subsystem=health service=write server=${writer} `), 30_000, mark);
  await sleep(2 * INTERVAL_MS);
  const writerNow = /to=(\S+)/.exec([...b.logs].reverse().find((l) => /writer changed service=write/.test(l))!)![1]!;
  assert.notEqual(writerNow, writer);
  assert.deepEqual(tally(await times(5, 1, () => nodeVia(writePort))), { [writerNow]: 5 });
  assert.ok(!b.logs.slice(mark).some((l) => new RegExp(`writer changed service=write from=\\S+ to=${writer}\\b`).test(l)), 'the old writer never gets the writer back');
  for (const conn of held) conn.destroy();
});
