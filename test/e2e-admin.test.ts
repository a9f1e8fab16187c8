/**
 * The admin API and /metrics of a running daemon with `workers: 2`: bad
 * requests are refused with clear JSON errors and change nothing, a change
 * that a foreign web page could send (not JSON, another Origin, a cross-site
 * fetch, a rebound DNS name) is refused even without a token, counters
 * summed over the workers are exact, promtool accepts the output, and the
 * health and writer series follow a backend's death.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { requireCapability } from '@baton/core';
import { startBaton } from './helpers/baton.js';
import { nameBackend, times, waitFor, sleep, type Backend } from './helpers/backends.js';
import { api, setServerState } from './helpers/admin.js';
import { freePort } from './helpers/ports.js';
import { sample, sum } from './helpers/metrics.js';

const hasPromtool = spawnSync('promtool', ['--version']).status === 0;

/** Connects, reads the backend's name line, sends `bytes` bytes, reads them echoed back, closes. */
function exchange(port: number, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let got = 0;
    let named = false;
    socket.on('data', (d: Buffer) => {
      if (!named) {
        const nl = d.indexOf(10);
        if (nl < 0) return;
        named = true;
        d = d.subarray(nl + 1);
        socket.write(Buffer.alloc(bytes, 0x61));
      }
      got += d.length;
      if (got >= bytes) socket.end();
    });
    socket.on('close', () => (got === bytes ? resolve() : reject(new Error(`echoed ${got} of ${bytes}`))));
    socket.on('error', reject);
  });
}

async function withDaemon(extra: string, env: Record<string, string>, fn: (ctx: { base: string; backends: Backend[]; port: number; writePort: number; token: string }) => Promise<void>) {
  const backends = [await nameBackend('s1'), await nameBackend('s2'), await nameBackend('s3')];
  const [port, writePort] = [await freePort(), await freePort()];
  const baton = await startBaton(
    `node: admin-test
workers: 2
shutdown_timeout: 1s
${extra}
services:
  - name: read
    listen: 127.0.0.1:${port}
    balance: roundrobin
    health: { check: tcp, interval: 200ms, timeout: 200ms, rise: 1, fall: 1, initial: up }
    servers:
${backends.map((b) => `      - { name: ${b.name}, address: 127.0.0.1:${b.port} }`).join('\n')}
  - name: write
    listen: 127.0.0.1:${writePort}
    balance: writer
    health: { check: tcp, interval: 200ms, timeout: 200ms, rise: 1, fall: 1, initial: up }
    servers:
${backends.map((b) => `      - { name: ${b.name}, address: 127.0.0.1:${b.port} }`).join('\n')}
`,
    { env },
  );
  try {
    await fn({ base: baton.adminUrl, backends, port, writePort, token: env.TEST_ADMIN_TOKEN ?? '' });
  } finally {
    await baton.stop();
    await Promise.all(backends.map((b) => b.close()));
  }
}

test('API: changes need the token; bad JSON, state, service or server are refused with JSON errors and change nothing', async () => {
  const token = 'tok-' + Math.random().toString(36).slice(2);
  await withDaemon(`admin: { listen: 127.0.0.1:${await freePort()}, token_env: TEST_ADMIN_TOKEN }`, { TEST_ADMIN_TOKEN: token }, async ({ base }) => {
    const before = await api(base, '/api/status');
    assert.equal(before.status, 200);
    assert.equal(before.json.auth.token_required, true);
    const path = '/api/services/read/servers/s1/state';

    const cases: Array<[string, Awaited<ReturnType<typeof api>>, number, string]> = [
      ['no token', await api(base, path, { body: { state: 'maint' } }), 401, 'unauthorized'],
      ['wrong token', await api(base, path, { body: { state: 'maint' }, token: token + 'x' }), 401, 'unauthorized'],
      ['malformed JSON', await api(base, path, { rawBody: '{"state": mai', token }), 400, 'bad-json'],
      ['not an object', await api(base, path, { rawBody: '["maint"]', token }), 400, 'bad-request'],
      ['unknown state', await api(base, path, { body: { state: 'down' }, token }), 400, 'bad-state'],
      ['missing state', await api(base, path, { body: {}, token }), 400, 'bad-state'],
      ['unknown service', await api(base, '/api/services/nope/servers/s1/state', { body: { state: 'maint' }, token }), 404, 'unknown-service'],
      ['unknown server', await api(base, '/api/services/read/servers/nope/state', { body: { state: 'maint' }, token }), 404, 'unknown-server'],
      ['malformed path', await api(base, '/api/services/%E0%A4%A/servers/s1/state', { body: { state: 'maint' }, token }), 400, 'bad-request'],
      ['GET on a change', await api(base, path, { method: 'GET' }), 405, 'method-not-allowed'],
      ['unknown path', await api(base, '/api/nothing'), 404, 'not-found'],
      ['body too large', await api(base, path, { rawBody: JSON.stringify({ state: 'maint', pad: 'x'.repeat(70_000) }), token }), 413, 'too-large'],
    ];
    for (const [what, res, status, code] of cases) {
      assert.equal(res.status, status, `${what}: ${res.text}`);
      assert.equal(res.json?.error?.code, code, `${what}: ${res.text}`);
      assert.ok(res.json.error.message.length > 10, `${what}: a message a person can read`);
    }
    const after = await api(base, '/api/status');
    const states = (s: typeof before) => s.json.services.map((svc: any) => svc.servers.map((x: any) => `${svc.name}/${x.name}:${x.state}:${x.admin}`)).flat();
    assert.deepEqual(states(after), states(before), 'nothing changed');

    const ok = await setServerState(base, 'read', 's1', 'drain', token);
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.state, 'drain');
    const back = await setServerState(base, 'read', 's1', 'ready', token);
    assert.equal(back.json.state, 'up');
    // The page and the metrics stay open to GET.
    assert.equal((await api(base, '/')).status, 200);
    assert.equal((await api(base, '/metrics')).status, 200);
  });
});

/** A POST with exactly these headers (node's fetch would not let a test choose Host), answered as { status, json }. */
function rawPost(base: string, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; json: any; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(base + path, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let json: any;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, json, text });
      });
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end(body);
  });
}

test('API without a token: a change a foreign web page could send is refused (415/403) and changes nothing; same-origin and non-browser JSON changes work', async () => {
  const adminPort = await freePort();
  await withDaemon(`admin: { listen: 127.0.0.1:${adminPort} }`, {}, async ({ base }) => {
    const before = await api(base, '/api/status');
    assert.equal(before.json.auth.token_required, false);
    const path = '/api/services/read/servers/s1/state';
    const self = `127.0.0.1:${adminPort}`;
    const drain = JSON.stringify({ state: 'drain' });
    const json = { 'content-type': 'application/json' };
    // The body of a text/plain form whose field name is `{"state":"drain","x":"` and value `"}`: valid JSON.
    const formBody = '{"state":"drain","x":"="}\r\n';

    const cases: Array<[string, Record<string, string>, string, number, string]> = [
      ['text/plain body (a form or a no-cors fetch)', { 'content-type': 'text/plain;charset=UTF-8' }, formBody, 415, 'unsupported-media-type'],
      ['urlencoded body', { 'content-type': 'application/x-www-form-urlencoded' }, 'state=drain', 415, 'unsupported-media-type'],
      ['multipart body', { 'content-type': 'multipart/form-data; boundary=x' }, `--x\r\ncontent-disposition: form-data; name="state"\r\n\r\ndrain\r\n--x--\r\n`, 415, 'unsupported-media-type'],
      ['no Content-Type', {}, drain, 415, 'unsupported-media-type'],
      ['a JSON-looking type that is not JSON', { 'content-type': 'application/jsonx' }, drain, 415, 'unsupported-media-type'],
      ['foreign Origin', { ...json, origin: 'http://evil.example' }, drain, 403, 'foreign-origin'],
      ['Origin on another port of the same host', { ...json, origin: 'http://127.0.0.1:1' }, drain, 403, 'foreign-origin'],
      ['opaque Origin (sandboxed frame, file:)', { ...json, origin: 'null' }, drain, 403, 'foreign-origin'],
      ['foreign Origin with a text/plain body', { 'content-type': 'text/plain', origin: 'http://evil.example' }, formBody, 403, 'foreign-origin'],
      ['Sec-Fetch-Site: cross-site', { ...json, 'sec-fetch-site': 'cross-site' }, drain, 403, 'cross-site'],
      ['Sec-Fetch-Site: same-site (another port)', { ...json, 'sec-fetch-site': 'same-site' }, drain, 403, 'cross-site'],
      ['same-origin Origin but Sec-Fetch-Site: cross-site', { ...json, origin: `http://${self}`, 'sec-fetch-site': 'cross-site' }, drain, 403, 'cross-site'],
      // DNS rebinding: the attacker's name now resolves to 127.0.0.1; its page is same-origin to itself.
      ['a rebound DNS name in Host, same-origin to itself', { ...json, host: `rebind.evil.example:${adminPort}`, origin: `http://rebind.evil.example:${adminPort}` }, drain, 403, 'foreign-host'],
    ];
    for (const [what, headers, body, status, code] of cases) {
      const res = await rawPost(base, path, headers, body);
      assert.equal(res.status, status, `${what}: ${res.text}`);
      assert.equal(res.json?.error?.code, code, `${what}: ${res.text}`);
      assert.ok(res.json.error.message.length > 10, `${what}: a message a person can read`);
      const now = await api(base, '/api/status');
      const s1 = now.json.services.find((s: any) => s.name === 'read').servers.find((x: any) => x.name === 's1');
      assert.deepEqual([s1.admin, s1.state], ['ready', 'up'], `${what}: nothing changed`);
    }

    // Allowed: the listener's own origin (the status page), JSON without an Origin (curl, baton server).
    const allowed: Array<[string, Record<string, string>, string]> = [
      ['same-origin (the status page)', { ...json, origin: `http://${self}`, 'sec-fetch-site': 'same-origin' }, 'drain'],
      ['no Origin, JSON (curl, baton server)', json, 'maint'],
      ['JSON with a charset parameter', { 'content-type': 'Application/JSON; charset=utf-8' }, 'ready'],
      ['same-origin on localhost', { ...json, host: `localhost:${adminPort}`, origin: `http://localhost:${adminPort}` }, 'drain'],
      ['same-origin through a TLS proxy that keeps Host', { ...json, host: `127.0.0.1:${adminPort}`, origin: `https://127.0.0.1:${adminPort}` }, 'ready'],
      ['a DNS name in Host without Origin (curl --admin by name)', { ...json, host: `baton1.mgmt.example:${adminPort}` }, 'maint'],
    ];
    for (const [what, headers, state] of allowed) {
      const res = await rawPost(base, path, headers, JSON.stringify({ state }));
      assert.equal(res.status, 200, `${what}: ${res.text}`);
      const now = await api(base, '/api/status');
      const s1 = now.json.services.find((s: any) => s.name === 'read').servers.find((x: any) => x.name === 's1');
      assert.equal(s1.admin, state, what);
    }
  });
});

test('/metrics: counters summed over both workers equal the traffic exactly; promtool accepts the output', async (t) => {
  const ok = requireCapability(t, hasPromtool, 'promtool (Debian package prometheus) is not installed');
  await withDaemon(`admin: { listen: 127.0.0.1:${await freePort()} }`, {}, async ({ base, port }) => {
    const N = 90;
    const K = 5000;
    await times(N, 15, () => exchange(port, K));
    let text = '';
    assert.ok(
      await (async () => {
        for (let i = 0; i < 100; i++) {
          text = (await api(base, '/metrics')).text;
          if (sum(text, 'baton_server_connections', { service: 'read' }) === 0 && sum(text, 'baton_server_connections_total', { service: 'read' }) === N) return true;
          await sleep(50);
        }
        return false;
      })(),
      'every session closed and counted',
    );
    assert.equal(sample(text, 'baton_service_connections_total', { service: 'read' }), N);
    assert.equal(sum(text, 'baton_server_connections_total', { service: 'read' }), N);
    for (const s of ['s1', 's2', 's3']) assert.equal(sample(text, 'baton_server_connections_total', { service: 'read', server: s }), N / 3);
    assert.equal(sum(text, 'baton_server_bytes_total', { service: 'read', direction: 'in' }), N * K);
    // Each backend sent its 3-byte name line, then the echo.
    assert.equal(sum(text, 'baton_server_bytes_total', { service: 'read', direction: 'out' }), N * (K + 3));
    assert.equal(sum(text, 'baton_server_connect_errors_total', { service: 'read' }), 0);
    for (const name of ['baton_server_up', 'baton_server_connections', 'baton_health_check_duration_seconds_bucket', 'baton_service_writer_changes_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds']) {
      assert.match(text, new RegExp(`^${name}[{ ]`, 'm'), `${name} is exported`);
    }
    if (ok) {
      const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(r.status, 0, `promtool check metrics:\n${r.stdout}${r.stderr}`);
    }
  });
});

test('/metrics: baton_server_up and the writer series follow a backend that dies', async () => {
  await withDaemon(`admin: { listen: 127.0.0.1:${await freePort()} }`, {}, async ({ base, backends }) => {
    const metrics = async () => (await api(base, '/metrics')).text;
    let text = await metrics();
    assert.equal(sample(text, 'baton_server_up', { service: 'read', server: 's1' }), 1);
    assert.equal(sample(text, 'baton_service_writer_changes_total', { service: 'write' }) ?? 0, 0);
    await backends[0]!.close();
    assert.ok(
      await waitFor(() => false, 0).then(async () => {
        for (let i = 0; i < 60; i++) {
          text = await metrics();
          if (sample(text, 'baton_server_up', { service: 'read', server: 's1' }) === 0 && sample(text, 'baton_service_writer_changes_total', { service: 'write' }) === 1) return true;
          await sleep(50);
        }
        return false;
      }),
      `s1 down and the writer moved:\n${text.split('\n').filter((l) => /baton_server_up|writer_changes/.test(l)).join('\n')}`,
    );
    assert.equal(sample(text, 'baton_server_up', { service: 'read', server: 's2' }), 1);
    assert.equal(sample(text, 'baton_server_state', { service: 'write', server: 's1', state: 'down' }), 1);
    assert.ok((sample(text, 'baton_health_check_duration_seconds_count', { service: 'read', server: 's1' }) ?? 0) > 0);
    const status = await api(base, '/api/status');
    const write = status.json.services.find((s: any) => s.name === 'write');
    assert.equal(write.writer, 's2');
    const s1 = write.servers.find((s: any) => s.name === 's1');
    assert.equal(s1.check.ok, false);
    assert.match(s1.check.error, /^l4-/);
  });
});
