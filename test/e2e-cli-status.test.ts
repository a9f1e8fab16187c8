/**
 * `baton status` and `baton server` as a user runs them, against the real
 * daemon (`workers: 1`, admin on a free port, tcp health checks on tiny
 * backends): the table names the node, services and servers; `--json` is
 * the API's answer; drain and ready change what status shows; unknown names,
 * bad usage, a missing or wrong token and a daemon that is not there give
 * one clear line and the right exit code (0 ok, 1 runtime error, 2 usage).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cliPath, startBaton, type BatonProcess } from './helpers/baton.js';
import { nameBackend, sleep, type Backend } from './helpers/backends.js';
import { freePort, freePorts } from './helpers/ports.js';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment without any admin setting of the machine running the tests. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  for (const k of ['BATON_ADMIN', 'BATON_ADMIN_TOKEN']) if (!(k in extra)) delete env[k];
  return env;
}

/** Runs `baton ARGS` (asynchronously: the backends live in this process). */
function baton(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliPath, ...args], { env: cleanEnv(env), timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** A failure is one line on stderr, nothing on stdout, and no stack trace. */
function assertOneLineError(r: CliResult, code: number, message: RegExp): void {
  assert.equal(r.code, code, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`);
  assert.match(lines[0]!, message);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
}

interface JsonServer {
  name: string;
  address: string;
  state: string;
  admin: string;
  health: string;
  check: { ok: boolean } | null;
}
interface JsonStatus {
  node: string;
  vrrp: unknown[];
  services: Array<{ name: string; listen: string; balance: string; writer: string | null; servers: JsonServer[] }>;
}

async function statusJson(admin: string): Promise<JsonStatus> {
  const r = await baton(['status', '--json', '--admin', admin]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as JsonStatus;
}

/** Polls `baton status --json` until `cond` holds (or fails after `ms`). */
async function waitStatus(admin: string, cond: (s: JsonStatus) => boolean, what: string, ms = 10_000): Promise<JsonStatus> {
  const end = Date.now() + ms;
  let last: JsonStatus | undefined;
  while (Date.now() < end) {
    last = await statusJson(admin);
    if (cond(last)) return last;
    await sleep(100);
  }
  throw new Error(`${what}: not within ${ms} ms; last status:\n${JSON.stringify(last, null, 2)}`);
}

const allUp = (s: JsonStatus) => s.services.every((svc) => svc.servers.every((srv) => srv.state === 'up' && srv.check?.ok === true));
const serverState = (s: JsonStatus, svc: string, srv: string) => s.services.find((x) => x.name === svc)?.servers.find((x) => x.name === srv)?.state;

function yaml(node: string, adminPort: number, admin: string, services: Array<{ name: string; port: number; balance: string }>, backends: Backend[]): string {
  const servers = backends.map((b) => `      - { name: ${b.name}, address: 127.0.0.1:${b.port} }`).join('\n');
  return [
    `node: ${node}`,
    `admin: { listen: 127.0.0.1:${adminPort}${admin} }`,
    'workers: 1',
    'shutdown_timeout: 1s',
    'services:',
    ...services.map(
      (s) => `  - name: ${s.name}
    listen: 127.0.0.1:${s.port}
    balance: ${s.balance}
    connect_timeout: 1s
    health: { check: tcp, interval: 200ms, timeout: 200ms, rise: 1, fall: 1 }
    servers:
${servers}`,
    ),
    '',
  ].join('\n');
}

const TOKEN = 'e2e-admin-token-7f3a';
let backends: Backend[] = [];
let open: BatonProcess;
let guarded: BatonProcess;
let openAdmin = '';
let guardedAdmin = '';

before(async () => {
  backends = await Promise.all(['db1', 'db2'].map((n) => nameBackend(n)));
  const [readPort, writePort, adminPort, guardedPort, guardedAdminPort] = await freePorts(5);
  openAdmin = `http://127.0.0.1:${adminPort}`;
  guardedAdmin = `http://127.0.0.1:${guardedAdminPort}`;
  [open, guarded] = await Promise.all([
    startBaton(
      yaml('e2e-status', adminPort!, '', [
        { name: 'read', port: readPort!, balance: 'roundrobin' },
        { name: 'write', port: writePort!, balance: 'writer' },
      ], backends),
    ),
    startBaton(yaml('e2e-guarded', guardedAdminPort!, ', token_env: E2E_ADMIN_TOKEN', [{ name: 'app', port: guardedPort!, balance: 'roundrobin' }], backends), {
      env: { E2E_ADMIN_TOKEN: TOKEN },
    }),
  ]);
  await Promise.all([waitStatus(openAdmin, allUp, 'every server up'), waitStatus(guardedAdmin, allUp, 'every server up')]);
});

after(async () => {
  await Promise.all([open?.stop(), guarded?.stop()]);
  await Promise.all(backends.map((b) => b.close()));
});

test('baton status: the node, every service and server, up, with their checks', async () => {
  const r = await baton(['status', '--admin', openAdmin]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^node e2e-status {2}version \S+ {2}pid \d+ {2}uptime \d+s {2}workers 1$/m);
  assert.match(r.stdout, /^VRRP: not configured$/m);
  assert.match(r.stdout, /^service read {2}listen 127\.0\.0\.1:\d+ {2}balance roundrobin {2}active \d+ {2}total \d+$/m);
  assert.match(r.stdout, /^service write {2}listen 127\.0\.0\.1:\d+ {2}balance writer {2}writer db1 {2}active \d+ {2}total \d+$/m);
  for (const b of backends) {
    const rows = r.stdout.split('\n').filter((l) => new RegExp(`^ {4}${b.name} +127\\.0\\.0\\.1:${b.port} +up +up +1 +\\d+ +\\d+ +\\S+ +\\S+ +ok [\\d.]+ms$`).test(l));
    assert.equal(rows.length, 2, `${b.name} up in both services:\n${r.stdout}`);
  }
  assert.match(r.stdout, /^[\x20-\x7e\n]*$/, 'plain ASCII, no colours');
});

test('baton status --json: the API answer, pretty-printed, and it matches the table', async () => {
  const [r, text, direct] = await Promise.all([
    baton(['status', '--json', '--admin', openAdmin]),
    baton(['status'], { BATON_ADMIN: openAdmin }),
    fetch(`${openAdmin}/api/status`).then((res) => res.json() as Promise<JsonStatus>),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^\{\n {2}"node": "e2e-status",\n/, 'pretty-printed');
  const s = JSON.parse(r.stdout) as JsonStatus;
  assert.equal(s.node, direct.node);
  assert.deepEqual(s.vrrp, []);
  const shape = (st: JsonStatus) => st.services.map((svc) => [svc.name, svc.listen, svc.balance, svc.writer, svc.servers.map((x) => [x.name, x.address, x.state, x.admin, x.health])]);
  assert.deepEqual(shape(s), shape(direct));
  assert.deepEqual(s.services.map((x) => x.name), ['read', 'write']);
  // The table, fetched from $BATON_ADMIN, shows the same listeners and servers.
  assert.equal(text.code, 0, text.stderr);
  for (const svc of s.services) {
    assert.match(text.stdout, new RegExp(`^service ${svc.name} {2}listen ${svc.listen.replace(/\./g, '\\.')} `, 'm'));
    for (const srv of svc.servers) assert.match(text.stdout, new RegExp(`^ {4}${srv.name} +${srv.address.replace(/\./g, '\\.')} +${srv.state} `, 'm'));
  }
});

test('baton server drain, then ready: exit 0, the new state printed, status shows it', async () => {
  const drain = await baton(['server', 'drain', 'read/db1', '--admin', openAdmin]);
  assert.equal(drain.code, 0, drain.stderr);
  assert.equal(drain.stdout, 'read/db1: drain (state drain)\n');
  const st = await statusJson(openAdmin);
  assert.equal(serverState(st, 'read', 'db1'), 'drain');
  assert.equal(serverState(st, 'write', 'db1'), 'up', 'only the named service changed');
  const text = await baton(['status', '--admin', openAdmin]);
  assert.match(text.stdout, /^ {4}db1 +127\.0\.0\.1:\d+ +drain +up /m);

  const ready = await baton(['server', 'ready', 'read/db1', '--admin', openAdmin]);
  assert.equal(ready.code, 0, ready.stderr);
  assert.equal(ready.stdout, 'read/db1: ready (state up)\n');
  assert.equal(serverState(await statusJson(openAdmin), 'read', 'db1'), 'up');
});

test('baton server on an unknown server or service: exit 1 with the API message, nothing changed', async () => {
  assertOneLineError(await baton(['server', 'drain', 'read/nope', '--admin', openAdmin]), 1, /^error: .*\bnope\b/);
  assertOneLineError(await baton(['server', 'maint', 'nosuch/db1', '--admin', openAdmin]), 1, /^error: .*\bnosuch\b/);
  assert.ok(allUp(await statusJson(openAdmin)));
});

test('usage errors exit 2 before anything is sent', async () => {
  assertOneLineError(await baton(['server', 'bogus', 'x/y', '--admin', openAdmin]), 2, /^error: .*'bogus'.*Allowed choices are drain, ready, maint/);
  assertOneLineError(await baton(['server', 'drain', 'db1', '--admin', openAdmin]), 2, /expected SERVICE\/SERVER, e\.g\. read\/db1/);
  assertOneLineError(await baton(['server', 'drain', 'read/db1/x', '--admin', openAdmin]), 2, /expected SERVICE\/SERVER/);
  assertOneLineError(await baton(['server', 'drain', '--admin', openAdmin]), 2, /missing required argument/);
  assertOneLineError(await baton(['status', '--admin', 'http://[bad']), 2, /--admin: not a URL/);
  assertOneLineError(await baton(['status', '--frobnicate', '--admin', openAdmin]), 2, /unknown option '--frobnicate'/);
  assert.ok(allUp(await statusJson(openAdmin)), 'nothing changed');
});

test('with admin.token_env set: no token is refused, a wrong one too, the right one works; never printed', async () => {
  const none = await baton(['server', 'drain', 'app/db2', '--admin', guardedAdmin]);
  assertOneLineError(none, 1, /^error: unauthorized: set BATON_ADMIN_TOKEN to the daemon's admin token$/);
  assert.equal(serverState(await statusJson(guardedAdmin), 'app', 'db2'), 'up', 'nothing changed (GET needs no token)');

  const wrong = await baton(['server', 'drain', 'app/db2', '--admin', guardedAdmin], { BATON_ADMIN_TOKEN: 'not-it' });
  assertOneLineError(wrong, 1, /^error: unauthorized: BATON_ADMIN_TOKEN does not match/);
  assert.doesNotMatch(wrong.stderr, /not-it/);
  assert.equal(serverState(await statusJson(guardedAdmin), 'app', 'db2'), 'up');

  const right = await baton(['server', 'drain', 'app/db2', '--admin', guardedAdmin], { BATON_ADMIN_TOKEN: TOKEN });
  assert.equal(right.code, 0, right.stderr);
  assert.equal(right.stdout, 'app/db2: drain (state drain)\n');
  assert.ok(!right.stdout.includes(TOKEN) && !right.stderr.includes(TOKEN));
  assert.equal(serverState(await statusJson(guardedAdmin), 'app', 'db2'), 'drain');
  assert.doesNotMatch((await baton(['status', '--admin', guardedAdmin], { BATON_ADMIN_TOKEN: TOKEN })).stdout, new RegExp(TOKEN));
});

test('no daemon at the address: exit 1, "cannot reach", no stack trace', async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const expected = new RegExp(`^error: cannot reach the Baton admin API at ${url.replace(/\./g, '\\.')}: connection refused \\(is baton running\\? is admin\\.listen this address\\?\\)$`);
  assertOneLineError(await baton(['status', '--admin', url]), 1, expected);
  assertOneLineError(await baton(['status', '--json'], { BATON_ADMIN: url }), 1, expected);
  assertOneLineError(await baton(['server', 'drain', 'read/db1', '--admin', url]), 1, expected);
});
