/**
 * `baton status` text and the admin client: the formatter on fixed inputs
 * (golden text, units, plain ASCII, alignment), and the client against a
 * real HTTP server on 127.0.0.1 answering as the admin API would (and as
 * things that are not the admin API would).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { AdminClient, adminClientFrom, resolveAdminUrl, type AdminStatus, type StatusServer } from '../src/cli/admin-client.js';
import { formatBytes, formatCheck, formatDuration, formatStatus } from '../src/cli/status.js';

function server(name: string, over: Partial<StatusServer> = {}): StatusServer {
  return {
    name,
    address: '10.0.0.1:3306',
    state: 'up',
    admin: 'ready',
    health: 'up',
    weight: 1,
    backup: false,
    active: 0,
    total: 0,
    bytes_in: 0,
    bytes_out: 0,
    connect_errors: 0,
    check: { ok: true, ms: 1.234, error: null },
    ...over,
  };
}

const status: AdminStatus = {
  node: 'lb1',
  version: '0.1.0',
  pid: 4242,
  uptime_s: 7385.9,
  workers: 2,
  auth: { token_required: true },
  vrrp: [
    { name: 'VI_1', state: 'master', priority: 150, effective_priority: 150, master: '10.0.0.2', virtual_ips: ['10.0.0.10/24', '10.0.0.11/24'], interface: 'eth0', router_id: 51, faults: [] },
    { name: 'VI_2', state: 'fault', priority: 100, effective_priority: 90, master: null, virtual_ips: ['10.0.1.10/24'], interface: 'eth1', router_id: 52, faults: ['interface eth1 down', 'script chk'] },
  ],
  services: [
    {
      name: 'read',
      listen: '127.0.0.1:6447',
      balance: 'roundrobin',
      writer: null,
      active: 3,
      total: 120,
      servers: [
        server('db1', { weight: 10, active: 2, total: 60, bytes_in: 1234, bytes_out: 5_678_000 }),
        server('db2', { address: '10.0.0.2:3306', state: 'drain', admin: 'drain', active: 1, total: 60, bytes_in: 512, bytes_out: 3 * 1024 ** 3 }),
        server('db3', { address: '10.0.0.3:3306', state: 'down', health: 'down', backup: true, check: { ok: false, ms: 1000, error: 'l4-refused: connect ECONNREFUSED 10.0.0.3:3306' } }),
      ],
    },
    {
      name: 'write',
      listen: '127.0.0.1:6446',
      balance: 'writer',
      writer: 'db1',
      active: 0,
      total: 7,
      servers: [server('db1', { state: 'maint', admin: 'maint', total: 7, check: null })],
    },
  ],
};

test('formatStatus: header, VRRP lines, per service a line and an aligned server table', () => {
  const expected = [
    'node lb1  version 0.1.0  pid 4242  uptime 2h03m  workers 2',
    '',
    'VRRP:',
    '  NAME  STATE   PRIORITY  INTERFACE  VRID  VIPS                       MASTER    FAULTS',
    '  VI_1  MASTER  150/150   eth0       51    10.0.0.10/24,10.0.0.11/24  10.0.0.2  -',
    '  VI_2  FAULT   90/100    eth1       52    10.0.1.10/24               -         interface eth1 down,script chk',
    '',
    'service read  listen 127.0.0.1:6447  balance roundrobin  active 3  total 120',
    '    NAME          ADDRESS        STATE  HEALTH  WEIGHT  ACTIVE  TOTAL  IN      OUT     LAST CHECK',
    '    db1           10.0.0.1:3306  up     up      10      2       60     1.2KiB  5.4MiB  ok 1.2ms',
    '    db2           10.0.0.2:3306  drain  up      1       1       60     512B    3.0GiB  ok 1.2ms',
    '    db3 (backup)  10.0.0.3:3306  down   down    1       0       0      0B      0B      l4-refused: connect ECONNREFUSED 10.0.0.3:3306',
    '',
    'service write  listen 127.0.0.1:6446  balance writer  writer db1  active 0  total 7',
    '    NAME          ADDRESS        STATE  HEALTH  WEIGHT  ACTIVE  TOTAL  IN      OUT     LAST CHECK',
    '    db1           10.0.0.1:3306  maint  up      1       0       7      0B      0B      -',
    '',
  ].join('\n');
  assert.equal(formatStatus(status), expected);
});

test('formatStatus: no VRRP, no services, a writer service without a writer', () => {
  const bare: AdminStatus = { ...status, vrrp: [], services: [] };
  assert.equal(formatStatus(bare), 'node lb1  version 0.1.0  pid 4242  uptime 2h03m  workers 2\n\nVRRP: not configured\n\nservices: none\n');
  const noWriter: AdminStatus = { ...bare, services: [{ ...status.services[1]!, writer: null, servers: [] }] };
  assert.match(formatStatus(noWriter), /^service write {2}listen 127\.0\.0\.1:6446 {2}balance writer {2}writer none {2}active 0 {2}total 7\n {4}no servers\n/m);
});

test('formatStatus: limits show as active/limit, and a limited service shows its queue and queue timeouts', () => {
  const limited: AdminStatus = {
    ...status,
    vrrp: [],
    services: [
      {
        ...status.services[0]!,
        max_connections: 500,
        queued: 12,
        queue_timeouts: 3,
        servers: [server('db1', { active: 40, max_connections: 40 }), server('db2', { address: '10.0.0.2:3306', active: 7, max_connections: null })],
      },
      // No limit anywhere and nobody queued: no queue figures.
      { ...status.services[1]!, queued: 0, queue_timeouts: 0 },
    ],
  };
  const out = formatStatus(limited);
  assert.match(out, /^service read {2}listen 127\.0\.0\.1:6447 {2}balance roundrobin {2}active 3\/500 {2}total 120 {2}queued 12 {2}queue timeouts 3$/m);
  assert.match(out, /^ {4}db1 +10\.0\.0\.1:3306 +up +up +1 +40\/40 +0 /m);
  assert.match(out, /^ {4}db2 +10\.0\.0\.2:3306 +up +up +1 +7 +0 /m);
  assert.match(out, /^service write {2}listen 127\.0\.0\.1:6446 {2}balance writer {2}writer db1 {2}active 0 {2}total 7$/m);
});

test('formatStatus: every state in capitals; output is printable ASCII on fixed lines whatever the input', () => {
  for (const state of ['init', 'backup', 'master', 'fault'] as const) {
    const s: AdminStatus = { ...status, vrrp: [{ ...status.vrrp[0]!, state }] };
    assert.match(formatStatus(s), new RegExp(`^ {2}VI_1 {2}${state.toUpperCase()} `, 'm'));
  }
  const nasty: AdminStatus = {
    ...status,
    node: 'lb\u00e91\n',
    services: [{ ...status.services[0]!, servers: [server('db1', { check: { ok: false, ms: 1, error: 'bad\r\nthing \u2014 \u001b[31mred' } })] }],
  };
  const text = formatStatus(nasty);
  assert.match(text, /^[\x20-\x7e\n]*$/, 'printable ASCII and newlines only');
  assert.equal(text.split('\n').length, formatStatus({ ...status, services: [{ ...status.services[0]!, servers: [server('db1')] }] }).split('\n').length);
  assert.match(text, /^node lb\?1 {3}version/m);
});

test('units: bytes, durations, checks', () => {
  assert.deepEqual(
    [0, 1, 1023, 1024, 1536, 10 * 1024, 99.9 * 1024, 100 * 1024, 1024 ** 2 - 1, 1024 ** 2, 5 * 1024 ** 4, -1, NaN].map(formatBytes),
    ['0B', '1B', '1023B', '1.0KiB', '1.5KiB', '10.0KiB', '99.9KiB', '100KiB', '1.0MiB', '1.0MiB', '5.0TiB', '-', '-'],
  );
  assert.deepEqual(
    [0, 59.9, 60, 61, 3599, 3600, 86399, 86400, 90061, undefined, -1].map(formatDuration),
    ['0s', '59s', '1m00s', '1m01s', '59m59s', '1h00m', '23h59m', '1d00h', '1d01h', '-', '-'],
  );
  assert.equal(formatCheck(null), '-');
  assert.equal(formatCheck({ ok: true, ms: 0.04, error: null }), 'ok 0.0ms');
  assert.equal(formatCheck({ ok: true, ms: 250.4, error: null }), 'ok 250ms');
  assert.equal(formatCheck({ ok: false, ms: 3, error: 'l4-timeout' }), 'l4-timeout');
  assert.equal(formatCheck({ ok: false, ms: 3, error: null }), 'failed');
});

// ---------------------------------------------------------------- the client

test('resolveAdminUrl: --admin, then $BATON_ADMIN, then the default; host:port means http', () => {
  const href = (flag: string | undefined, env: NodeJS.ProcessEnv) => {
    const r = resolveAdminUrl(flag, env);
    return r.ok ? r.value.href : `error ${r.error.code}: ${r.error.message}`;
  };
  assert.equal(href(undefined, {}), 'http://127.0.0.1:9900/');
  assert.equal(href(undefined, { BATON_ADMIN: 'http://10.0.0.1:9901' }), 'http://10.0.0.1:9901/');
  assert.equal(href('http://[::1]:9902', { BATON_ADMIN: 'http://10.0.0.1:9901' }), 'http://[::1]:9902/');
  assert.equal(href('127.0.0.1:9903', {}), 'http://127.0.0.1:9903/');
  assert.equal(href('https://lb1.example/baton', {}), 'https://lb1.example/baton/');
  assert.match(href('http://[zz', {}), /^error bad-url: --admin: not a URL/);
  assert.match(href(undefined, { BATON_ADMIN: 'ftp://x' }), /^error bad-url: BATON_ADMIN: ftp: is not http or https/);
});

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

/** An HTTP server on 127.0.0.1 whose answers the test decides; records every request. */
async function fakeAdmin(answer: (req: IncomingMessage, body: string, res: ServerResponse) => void) {
  const seen: Seen[] = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body });
      answer(req, body, res);
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as AddressInfo).port;
  return {
    seen,
    base: new URL(`http://127.0.0.1:${port}/`),
    close: () => new Promise<void>((resolve) => (srv.closeAllConnections(), srv.close(() => resolve()))),
  };
}

const json = (res: ServerResponse, code: number, body: unknown) => {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

test('client: GET status without a token, POST a state with the bearer token and the names encoded', async () => {
  const api = await fakeAdmin((req, body, res) => {
    if (req.method === 'GET') return json(res, 200, status);
    const state = (JSON.parse(body) as { state: string }).state;
    json(res, 200, { service: 'read', server: 'db 1', admin: state, state });
  });
  try {
    const client = new AdminClient({ baseUrl: api.base, token: 's3cret' });
    const st = await client.status();
    assert.ok(st.ok);
    assert.deepEqual(st.value.raw, status);
    const ch = await client.setServerState('read', 'db 1', 'drain');
    assert.deepEqual(ch, { ok: true, value: { service: 'read', server: 'db 1', admin: 'drain', state: 'drain' } });
    assert.deepEqual(api.seen, [
      { method: 'GET', url: '/api/status', authorization: undefined, body: '' },
      { method: 'POST', url: '/api/services/read/servers/db%201/state', authorization: 'Bearer s3cret', body: '{"state":"drain"}' },
    ]);
  } finally {
    await api.close();
  }
});

test('client: a path prefix in the base URL is kept', async () => {
  const api = await fakeAdmin((_req, _body, res) => json(res, 200, status));
  try {
    const r = await new AdminClient({ baseUrl: new URL('baton', api.base) }).status();
    assert.ok(r.ok);
    assert.equal(api.seen[0]?.url, '/baton/api/status');
  } finally {
    await api.close();
  }
});

test('client: 401, 404, 400, 500, non-JSON and foreign JSON become one-line errors, the token never shown', async () => {
  let next: (res: ServerResponse) => void = () => {};
  const api = await fakeAdmin((_req, _body, res) => next(res));
  const base = `http://127.0.0.1:${api.base.port}`;
  const token = 'tok-very-secret';
  const cases: Array<[string, (res: ServerResponse) => void, string | undefined, string, RegExp]> = [
    ['401 no token', (res) => json(res, 401, { error: { code: 'unauthorized', message: 'token required' } }), undefined, 'unauthorized', /^unauthorized: set BATON_ADMIN_TOKEN to the daemon's admin token$/],
    ['401 wrong token', (res) => json(res, 401, { error: { code: 'unauthorized', message: 'bad token' } }), token, 'unauthorized', /^unauthorized: BATON_ADMIN_TOKEN does not match the daemon's admin token$/],
    ['404', (res) => json(res, 404, { error: { code: 'unknown-server', message: 'no server "nope" in service "read"' } }), token, 'not-found', /^no server "nope" in service "read"$/],
    ['400', (res) => json(res, 400, { error: { code: 'bad-state', message: 'state must be ready, drain or maint' } }), token, 'bad-request', /^state must be ready, drain or maint$/],
    ['404 not the API', (res) => (res.writeHead(404), res.end('Not Found')), token, 'not-found', new RegExp(`^${base}/api/status answered HTTP 404 Not Found \\(is --admin`)],
    ['500', (res) => json(res, 500, { error: { code: 'internal', message: 'boom\nat line 2' } }), token, 'http-error', /^boom at line 2$/],
    ['HTML', (res) => (res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }), res.end('<html>')), token, 'bad-answer', new RegExp(`^${base}/api/status answered HTTP 200 with something that is not JSON \\(text/html\\)`)],
    ['foreign JSON', (res) => json(res, 200, { hello: 'world' }), token, 'bad-answer', /is not a Baton status/],
  ];
  try {
    for (const [what, answer, tok, code, message] of cases) {
      next = answer;
      const r = await new AdminClient({ baseUrl: api.base, ...(tok ? { token: tok } : {}) }).status();
      assert.ok(!r.ok, what);
      assert.equal(r.error.code, code, what);
      assert.match(r.error.message, message, what);
      assert.ok(!r.error.message.includes('\n') && !r.error.message.includes(token), what);
    }
  } finally {
    await api.close();
  }
});

test('client: connection refused, a timeout, and a TCP server that is not HTTP', async () => {
  // A port with nothing listening: bind, read it, close.
  const probe = createTcpServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const refused = adminClientFrom(`127.0.0.1:${closedPort}`, {});
  assert.ok(refused.ok);
  const r1 = await refused.value.status();
  assert.deepEqual(r1, {
    ok: false,
    error: {
      code: 'unreachable',
      message: `cannot reach the Baton admin API at http://127.0.0.1:${closedPort}: connection refused (is baton running? is admin.listen this address?)`,
    },
  });

  const silent = await fakeAdmin(() => {}); // never answers
  try {
    const t0 = performance.now();
    const r2 = await new AdminClient({ baseUrl: silent.base, timeoutMs: 200 }).status();
    assert.ok(!r2.ok);
    assert.equal(r2.error.code, 'timeout');
    assert.match(r2.error.message, /did not answer within 0\.2 s$/);
    assert.ok(performance.now() - t0 < 2000);
    const r2post = await new AdminClient({ baseUrl: silent.base, timeoutMs: 200 }).setServerState('read', 'db1', 'drain');
    assert.ok(!r2post.ok);
    assert.match(r2post.error.message, /did not answer within 0\.2 s \(the change may have been made anyway: see baton status\)$/);
  } finally {
    await silent.close();
  }

  // Something else on the port: it speaks first and half-closes; its side is destroyed at the end.
  const sockets = new Set<import('node:net').Socket>();
  const tcp = createTcpServer((s) => (sockets.add(s), s.on('error', () => {}).end('SSH-2.0-OpenSSH\r\n')));
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  try {
    const r3 = await new AdminClient({ baseUrl: new URL(`http://127.0.0.1:${(tcp.address() as AddressInfo).port}`) }).status();
    assert.ok(!r3.ok);
    assert.equal(r3.error.code, 'unreachable');
    assert.match(r3.error.message, /^cannot reach the Baton admin API at http:\/\/127\.0\.0\.1:\d+: what listens there does not speak HTTP /);
    assert.ok(!r3.error.message.includes('\n'));
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }
});
