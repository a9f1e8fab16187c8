/**
 * The raw-socket transport on the loopback interface (real socket, traffic
 * to 127.0.0.0/8 only): a send reports success only once the kernel took
 * it, and sends that never reached a socket report failure exactly once.
 * The reopen schedule after a socket error is checked as a pure function;
 * the router's reaction to a transport going down is in router.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isRoot, requireCapability } from '@baton/core';
import { encodeAdvert, openRawTransport, reopenDelayMs, REOPEN_MAX_MS, REOPEN_MIN_MS } from '../src/index.js';

const payload = encodeAdvert({ version: 3, vrid: 51, priority: 100, maxAdvertIntervalCs: 100, addresses: ['127.0.0.100'] }, { srcAddr: '127.0.0.1', dstAddr: '127.0.0.2' });

test('reopen backoff: 100 ms doubling to 5 s, then 5 s', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 100].map(reopenDelayMs), [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  assert.equal(REOPEN_MIN_MS, 100);
  assert.equal(REOPEN_MAX_MS, 5000);
  assert.equal(reopenDelayMs(-1), 100);
});

test('a real send reports done(true) once; after close every send reports done(false) at once', { timeout: 10_000 }, async (t) => {
  if (!requireCapability(t, isRoot(), 'a raw socket needs root (CAP_NET_RAW)')) return;
  const transport = await openRawTransport({ interface: 'lo', primaryAddr: '127.0.0.1', unicastPeers: ['127.0.0.2'] });
  try {
    assert.equal(transport.up, true);
    const answers: boolean[] = [];
    await new Promise<void>((resolve) => transport.send(payload, '127.0.0.2', (sent) => (answers.push(sent), resolve())));
    assert.deepEqual(answers, [true]);
    assert.equal(transport.stats.sent, 1);
    // queued, then the socket goes away before it could send: answered false, once
    const late: boolean[] = [];
    transport.send(payload, '127.0.0.2', (sent) => late.push(sent));
    transport.close();
    assert.deepEqual(late, [false]);
    transport.send(payload, '127.0.0.2', (sent) => late.push(sent));
    assert.deepEqual(late, [false, false]);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(late, [false, false], 'no second answer');
    assert.equal(transport.stats.sent, 1);
    assert.equal(transport.stats.sendErrors, 2);
  } finally {
    transport.close();
  }
});
