/**
 * The log and the signals of a real daemon with `workers: 2`:
 * - `log_level` holds in the primary and in every worker from the start, and
 *   a reload (SIGHUP) changes it in all of them;
 * - every signal the docs name (SIGHUP, SIGTERM, SIGINT, SIGUSR2), sent to
 *   the primary or to a worker, leaves every process running and the traffic
 *   flowing (SIGUSR2 without a `vrrp:` section is logged as ignored);
 * - one event, one line: a backend going down is one `server down` line and
 *   one `writer changed` line whatever the number of workers, and a refused
 *   client is one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startBaton, type BatonProcess } from './helpers/baton.js';
import { fetchName, nameBackend, sleep, times, type Backend } from './helpers/backends.js';
import { childPids } from './helpers/admin.js';
import { freePort, freePorts } from './helpers/ports.js';

function serviceYaml(name: string, port: number, backends: Backend[]): string {
  return `  - name: ${name}
    listen: 127.0.0.1:${port}
    balance: roundrobin
    servers:
${backends.map((b) => `      - { name: ${b.name}, address: 127.0.0.1:${b.port} }`).join('\n')}
`;
}

/** Lines from `from` on that match `re`. */
const linesAfter = (b: BatonProcess, from: number, re: RegExp) => b.logs.slice(from).filter((l) => re.test(l));

/** Waits until `count()` reaches `n` (bounded), then a little longer so that extra lines from other processes would show. */
async function settle(count: () => number, n: number, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (count() < n && Date.now() < deadline) await sleep(25);
  await sleep(400);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('workers: 2: log_level warn silences info in the primary and the workers; SIGHUP to info, then debug, reaches every process', async () => {
  const backend = await nameBackend('b1');
  const [port, extraPort] = await freePorts(2);
  const config = (level: string, extra: boolean) =>
    `node: lv\nworkers: 2\nshutdown_timeout: 1s\nlog_level: ${level}\nservices:\n${serviceYaml('main', port!, [backend])}${extra ? serviceYaml('extra', extraPort!, [backend]) : ''}`;
  const baton = await startBaton(config('warn', false), { waitFor: null });
  try {
    assert.equal(await fetchName(port!), 'b1');
    // Give every process time to write what it would have written.
    await sleep(300);
    const chatty = baton.logs.filter((l) => / (INFO|DEBUG) /.test(l));
    assert.deepEqual(chatty, [], 'log_level: warn: no info or debug line from any process');

    // To info, with a new service: the primary logs the reload, each worker its new listener.
    let mark = baton.logs.length;
    baton.writeConfig(config('info', true));
    baton.signal('SIGHUP');
    await baton.waitForLog(/ INFO config reloaded .*added=extra/, 5000, mark);
    await baton.waitForLog(/ INFO listening worker=1 service=extra /, 5000, mark);
    await baton.waitForLog(/ INFO listening worker=2 service=extra /, 5000, mark);
    assert.equal(await fetchName(extraPort!), 'b1');

    // To debug: a worker's debug line (an ignored signal) appears.
    mark = baton.logs.length;
    baton.writeConfig(config('debug', true));
    baton.signal('SIGHUP');
    await baton.waitForLog(/ INFO config reloaded /, 5000, mark);
    const workers = childPids(baton.pid);
    assert.equal(workers.length, 2, `worker pids ${workers}`);
    for (const pid of workers) process.kill(pid, 'SIGUSR2');
    for (const pid of workers) await baton.waitForLog(new RegExp(` DEBUG signal ignored worker=\\d+ signal=SIGUSR2 pid=${pid} `), 5000, mark);

    // Back to warn: from the reload on (it logs `reloading` at the old level), no info line.
    mark = baton.logs.length;
    baton.writeConfig(config('warn', false));
    baton.signal('SIGHUP');
    await baton.waitForLog(/ INFO reloading /, 5000, mark);
    const reloading = baton.logs.findIndex((l, i) => i >= mark && / INFO reloading /.test(l));
    // The reload removes `extra`: its port stops answering once every worker applied it.
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && (await fetchName(extraPort!).then(() => true, () => false))) await sleep(50);
    await sleep(300);
    assert.deepEqual(linesAfter(baton, reloading + 1, / (INFO|DEBUG) /), [], 'after the reload to warn, no info line from any process');
  } finally {
    await baton.stop();
    await backend.close();
  }
});

test('workers: 2, no vrrp: SIGUSR2 to the primary, SIGUSR2/SIGHUP/SIGINT/SIGTERM to each worker: every process lives, traffic flows', async () => {
  const backends = await Promise.all(['s1', 's2'].map((n) => nameBackend(n)));
  const port = await freePort();
  const baton = await startBaton(`node: sig\nworkers: 2\nshutdown_timeout: 1s\nservices:\n${serviceYaml('read', port, backends)}`);
  try {
    await baton.waitForLog(/worker started.*index=0/);
    await baton.waitForLog(/worker started.*index=1/);
    const workers = childPids(baton.pid);
    assert.equal(workers.length, 2, `worker pids ${workers}`);
    const mark = baton.logs.length;

    baton.signal('SIGUSR2');
    await baton.waitForLog(/ INFO signal ignored signal=SIGUSR2 .*no vrrp instance/, 3000, mark);
    for (const pid of workers) for (const sig of ['SIGUSR2', 'SIGHUP', 'SIGINT', 'SIGTERM'] as const) process.kill(pid, sig);
    await sleep(500);

    assert.ok(alive(baton.pid), 'the primary is alive');
    for (const pid of workers) assert.ok(alive(pid), `worker ${pid} is alive`);
    assert.deepEqual(childPids(baton.pid).sort(), [...workers].sort(), 'the same workers, none restarted');
    assert.deepEqual(linesAfter(baton, mark, /worker exited|shutting down|reloading/), []);
    const names = await times(40, 8, () => fetchName(port));
    assert.equal(names.length, 40);
    assert.deepEqual([...new Set(names)].sort(), ['s1', 's2']);
    assert.equal(await baton.stop(), 0);
  } finally {
    await baton.stop();
    await Promise.all(backends.map((b) => b.close()));
  }
});

/** Connects and resolves once the daemon has closed the connection (a refused client). */
function refusedClient(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the client was not refused within 5 s'));
    }, 5000);
    socket.on('data', () => reject(new Error('the refused client got data')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

test('workers: 2: a backend down is one `server down` and one `writer changed` line; a refused client is one line', async () => {
  const db1 = await nameBackend('db1');
  const db2 = await nameBackend('db2');
  const [writePort, refusePort, dead1, dead2] = await freePorts(4);
  const baton = await startBaton(`node: once
workers: 2
shutdown_timeout: 1s
services:
  - name: write
    listen: 127.0.0.1:${writePort}
    balance: writer
    writer: { pick: first, failback: false, on_change: close }
    health: { check: tcp, interval: 200ms, timeout: 150ms, rise: 1, fall: 1 }
    servers:
      - { name: db1, address: 127.0.0.1:${db1.port} }
      - { name: db2, address: 127.0.0.1:${db2.port} }
  - name: refuse
    listen: 127.0.0.1:${refusePort}
    balance: roundrobin
    retries: 1
    connect_timeout: 1s
    servers:
      - { name: gone1, address: 127.0.0.1:${dead1} }
      - { name: gone2, address: 127.0.0.1:${dead2} }
`);
  try {
    await baton.waitForLog(/worker started.*index=0/);
    await baton.waitForLog(/worker started.*index=1/);
    await baton.waitForLog(/writer changed .*service=write .*to=db1/, 5000);
    await sleep(400);
    assert.equal(await fetchName(writePort!), 'db1');

    // The writer's backend goes away: health decides once, the writer moves once.
    let mark = baton.logs.length;
    await db1.close();
    await baton.waitForLog(/server down .*server=db1/, 5000, mark);
    await baton.waitForLog(/writer changed .*from=db1 to=db2/, 5000, mark);
    await settle(() => linesAfter(baton, mark, /\bdb1\b/).length, 2);
    const aboutDb1 = linesAfter(baton, mark, /\bdb1\b/);
    assert.equal(linesAfter(baton, mark, /server down .*server=db1/).length, 1, aboutDb1.join('\n'));
    assert.equal(linesAfter(baton, mark, /writer changed .*from=db1 to=db2/).length, 1, aboutDb1.join('\n'));
    assert.equal(aboutDb1.length, 2, `one line per event, got:\n${aboutDb1.join('\n')}`);
    assert.equal(await fetchName(writePort!), 'db2');

    // Refused clients: both servers refuse the connect; each client is one line, whichever worker took it.
    mark = baton.logs.length;
    const clients = 4;
    for (let i = 0; i < clients; i++) await refusedClient(refusePort!);
    const aboutRefused = () => linesAfter(baton, mark, /service=refuse/);
    await settle(() => aboutRefused().length, clients);
    assert.equal(aboutRefused().length, clients, `one line per refused client, got:\n${aboutRefused().join('\n')}`);
    for (const line of aboutRefused()) assert.match(line, /WARN session no-server .*gave up after 2 attempt\(s\): gone\d .*ECONNREFUSED; gone\d /);
  } finally {
    await baton.stop();
    await db2.close();
  }
});
