/**
 * The health subsystem's bound on the first galera-index pick: when no server
 * reaches a verdict, the wait ends after (rise + 1) × interval + timeout and
 * says so in one warning. Real sockets on 127.0.0.1: the servers accept and
 * never answer, so every galera check times out while the servers, started
 * `initial: up` with a large `fall`, stay up without an index (no verdict).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createLineLogger } from '@baton/core';
import { loadConfigText, formatConfigIssue } from '../src/config/index.js';
import { ControlPlane } from '../src/control-plane.js';
import { HealthSubsystem } from '../src/health/index.js';

test('galera-index without failback: no verdict within (rise + 1) × interval + timeout ends the wait, with one warning naming the servers', async () => {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => void sockets.add(s)); // accepts, never speaks
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as net.AddressInfo).port;
  const text = `
services:
  - name: w
    listen: 127.0.0.1:1
    balance: writer
    writer: { pick: galera-index, failback: false }
    health: { check: galera, interval: 100ms, timeout: 50ms, rise: 2, fall: 50, initial: up, user: u }
    servers:
      - { name: a, address: 127.0.0.1:${port} }
      - { name: b, address: 127.0.0.1:${port} }
`;
  const loaded = loadConfigText(text, 't.yaml', {});
  if (!loaded.ok) assert.fail(loaded.errors.map(formatConfigIssue).join('\n'));
  const lines: Array<{ at: number; line: string }> = [];
  const t0 = performance.now();
  const logger = createLineLogger({ write: (line) => lines.push({ at: performance.now() - t0, line }) });
  const writers: Array<string | null> = [];
  const control = new ControlPlane({ setServerState: () => {}, setWriter: (_s, w) => writers.push(w) });
  control.setConfig(loaded.config);
  const health = new HealthSubsystem({ logger, control });
  await health.start(loaded.config);
  try {
    assert.deepEqual(control.awaitingVerdicts('w'), ['a', 'b']);
    const boundMs = 3 * 100 + 50;
    const until = performance.now() + 3000;
    while (control.awaitingVerdicts('w') && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
    assert.equal(control.awaitingVerdicts('w'), undefined, 'the wait ended');
    const warnings = lines.filter((l) => /writer picked without every verdict/.test(l.line));
    assert.equal(warnings.length, 1, lines.map((l) => l.line).join('\n'));
    assert.match(warnings[0]!.line, /service=w .*waited_ms=350 no_verdict=a,b writer=none/);
    assert.ok(warnings[0]!.at >= boundMs - 5 && warnings[0]!.at < boundMs + 1000, `ended after ${warnings[0]!.at.toFixed(0)} ms, bound ${boundMs} ms`);
    assert.deepEqual(writers, [], 'up without an index: nobody to pick');
    assert.equal(control.status('w', 'a')?.state, 'up');
  } finally {
    await health.stop();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  }
});

test('galera-index without failback: a server whose checks fail is a verdict (down), so the wait ends before its bound, without a warning', async () => {
  // A port nothing listens on: every check is refused at once.
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const text = `
services:
  - name: w
    listen: 127.0.0.1:1
    balance: writer
    writer: { pick: galera-index, failback: false }
    health: { check: galera, interval: 300ms, timeout: 200ms, rise: 2, fall: 2, user: u }
    servers:
      - { name: a, address: 127.0.0.1:${port} }
      - { name: b, address: 127.0.0.1:${port} }
`;
  const loaded = loadConfigText(text, 't.yaml', {});
  if (!loaded.ok) assert.fail(loaded.errors.map(formatConfigIssue).join('\n'));
  const lines: string[] = [];
  const control = new ControlPlane({ setServerState: () => {}, setWriter: () => {} });
  control.setConfig(loaded.config);
  const health = new HealthSubsystem({ logger: createLineLogger({ write: (line) => lines.push(line) }), control });
  const t0 = performance.now();
  await health.start(loaded.config);
  try {
    const boundMs = 3 * 300 + 200;
    while (control.awaitingVerdicts('w') && performance.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 5));
    const endedMs = performance.now() - t0;
    assert.equal(control.awaitingVerdicts('w'), undefined);
    // Server b's first check starts half an interval in; refused at once.
    assert.ok(endedMs < boundMs - 300, `ended after ${endedMs.toFixed(0)} ms, bound ${boundMs} ms`);
    assert.match(control.status('w', 'b')?.healthReason ?? '', /^l4-refused/);
    await new Promise((r) => setTimeout(r, boundMs - endedMs + 100));
    assert.deepEqual(lines.filter((l) => /without every verdict/.test(l)), []);
  } finally {
    await health.stop();
  }
});
