/**
 * PROXY protocol through the real `baton start` (native engine) against a
 * real MariaDB with proxy_protocol_networks covering Baton's address:
 * a client connecting from 127.0.0.2 appears with that address in
 * information_schema.processlist, a grant limited to 127.0.0.2 admits it
 * (v1 and v2, service-level and server-level send_proxy), while the same
 * client through a service without send_proxy is refused (the server then
 * sees 127.0.0.1); the mysql health checks to those servers stay up (they
 * send PROXY UNKNOWN / v2 LOCAL, the header meant for checks).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createConnection } from 'mysql2/promise';
import { requireCapability } from '@baton/core';
import { startBaton } from './helpers/baton.js';
import { mariadbCapability, startMariaDb, type MariaDb } from './helpers/mariadb.js';
import { freePorts } from './helpers/ports.js';
import { api } from './helpers/admin.js';

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

const HCHECK = { user: 'hcheck', password: 'hcheck-pw' };
const PROXIED = { user: 'proxied', password: 'proxied-pw' };

/** Logs in from 127.0.0.2 through `port`; resolves with what the server thinks of the session. */
async function loginFrom2(port: number): Promise<{ host: string; user: string }> {
  // mysql2 has no source-address option: give it a socket bound to 127.0.0.2.
  const stream = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
  const conn = await createConnection({ stream, ...PROXIED, connectTimeout: 3000 });
  try {
    const [rows] = await conn.query('SELECT HOST AS host, CURRENT_USER() AS user FROM information_schema.processlist WHERE ID = CONNECTION_ID()');
    const row = (rows as Array<{ host: string; user: string }>)[0]!;
    return { host: row.host, user: row.user };
  } finally {
    await conn.end().catch(() => undefined);
  }
}

async function eventually<T>(fn: () => Promise<T>, ms: number): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

test('PROXY protocol v1 and v2: MariaDB sees the client at 127.0.0.2 and grants by it; health checks stay up', async (t) => {
  const cap = mariadbCapability();
  if (!requireCapability(t, cap.ok, cap.reason)) return;
  const db: MariaDb = await startMariaDb({ users: [HCHECK], extraArgs: ['--proxy-protocol-networks=127.0.0.1/32'] });
  cleanup.push(() => db.stop());
  await db.admin.query(`CREATE USER '${PROXIED.user}'@'127.0.0.2' IDENTIFIED BY '${PROXIED.password}'`);
  await db.admin.query(`GRANT USAGE ON *.* TO '${PROXIED.user}'@'127.0.0.2'`);

  const [p1, p2, p3] = await freePorts(3);
  const health = `health: { check: mysql, user: ${HCHECK.user}, password_env: HC_PW, interval: 200ms, timeout: 1s, rise: 1, fall: 1 }`;
  const baton = await startBaton(
    `
node: e2e
workers: 1
engine: native
shutdown_timeout: 1s
services:
  - name: v1
    listen: 127.0.0.1:${p1}
    send_proxy: v1
    ${health}
    servers:
      - { name: db, address: 127.0.0.1:${db.port} }
  - name: v2
    listen: 127.0.0.1:${p2}
    ${health}
    servers:
      - { name: db, address: 127.0.0.1:${db.port}, send_proxy: v2 }
  - name: plain
    listen: 127.0.0.1:${p3}
    servers:
      - { name: db, address: 127.0.0.1:${db.port} }
`,
    { env: { HC_PW: HCHECK.password } },
  );
  cleanup.push(() => baton.stop());

  // The servers start down; a login through v1/v2 works only once their checks passed.
  for (const port of [p1!, p2!]) {
    const seen = await eventually(() => loginFrom2(port), 10_000);
    assert.match(seen.host, /^127\.0\.0\.2:\d+$/, `processlist host through port ${port}`);
    assert.equal(seen.user, `${PROXIED.user}@127.0.0.2`);
  }
  // Checks keep passing: several intervals later both servers are still up,
  // and no check counted as an aborted connect on the server.
  const abortedConnects = async () => Number((await db.admin.query("SHOW GLOBAL STATUS LIKE 'Aborted_connects'"))[0]!.Value);
  const abortedBefore = await abortedConnects();
  await new Promise((r) => setTimeout(r, 1000));
  const status = await api(baton.adminUrl, '/api/status');
  const services = status.json.services as Array<{ name: string; servers: Array<{ name: string; state: string; health: string }> }>;
  for (const name of ['v1', 'v2']) {
    const s = services.find((x) => x.name === name)!.servers[0]!;
    assert.equal(s.health, 'up', `${name}: ${JSON.stringify(s)}`);
    assert.equal(s.state, 'up');
  }
  assert.equal(await abortedConnects(), abortedBefore, 'checks with PROXY headers are clean logins');

  // Without a header the server sees Baton's own address, which has no grant.
  await assert.rejects(loginFrom2(p3!), /Access denied|not allowed to connect/i);
});
