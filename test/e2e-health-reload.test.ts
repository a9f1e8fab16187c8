/**
 * Health state across SIGHUP of the real daemon: a reload that removes a
 * service's `health:` section puts its servers up (a service without checks
 * has its servers always up), and a reload that moves a server to another
 * address starts it from `health.initial`, so it loses the writer before it
 * was ever checked at the new address.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBaton } from './helpers/baton.js';
import { fetchName, nameBackend, tally, times } from './helpers/backends.js';
import { freePorts } from './helpers/ports.js';

const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

const nameOrError = (port: number) => fetchName(port).catch(() => 'error');

test('SIGHUP without the health section: the server its checks held down takes clients again', { timeout: 30_000 }, async () => {
  const s1 = await nameBackend('s1');
  cleanup.push(() => s1.close());
  // Nothing listens on `closed`: the checks find it refused and hold s1 down.
  const [admin, listen, closed] = await freePorts(3);
  const yaml = (health: string) => `
admin: { listen: 127.0.0.1:${admin} }
workers: 1
services:
  - name: a
    listen: 127.0.0.1:${listen}
${health}    servers:
      - { name: s1, address: 127.0.0.1:${s1.port} }
`;
  const baton = await startBaton(yaml(`    health: { check: tcp, port: ${closed}, interval: 200ms, timeout: 100ms, rise: 1, fall: 1 }\n`));
  cleanup.push(() => baton.stop());
  // Refused by the checks: the first check leaves it down (the rise count at 0).
  await baton.waitForLog(/health checks started .*service=a/, 5000);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await nameOrError(listen!), 'error', 'down while its checks fail');

  const mark = baton.logs.length;
  baton.writeConfig(yaml(''));
  baton.signal('SIGHUP');
  await baton.waitForLog(/config reloaded/, 5000, mark);
  assert.deepEqual(tally(await times(5, 1, () => nameOrError(listen!))), { s1: 5 });
  assert.ok(
    baton.logs.slice(mark).some((l) => /server state .*server=s1 from=down to=up reason="?health checks removed/.test(l)),
    baton.logs.slice(mark).join('\n'),
  );
});

test('SIGHUP moving the writer to another address: it starts from health.initial (down), the writer moves off it at once', { timeout: 30_000 }, async () => {
  const a = await nameBackend('a');
  const b = await nameBackend('b');
  const c = await nameBackend('c');
  cleanup.push(() => a.close(), () => b.close(), () => c.close());
  const [admin, listen] = await freePorts(2);
  const yaml = (s1Port: number) => `
admin: { listen: 127.0.0.1:${admin} }
workers: 1
services:
  - name: w
    listen: 127.0.0.1:${listen}
    balance: writer
    writer: { pick: first, failback: false }
    health: { check: tcp, interval: 300ms, timeout: 200ms, rise: 2, fall: 2, initial: down }
    servers:
      - { name: s1, address: 127.0.0.1:${s1Port} }
      - { name: s2, address: 127.0.0.1:${b.port} }
`;
  const baton = await startBaton(yaml(a.port));
  cleanup.push(() => baton.stop());
  await baton.waitForLog(/server up .*service=w server=s1/, 5000);
  await baton.waitForLog(/server up .*service=w server=s2/, 5000);
  assert.equal(await fetchName(listen!), 'a', 's1 is the writer');

  const mark = baton.logs.length;
  baton.writeConfig(yaml(c.port));
  baton.signal('SIGHUP');
  await baton.waitForLog(/config reloaded/, 5000, mark);
  // Never the unchecked new address.
  assert.deepEqual(tally(await times(5, 1, () => nameOrError(listen!))), { b: 5 });
  const since = baton.logs.slice(mark);
  assert.ok(since.some((l) => /server state .*server=s1 from=up to=down reason="?address changed/.test(l)), since.join('\n'));
  assert.ok(since.some((l) => /writer changed .*from=s1 to=s2/.test(l)), since.join('\n'));
  // Once s1 is up at its new address, failback: false keeps s2.
  await baton.waitForLog(/server up .*service=w server=s1/, 5000, mark);
  assert.deepEqual(tally(await times(5, 1, () => nameOrError(listen!))), { b: 5 });
});
