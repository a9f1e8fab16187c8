/**
 * The status page in a real browser (Debian's chromium, driven by
 * playwright-core) against a real `baton start`: it renders the service and
 * its servers, follows a backend that dies, drains a server with its button
 * (and the JSON API agrees), keeps the last data under a "daemon unreachable"
 * banner when the daemon goes away, with an admin token refuses a change
 * until the token is typed in, and without a token refuses the changes that
 * another web page open in the same browser sends to the admin API (forms
 * and no-cors fetches from a foreign origin, a same-origin fetch after DNS
 * rebinding, a frame around the page) while its own buttons still work. Leaves a screenshot in test/artifacts/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { requireCapability } from '@baton/core';
import { repoRoot, startBaton, type BatonProcess } from './helpers/baton.js';
import { fetchName, nameBackend, times, type Backend } from './helpers/backends.js';
import { freePorts } from './helpers/ports.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(repoRoot, 'test/artifacts');
const TOKEN_ENV = 'BATON_E2E_ADMIN_TOKEN';

interface ServerStatus {
  name: string;
  state: string;
  admin: string;
  total: number;
}
interface Status {
  auth: { token_required: boolean };
  services: Array<{ name: string; servers: ServerStatus[] }>;
}

function config(node: string, listenPort: number, adminPort: number, backends: Backend[], tokenEnv?: string): string {
  return `
node: ${JSON.stringify(node)}
admin: { listen: 127.0.0.1:${adminPort}${tokenEnv ? `, token_env: ${tokenEnv}` : ''} }
workers: 1
shutdown_timeout: 1s
services:
  - name: read
    listen: 127.0.0.1:${listenPort}
    balance: roundrobin
    connect_timeout: 1s
    health: { check: tcp, interval: 200ms, timeout: 200ms, rise: 1, fall: 1 }
    servers:
${backends.map((b) => `      - { name: ${b.name}, address: 127.0.0.1:${b.port}${b.name === 'db1' ? ', max_connections: 40' : ''} }`).join('\n')}
`;
}

async function launchBrowser(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...extraArgs],
  });
}

async function status(adminPort: number): Promise<Status> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/api/status`);
  assert.equal(res.status, 200);
  return (await res.json()) as Status;
}

async function server(adminPort: number, name: string): Promise<ServerStatus> {
  const found = (await status(adminPort)).services.find((s) => s.name === 'read')?.servers.find((s) => s.name === name);
  assert.ok(found, `server read/${name} in /api/status`);
  return found;
}

const row = (page: Page, name: string, state?: string) =>
  page.locator(`tr[data-service="read"][data-server="${name}"]${state ? `[data-state="${state}"]` : ''}`);

/** Polls `cond` every 100 ms until it holds; fails with `what` after `ms`. */
async function eventually(what: string, cond: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs `body` with everything it starts stopped afterwards, in reverse order, even when it fails. */
async function withCleanup(body: (defer: (fn: () => Promise<unknown>) => void) => Promise<void>): Promise<void> {
  const stack: Array<() => Promise<unknown>> = [];
  try {
    await body((fn) => stack.push(fn));
  } finally {
    for (const fn of stack.reverse()) await fn().catch((err: unknown) => console.error('cleanup:', err));
  }
}

test('the status page lists the service, follows a dead backend, drains with a button, survives the daemon going away', async (t) => {
  if (!requireCapability(t, existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install chromium)`)) return;
  await withCleanup(async (defer) => {
    const backends = await Promise.all(['db1', 'db2', 'db3'].map((n) => nameBackend(n)));
    defer(() => Promise.all(backends.map((b) => b.close())));
    const [listenPort, adminPort] = await freePorts(2);
    // A node name full of markup: the page must show it as text.
    const node = 'e2e <b>&amp;</b>';
    const baton: BatonProcess = await startBaton(config(node, listenPort!, adminPort!, backends));
    defer(() => baton.stop());
    const browser = await launchBrowser();
    defer(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));

    // (a) The page renders the service and its servers, all up.
    await page.goto(`http://127.0.0.1:${adminPort}/`);
    await page.locator('body[data-loaded="1"]').waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('#node').textContent(), node);
    assert.equal(await page.locator('#node *').count(), 0, 'the node name is text, not markup');
    assert.equal(await page.locator('section[data-service="read"]').count(), 1);
    for (const b of backends) await row(page, b.name, 'up').waitFor({ timeout: 5000 });
    assert.equal(await page.locator('tr[data-service="read"]').count(), 3);
    assert.match((await row(page, 'db1').textContent()) ?? '', /127\.0\.0\.1:\d+/);
    assert.equal(await page.locator('#token').isVisible(), false, 'no token input without token_env');
    // A server limit shows against the open sessions, and the service shows its queue.
    assert.equal((await row(page, 'db1').locator('td[data-col="active"]').textContent())?.trim(), '0 / 40');
    assert.equal((await row(page, 'db2').locator('td[data-col="active"]').textContent())?.trim(), '0');
    assert.match((await page.locator('section[data-service="read"] [data-why="queue"]').textContent()) ?? '', /queued 0 \(0 timed out\)/);

    // Traffic shows up in the counters: 30 connections over three servers.
    await times(30, 5, () => fetchName(listenPort!));
    const shownTotal = async (name: string) => Number(((await row(page, name).locator('td[data-col="total"]').textContent()) ?? '').replace(/,/g, ''));
    await eventually('the page counts 30 connections', async () => {
      let sum = 0;
      for (const b of backends) sum += await shownTotal(b.name);
      return sum >= 30;
    });

    // (b) A backend that dies is shown down within a few health intervals.
    await backends[0]!.close();
    await row(page, 'db1', 'down').waitFor({ timeout: 5000 });
    assert.equal((await server(adminPort!, 'db1')).state, 'down');

    // (c) Drain with the button: the row and the API agree.
    await row(page, 'db2').locator('button[data-action="drain"]').click();
    await row(page, 'db2', 'drain').waitFor({ timeout: 5000 });
    const drained = await server(adminPort!, 'db2');
    assert.equal(drained.state, 'drain');
    assert.equal(drained.admin, 'drain');
    assert.equal(await row(page, 'db3', 'up').count(), 1, 'the others are untouched');
    assert.equal(await page.locator('#message').getAttribute('data-kind'), 'ok');

    // (d) The artifact: up, down and drain side by side.
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'status-page.png'), fullPage: true });

    // The daemon goes away: the banner says so and the last data stays.
    assert.equal(await baton.stop(), 0);
    await page.locator('#banner').waitFor({ state: 'visible', timeout: 6000 });
    assert.match((await page.locator('#banner').textContent()) ?? '', /daemon unreachable/i);
    assert.equal(await page.locator('body').getAttribute('data-reachable'), '0');
    assert.equal(await page.locator('tr[data-service="read"]').count(), 3, 'the last data stays on screen');
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-unreachable.png') });
    assert.deepEqual(pageErrors, []);
  });
});

test('with an admin token, a change without it shows the 401 and changes nothing; with it typed in, it works', async (t) => {
  if (!requireCapability(t, existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install chromium)`)) return;
  await withCleanup(async (defer) => {
    const backends = await Promise.all(['db1', 'db2'].map((n) => nameBackend(n)));
    defer(() => Promise.all(backends.map((b) => b.close())));
    const [listenPort, adminPort] = await freePorts(2);
    const token = `tok-${process.pid}-${Date.now().toString(36)}`;
    const baton = await startBaton(config('e2e-token', listenPort!, adminPort!, backends, TOKEN_ENV), { env: { [TOKEN_ENV]: token } });
    defer(() => baton.stop());
    const browser = await launchBrowser();
    defer(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });

    await page.goto(`http://127.0.0.1:${adminPort}/`);
    await page.locator('body[data-loaded="1"]').waitFor({ timeout: 10_000 });
    assert.equal((await status(adminPort!)).auth.token_required, true);
    await page.locator('#token').waitFor({ state: 'visible', timeout: 5000 });
    await row(page, 'db1', 'up').waitFor({ timeout: 5000 });

    // No token: the API's 401 is shown, nothing changes.
    await row(page, 'db1').locator('button[data-action="drain"]').click();
    await page.locator('#message[data-kind="error"]').waitFor({ state: 'visible', timeout: 5000 });
    assert.match((await page.locator('#message').textContent()) ?? '', /401/);
    assert.equal((await server(adminPort!, 'db1')).admin, 'ready');
    assert.equal(await row(page, 'db1', 'up').count(), 1);

    // A wrong token is refused the same way.
    await page.locator('#message-close').click();
    await page.locator('#message').waitFor({ state: 'hidden' });
    await page.locator('#token').fill(`${token}-wrong`);
    await row(page, 'db1').locator('button[data-action="maint"]').click();
    await page.locator('#message[data-kind="error"]').waitFor({ state: 'visible', timeout: 5000 });
    assert.equal((await server(adminPort!, 'db1')).admin, 'ready');

    // The right token: the change goes through.
    await page.locator('#token').fill(token);
    await row(page, 'db1').locator('button[data-action="drain"]').click();
    await row(page, 'db1', 'drain').waitFor({ timeout: 5000 });
    assert.equal((await server(adminPort!, 'db1')).admin, 'drain');
    assert.equal(await page.locator('#message').getAttribute('data-kind'), 'ok');

    // The token is kept for the session (sessionStorage), so a reload keeps it.
    await page.reload();
    await page.locator('body[data-loaded="1"]').waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('#token').inputValue(), token);
    await row(page, 'db1').locator('button[data-action="ready"]').click();
    await row(page, 'db1', 'up').waitFor({ timeout: 5000 });
    assert.equal((await server(adminPort!, 'db1')).admin, 'ready');
  });
});

/**
 * The attacker: a page on another origin that, once loaded, fires every
 * request a web page can send to another origin without the target's consent
 * (a CORS preflight), each at its own server, then sets body[data-done].
 * The target admin URL comes in the query string.
 */
const ATTACK_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>attacker</title></head><body>
<iframe name="f1"></iframe><iframe name="f2"></iframe><iframe name="f3"></iframe><iframe name="framed"></iframe>
<script>
const target = new URLSearchParams(location.search).get('target');
// The status page itself in a frame, to lay a decoy over its buttons (clickjacking).
const framed = new Promise((resolve) => {
  const el = document.querySelector('iframe[name="framed"]');
  el.addEventListener('load', () => resolve('loaded'), { once: true });
  setTimeout(() => resolve('timeout'), 4000);
  el.src = target + '/';
});
const url = (server) => target + '/api/services/read/servers/' + server + '/state';
const results = {};
function form(server, enctype, frame, name, value) {
  return new Promise((resolve) => {
    const f = document.createElement('form');
    f.method = 'POST'; f.action = url(server); f.enctype = enctype; f.target = frame;
    const i = document.createElement('input');
    i.type = 'hidden'; i.name = name; i.value = value;
    f.appendChild(i); document.body.appendChild(f);
    const el = document.querySelector('iframe[name="' + frame + '"]');
    el.addEventListener('load', () => resolve('loaded'), { once: true });
    setTimeout(() => resolve('timeout'), 4000);
    f.submit();
  });
}
const attempts = {
  framed,
  // text/plain form: the body is {"state":"drain","x":"="}, valid JSON.
  textForm: form('db1', 'text/plain', 'f1', '{"state":"drain","x":"', '"}'),
  urlencodedForm: form('db3', 'application/x-www-form-urlencoded', 'f2', 'state', 'maint'),
  multipartForm: form('db3', 'multipart/form-data', 'f3', 'state', 'drain'),
  // A no-cors fetch: the response is opaque, but the request is sent as text/plain.
  noCorsText: fetch(url('db2'), { method: 'POST', mode: 'no-cors', body: JSON.stringify({ state: 'maint' }) }).then((r) => r.type, (e) => 'error ' + e),
  noCorsJson: fetch(url('db2'), { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ state: 'drain' }) }).then((r) => r.type, (e) => 'error ' + e),
  // A CORS fetch with JSON needs a preflight that the admin API never grants.
  corsJson: fetch(url('db3'), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ state: 'maint' }) }).then((r) => 'status ' + r.status, (e) => 'blocked'),
};
Promise.all(Object.entries(attempts).map(([k, p]) => p.then((v) => { results[k] = v; }))).then(() => {
  document.body.dataset.results = JSON.stringify(results);
  document.body.dataset.done = '1';
});
</script></body></html>`;

/** Serves ATTACK_PAGE at / on `host`, port 0; resolves with its origin and a close. */
function attackerSite(host: string): Promise<{ origin: string; close: () => Promise<void> }> {
  const srv = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(ATTACK_PAGE);
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen({ host, port: 0 }, () => {
      const { port } = srv.address() as AddressInfo;
      resolve({
        origin: `http://${host}:${port}`,
        close: () =>
          new Promise<void>((r) => {
            srv.close(() => r());
            srv.closeAllConnections();
          }),
      });
    });
  });
}

test('without a token, another web page in the same browser cannot change a server (forms, no-cors fetches, DNS rebinding, framing); the page\'s own buttons still can', async (t) => {
  if (!requireCapability(t, existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install chromium)`)) return;
  await withCleanup(async (defer) => {
    const backends = await Promise.all(['db1', 'db2', 'db3'].map((n) => nameBackend(n)));
    defer(() => Promise.all(backends.map((b) => b.close())));
    const [listenPort, adminPort] = await freePorts(2);
    const baton = await startBaton(config('e2e-csrf', listenPort!, adminPort!, backends));
    defer(() => baton.stop());
    assert.equal((await status(adminPort!)).auth.token_required, false, 'the default: no token');
    // A cross-site attacker (another loopback address) and a same-site one (another port on the same address).
    const sites = [await attackerSite('127.0.0.2'), await attackerSite('127.0.0.1')];
    for (const site of sites) defer(site.close);
    // rebind.test resolves to the admin listener, as an attacker's name does once its DNS answer is re-pointed (DNS rebinding).
    const browser = await launchBrowser(['--host-resolver-rules=MAP rebind.test 127.0.0.1']);
    defer(() => browser.close());
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });

    // The operator has the status page open...
    const admin = await context.newPage();
    const target = `http://127.0.0.1:${adminPort}`;
    await admin.goto(`${target}/`);
    await admin.locator('body[data-loaded="1"]').waitFor({ timeout: 10_000 });
    for (const b of backends) await row(admin, b.name, 'up').waitFor({ timeout: 5000 });

    // ...and opens the attacker's pages in other tabs.
    const admins = () => status(adminPort!).then((s) => s.services.find((x) => x.name === 'read')!.servers.map((x) => `${x.name}:${x.admin}`));
    for (const site of sites) {
      const evil = await context.newPage();
      await evil.goto(`${site.origin}/?target=${encodeURIComponent(target)}`);
      await evil.locator('body[data-done="1"]').waitFor({ timeout: 15_000 });
      const results = JSON.parse((await evil.locator('body').getAttribute('data-results')) ?? '{}') as Record<string, string>;
      assert.equal(results.corsJson, 'blocked', `${site.origin}: the CORS preflight is not granted`);
      // Framing is refused: the frame holds Chromium's error page, not the status page with its buttons.
      const frame = evil.frame({ name: 'framed' });
      assert.ok(frame, 'the attacker page has its frame');
      assert.doesNotMatch(frame.url(), /^http:\/\/127\.0\.0\.1:/, `${site.origin}: the status page is not shown in a foreign frame (${frame.url()})`);
      assert.deepEqual(await admins(), ['db1:ready', 'db2:ready', 'db3:ready'], `${site.origin}: no server changed; the attacker saw ${JSON.stringify(results)}`);
      // The daemon saw the attacks (Chromium did not drop them) and refused each: the three forms and the two no-cors fetches.
      const origin = site.origin.replace(/[.]/g, '\\.');
      const refused = () => baton.logs.filter((l) => /admin change refused/.test(l) && new RegExp(origin).test(l));
      for (let i = 0; i < 50 && refused().length < 5; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(refused().length, 5, `${site.origin}: five refusals logged:\n${baton.logs.slice(-12).join('\n')}`);
      await evil.close();
    }

    // After the rebinding the attacker's script runs in http://rebind.test:PORT, same-origin to the admin API: refused for its Host.
    const rebound = await context.newPage();
    await rebound.goto(`http://rebind.test:${adminPort}/`);
    const answer = await rebound.evaluate(async () => {
      const res = await fetch('api/services/read/servers/db1/state', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ state: 'maint' }) });
      return { status: res.status, body: await res.text() };
    });
    assert.equal(answer.status, 403, answer.body);
    assert.equal((JSON.parse(answer.body) as { error: { code: string } }).error.code, 'foreign-host');
    assert.deepEqual(await admins(), ['db1:ready', 'db2:ready', 'db3:ready'], 'the rebound page changed nothing');
    await rebound.close();

    // The status page's own buttons still work, in the same browser.
    await row(admin, 'db2').locator('button[data-action="drain"]').click();
    await row(admin, 'db2', 'drain').waitFor({ timeout: 5000 });
    assert.equal(await admin.locator('#message').getAttribute('data-kind'), 'ok');
    await row(admin, 'db2').locator('button[data-action="maint"]').click();
    await row(admin, 'db2', 'maint').waitFor({ timeout: 5000 });
    await row(admin, 'db2').locator('button[data-action="ready"]').click();
    await row(admin, 'db2', 'up').waitFor({ timeout: 5000 });
    assert.deepEqual(await admins(), ['db1:ready', 'db2:ready', 'db3:ready']);
  });
});
