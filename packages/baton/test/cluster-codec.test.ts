/**
 * The cluster message codec: round trip, and every way a datagram is
 * rejected (each a value with its reason, never a throw), replay included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { DROP_REASONS, MAGIC, MAX_SKEW_MS, ReplayGuard, decodeMessage, encodeMessage, newNonce, type ClusterMessage } from '../src/cluster/codec.js';

const SECRET = 'correct horse battery staple';
const NOW = 1_800_000_000_000;

function message(over: Partial<ClusterMessage> = {}): ClusterMessage {
  return {
    node: 'lb1',
    sentAt: NOW,
    nonce: newNonce(),
    kind: 'state',
    decisions: [{ service: 'write', writer: 'db2', epoch: 3, decidedBy: 'lb1', reason: 'db1 down', priority: 102 }],
    ...over,
  };
}

/** A datagram with a valid MAC over an arbitrary body. */
function signed(body: string, secret = SECRET): Buffer {
  const b = Buffer.from(body, 'utf8');
  const mac = createHmac('sha256', secret).update(MAGIC).update(b).digest();
  return Buffer.concat([MAGIC, mac, b]);
}

test('a message round-trips', () => {
  const m = message({ decisions: [...message().decisions, { service: 'w2', writer: null, epoch: 0, decidedBy: 'lb2', reason: 'no server up', priority: 0 }] });
  const r = decodeMessage(SECRET, encodeMessage(SECRET, m), NOW + 5, new ReplayGuard(), 'lb2');
  assert.deepEqual(r, { ok: true, message: m });
});

test('an answer carries the nonce of the query it answers; a malformed one is bad-shape', () => {
  const query = message({ kind: 'query' });
  const answer = message({ re: query.nonce });
  assert.deepEqual(decodeMessage(SECRET, encodeMessage(SECRET, answer), NOW, new ReplayGuard(), 'lb2'), { ok: true, message: answer });
  const bad = encodeMessage(SECRET, { ...message(), re: 'not a nonce' });
  assert.deepEqual(pick(decodeMessage(SECRET, bad, NOW, new ReplayGuard(), 'lb2')), 'bad-shape');
});

test('a wrong secret, a flipped bit in the body or in the MAC is bad-mac', () => {
  const data = encodeMessage(SECRET, message());
  assert.equal(decodeMessage('other secret', data, NOW, new ReplayGuard(), 'lb2').ok, false);
  assert.deepEqual(pick(decodeMessage('other secret', data, NOW, new ReplayGuard(), 'lb2')), 'bad-mac');
  for (const at of [MAGIC.length + 3, data.length - 5]) {
    const bad = Buffer.from(data);
    bad[at] = bad[at]! ^ 0x01;
    assert.equal(pick(decodeMessage(SECRET, bad, NOW, new ReplayGuard(), 'lb2')), 'bad-mac', `bit flipped at ${at}`);
  }
});

test('malformed datagrams are rejected with their reason, never thrown', () => {
  const guard = new ReplayGuard();
  const cases: Array<[Buffer, string]> = [
    [Buffer.alloc(0), 'too-short'],
    [Buffer.from('BTC1'), 'too-short'],
    [Buffer.alloc(70_000, 1), 'too-large'],
    [Buffer.concat([Buffer.from('XXXX'), Buffer.alloc(40)]), 'bad-magic'],
    [signed('{not json'), 'bad-json'],
    [signed('[1,2]'), 'bad-shape'],
    [signed(JSON.stringify({ node: 'lb1', sent_at: NOW, nonce: 'zz', kind: 'state', decisions: [] })), 'bad-shape'],
    [signed(JSON.stringify({ node: 'lb1', sent_at: NOW, nonce: '0123456789abcdef', kind: 'hello', decisions: [] })), 'bad-shape'],
    [signed(JSON.stringify({ node: 'lb1', sent_at: NOW, nonce: '0123456789abcdef', kind: 'state', decisions: [{ service: 'w' }] })), 'bad-shape'],
    [signed(JSON.stringify({ node: 'lb1', sent_at: NOW, nonce: '0123456789abcdef', kind: 'state', decisions: [{ service: 'w', writer: 'a b', epoch: 1, decided_by: 'x', reason: '', priority: 1 }] })), 'bad-shape'],
    [signed(JSON.stringify({ node: 'lb1', sent_at: NOW, nonce: '0123456789abcdef', kind: 'state', decisions: [{ service: 'w', writer: 'a', epoch: -1, decided_by: 'x', reason: '', priority: 1 }] })), 'bad-shape'],
  ];
  for (const [data, reason] of cases) {
    const r = decodeMessage(SECRET, data, NOW, guard, 'lb2');
    assert.equal(pick(r), reason, data.toString('utf8', 0, 60));
  }
  // Random garbage of many lengths: a value every time.
  let seed = 7;
  for (let i = 0; i < 500; i++) {
    const len = i % 120;
    const buf = Buffer.alloc(len);
    for (let j = 0; j < len; j++) buf[j] = (seed = (seed * 1103515245 + 12345) >>> 0) & 0xff;
    if (i % 3 === 0 && len >= 4) MAGIC.copy(buf);
    const r = decodeMessage(SECRET, buf, NOW, guard, 'lb2');
    assert.equal(r.ok, false);
    assert.ok(DROP_REASONS.includes(pick(r) as never));
  }
});

test('a replayed message is dropped; an old or future one is stale', () => {
  const guard = new ReplayGuard();
  const data = encodeMessage(SECRET, message());
  assert.equal(decodeMessage(SECRET, data, NOW, guard, 'lb2').ok, true);
  assert.equal(pick(decodeMessage(SECRET, data, NOW + 10, guard, 'lb2')), 'replay');
  // Replayed after the window: stale (its timestamp gives it away), not accepted.
  assert.equal(pick(decodeMessage(SECRET, data, NOW + MAX_SKEW_MS + 1, guard, 'lb2')), 'stale');
  const future = encodeMessage(SECRET, message({ sentAt: NOW + MAX_SKEW_MS + 1 }));
  assert.equal(pick(decodeMessage(SECRET, future, NOW, guard, 'lb2')), 'stale');
  // The same nonce from another node is not a replay.
  const nonce = newNonce();
  assert.equal(decodeMessage(SECRET, encodeMessage(SECRET, message({ nonce })), NOW, guard, 'lb3').ok, true);
  assert.equal(decodeMessage(SECRET, encodeMessage(SECRET, message({ nonce, node: 'lb9' })), NOW, guard, 'lb3').ok, true);
});

test('a node drops its own messages', () => {
  assert.equal(pick(decodeMessage(SECRET, encodeMessage(SECRET, message()), NOW, new ReplayGuard(), 'lb1')), 'own');
});

test('the replay memory forgets expired nonces', () => {
  const guard = new ReplayGuard();
  for (let i = 0; i < 100; i++) guard.admit('lb1', newNonce(), NOW + i);
  assert.equal(guard.size, 100);
  guard.admit('lb1', newNonce(), NOW + 3 * MAX_SKEW_MS);
  assert.equal(guard.size, 1);
});

function pick(r: ReturnType<typeof decodeMessage>): string {
  return r.ok ? 'ok' : r.reason;
}
