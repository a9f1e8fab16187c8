/**
 * The admin API and /metrics of a running daemon with `workers: 2`: bad
 * requests are refused with clear JSON errors and change nothing, counters
 * summed over the workers are exact, promtool accepts the output, and the
 * health and writer series follow a backend's death.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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
