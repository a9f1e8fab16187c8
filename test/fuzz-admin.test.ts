/**
 * Fuzzing the admin API of a running daemon: seeded random methods, paths,
 * headers and bodies (valid-looking and garbage, oversized, sent slowly),
 * then a slowloris (200 connections each sending one header byte a second).
 * Every answer must be well-formed HTTP/1.1, every error a JSON
 * `{ error: { code, message } }`, the API must keep answering others
 * quickly, and the daemon must stay up with its state (GET /api/status
 * without its volatile fields, see helpers/fuzz.ts) byte for byte the same.
 * No request carries the real token, so no change may succeed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startBaton, type BatonProcess } from './helpers/baton.js';
import { nameBackend, type Backend } from './helpers/backends.js';
import { freePort } from './helpers/ports.js';
import { eventually, fdCount, pick, prng, randBytes, randInt, rawExchange, stableStatus, statusOf, type RawResponse } from './helpers/fuzz.js';

const TOKEN = 'fuzz-token-' + 'x'.repeat(20);

async function withDaemon(fn: (ctx: { baton: BatonProcess; port: number }) => Promise<void>) {
  const backends: Backend[] = [await nameBackend('s1'), await nameBackend('s2')];
  const adminPort = await freePort();
  const baton = await startBaton(
    `node: fuzz-admin
shutdown_timeout: 1s
admin: { listen: 127.0.0.1:${adminPort}, token_env: FUZZ_ADMIN_TOKEN }
services:
  - name: read
    listen: 127.0.0.1:${await freePort()}
    balance: roundrobin
    health: { check: tcp, interval: 1s, timeout: 500ms, rise: 1, fall: 3, initial: up }
    servers:
${backends.map((b) => `      - { name: ${b.name}, address: 127.0.0.1:${b.port} }`).join('\n')}
  - name: write
    listen: 127.0.0.1:${await freePort()}
    balance: writer
    health: { check: tcp, interval: 1s, timeout: 500ms, rise: 1, fall: 3, initial: up }
    servers:
${backends.map((b) => `      - { name: ${b.name}, address: 127.0.0.1:${b.port} }`).join('\n')}
`,
    { env: { FUZZ_ADMIN_TOKEN: TOKEN } },
  );
  try {
    // Let the first health checks land so the state is settled.
    await new Promise((r) => setTimeout(r, 1500));
    await fn({ baton, port: adminPort });
  } finally {
    await baton.stop();
    await Promise.all(backends.map((b) => b.close()));
  }
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'get', 'FOO', 'G E T', '', 'POST\x00'];
const PATHS = [
  '/', '/index.html', '/metrics', '/api/status', '/api/status/', '/api/services', '/api/services/read/servers/s1/state',
  '/api/services/write/servers/s2/state/', '/api/services/nope/servers/s1/state', '/api/services/read/servers/%ZZ/state',
  '/api/services/%2e%2e/servers/%2f/state', '/api/services/read/servers/s1/state?x=1#y', '//api/status', '/api/../api/status',
  '*', 'http://admin/api/status', '/%00', '/' + 'a'.repeat(9000), '/api/services/' + '%41'.repeat(500) + '/servers/s1/state', 'api/status', '',
];
const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'text/plain', 'multipart/form-data; boundary=x', 'APPLICATION/JSON', '', 'application/json;;;'];
const BODIES = [
  '{"state":"drain"}', '{"state":"maint"}', '{"state":"ready"}', '{"state":"bogus"}', '{"state":null}', '[]', 'null', '"drain"', '{', '{"state":"drain"',
  '{"__proto__":{"state":"drain"}}', '{"state":["drain"]}', '',
];

/** One random request, as raw bytes (sometimes split into pieces sent with pauses). */
function randomRequest(rand: () => number): { bytes: Buffer[]; method: string; label: string } {
  const r = rand();
  if (r < 0.08) {
    const junk = randBytes(rand, randInt(rand, 1, 400));
    return { bytes: [Buffer.concat([junk, Buffer.from('\r\n\r\n')])], method: '?', label: `junk ${junk.length} bytes` };
  }
  // Mostly methods the API knows, so that most requests reach the routes.
  const method = rand() < 0.7 ? pick(rand, ['GET', 'HEAD', 'POST']) : pick(rand, METHODS);
  const path = pick(rand, PATHS);
  const version = rand() < 0.9 ? 'HTTP/1.1' : pick(rand, ['HTTP/1.0', 'HTTP/2.0', 'HTTP/9', 'HTTP']);
  const headers: string[] = [];
  if (rand() < 0.9) headers.push(`Host: ${pick(rand, ['127.0.0.1', 'localhost', 'evil.example', '127.0.0.1:1', '[::1]', ''])}`);
  if (rand() < 0.5) headers.push(`Content-Type: ${pick(rand, CONTENT_TYPES)}`);
  if (rand() < 0.4) headers.push(`Authorization: ${pick(rand, ['Bearer wrong', 'Bearer ', 'Basic Zm9vOmJhcg==', `Bearer ${TOKEN}x`, 'bearer', `Bearer ${TOKEN.slice(0, -1)}`])}`);
  if (rand() < 0.3) headers.push(`Origin: ${pick(rand, ['http://127.0.0.1', 'http://evil.example', 'null', 'http://', '::'])}`);
  if (rand() < 0.2) headers.push(`Sec-Fetch-Site: ${pick(rand, ['cross-site', 'same-origin', 'none', 'same-site', ''])}`);
  if (rand() < 0.1) headers.push(`X-Big: ${'b'.repeat(randInt(rand, 1000, 20_000))}`);
  if (rand() < 0.1) for (let i = 0; i < randInt(rand, 10, 300); i++) headers.push(`X-Many-${i}: ${i}`);
  if (rand() < 0.05) headers.push(`Bad Header: \x01`);
  let body: Buffer = Buffer.alloc(0);
  const b = rand();
  if (b < 0.4) body = Buffer.from(pick(rand, BODIES));
  else if (b < 0.55) body = randBytes(rand, randInt(rand, 1, 2000));
  else if (b < 0.6) body = Buffer.alloc(randInt(rand, 65 * 1024, 200 * 1024), 0x7b);
  let framing: string;
  const f = rand();
  if (f < 0.8) framing = `Content-Length: ${body.length}`;
  else if (f < 0.9) framing = 'Transfer-Encoding: chunked';
  else framing = `Content-Length: ${pick(rand, ['-1', 'abc', '1, 2', String(body.length + 5), '99999999999999999999'])}`;
  if (framing.includes('chunked')) body = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from(body.length > 0 ? '\r\n0\r\n\r\n' : '\r\n')]);
  headers.push(framing, 'Connection: close');
  const head = Buffer.from(`${method} ${path} ${version}\r\n${headers.join('\r\n')}\r\n\r\n`, 'latin1');
  const whole = Buffer.concat([head, body]);
  // Sometimes sent in small pieces with pauses (a slow but honest client).
  if (rand() < 0.05) {
    const pieces: Buffer[] = [];
    for (let at = 0; at < Math.min(whole.length, 400); at += 40) pieces.push(whole.subarray(at, Math.min(at + 40, whole.length)));
    if (whole.length > 400) pieces.push(whole.subarray(400));
    return { bytes: pieces, method, label: `${method} ${path.slice(0, 60)} slowly` };
  }
  return { bytes: [whole], method, label: `${method} ${path.slice(0, 60)} ${framing} body ${body.length}` };
}

function checkAnswer(res: RawResponse, method: string, where: string) {
  assert.ok(res.status >= 200 && res.status < 600, `${where}: status ${res.status}`);
  assert.notEqual(res.status, 500, `${where}: 500 ${res.body.toString()}`);
  if (res.status >= 400 && method !== 'HEAD') {
    assert.match(res.headers['content-type'] ?? '', /^application\/json/, `${where}: error ${res.status} not JSON:\n${res.head}`);
    let json: any;
    try {
      json = JSON.parse(res.body.toString('utf8'));
    } catch {
      assert.fail(`${where}: error body is not JSON: ${JSON.stringify(res.body.toString('latin1').slice(0, 200))}`);
    }
    assert.equal(typeof json?.error?.code, 'string', `${where}: no error.code`);
    assert.equal(typeof json?.error?.message, 'string', `${where}: no error.message`);
  }
}

test('fuzz: 1,500 random requests all get a well-formed answer, errors in JSON; the daemon stays up and unchanged', { timeout: 120_000 }, async (t) => {
  await withDaemon(async ({ baton, port }) => {
    const before = stableStatus(await statusOf(baton.adminUrl));
    const fds = fdCount(baton.pid);
    const rand = prng(20_260_101);
    const statuses: Record<number, number> = {};
    const started = Date.now();
    const N = 1500;
    // 8 at a time: bounded, and enough concurrency to mix slow and fast clients.
    let next = 0;
    const worker = async () => {
      while (next < N) {
        const i = next++;
        const req = randomRequest(rand);
        const where = `#${i} ${req.label}`;
        let res: RawResponse;
        try {
          res = await rawExchange(port, req.bytes, { head: req.method === 'HEAD', gapMs: 20, timeoutMs: 15_000 });
        } catch (err) {
          assert.fail(`${where}: ${(err as Error).message}`);
        }
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        checkAnswer(res, req.method, where);
        assert.ok(!(res.status === 200 && /\/state\/?$/.test(req.label.split(' ')[1] ?? '') && req.method === 'POST'), `${where}: a change succeeded without the token`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    t.diagnostic(`${N} requests in ${Date.now() - started} ms; statuses ${JSON.stringify(statuses)}`);
    assert.equal(baton.exited instanceof Promise, true);
    assert.equal(stableStatus(await statusOf(baton.adminUrl)), before, 'state changed');
    assert.ok(await eventually(() => fdCount(baton.pid) <= fds, 5000), `fds ${fdCount(baton.pid)} > ${fds} at start`);
    assert.ok(!baton.logs.some((l) => /admin request failed|uncaught|TypeError|RangeError/.test(l)), baton.logs.filter((l) => /failed|uncaught|Error/.test(l)).join('\n'));
  });
});

test('slowloris: 200 connections sending a header byte a second do not block the API; the server times them out', { timeout: 60_000 }, async (t) => {
  await withDaemon(async ({ baton, port }) => {
    const before = stableStatus(await statusOf(baton.adminUrl));
    const fds = fdCount(baton.pid);
    const head = Buffer.from('GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ' + 'z'.repeat(100));
    const sockets: net.Socket[] = [];
    const closedAt: number[] = [];
    const answers: string[] = [];
    const opened = Date.now();
    for (let i = 0; i < 200; i++) {
      const s = net.connect({ port, host: '127.0.0.1' });
      s.on('error', () => undefined);
      s.on('data', (d: Buffer) => answers.push(d.toString('latin1')));
      s.on('close', () => closedAt.push(Date.now() - opened));
      sockets.push(s);
    }
    let sent = 0;
    const drip = setInterval(() => {
      for (const s of sockets) if (s.writable && sent < head.length) s.write(head.subarray(sent, sent + 1));
      sent++;
    }, 1000);
    try {
      // While they hang, a normal client is answered at once, every time.
      const latencies: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t0 = performance.now();
        const res = await rawExchange(port, Buffer.from('GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'), { timeoutMs: 2000 });
        latencies.push(performance.now() - t0);
        assert.equal(res.status, 200);
        await new Promise((r) => setTimeout(r, 500));
      }
      t.diagnostic(`GET /api/status during the slowloris: max ${Math.max(...latencies).toFixed(1)} ms`);
      assert.ok(Math.max(...latencies) < 500, `latencies ${latencies.map((l) => l.toFixed(0)).join(',')}`);
      // headersTimeout (10 s) plus the check interval (1 s): all closed by the server well before 20 s.
      const allClosed = await eventually(() => closedAt.length === 200, 20_000 - (Date.now() - opened));
      t.diagnostic(`closed by the server: ${closedAt.length}/200, last at ${Math.max(0, ...closedAt)} ms`);
      assert.ok(allClosed, `only ${closedAt.length} of 200 closed after ${Date.now() - opened} ms`);
      assert.ok(Math.min(...closedAt) >= 9000, `closed too early: ${Math.min(...closedAt)} ms`);
      // The ones that got an answer got a JSON 408.
      for (const a of answers) assert.match(a, /^HTTP\/1\.1 408 [^\r]*\r\n[\s\S]*application\/json[\s\S]*"code":"request-timeout"/);
    } finally {
      clearInterval(drip);
      for (const s of sockets) s.destroy();
    }
    assert.equal(stableStatus(await statusOf(baton.adminUrl)), before, 'state changed');
    assert.ok(await eventually(() => fdCount(baton.pid) <= fds, 5000), `fds ${fdCount(baton.pid)} > ${fds} at start`);
  });
});
