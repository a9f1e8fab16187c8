import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeastConnBalancer } from '../src/balancers/leastconn.js';

interface TestServer {
  name: string;
  weight: number;
  active: number;
}

function setup(weights: Record<string, number>): { lc: LeastConnBalancer<TestServer>; s: Record<string, TestServer> } {
  const lc = new LeastConnBalancer<TestServer>();
  const s: Record<string, TestServer> = {};
  for (const [name, weight] of Object.entries(weights)) {
    s[name] = { name, weight, active: 0 };
    lc.setState(s[name] as TestServer, true);
  }
  return { lc, s };
}

function open(lc: LeastConnBalancer<TestServer>, server: TestServer, n: number): void {
  for (let i = 0; i < n; i++) lc.onOpen(server);
}

/** Picks n clients that stay connected. */
function connect(lc: LeastConnBalancer<TestServer>, n: number): Record<string, number> {
  const c: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const p = lc.pick('10.0.0.1') as TestServer;
    lc.onOpen(p);
    c[p.name] = (c[p.name] ?? 0) + 1;
  }
  return c;
}

test('picks the lowest active/weight', () => {
  const { lc, s } = setup({ a: 1, b: 2, c: 4 });
  const { a, b, c } = s as { a: TestServer; b: TestServer; c: TestServer };
  // a: 2/1 = 2, b: 3/2 = 1.5, c: 5/4 = 1.25 -> c
  open(lc, a, 2);
  open(lc, b, 3);
  open(lc, c, 5);
  assert.equal(lc.pick('x'), c);
  // c: 7/4 = 1.75 -> now b (1.5) is lowest
  open(lc, c, 2);
  assert.equal(lc.pick('x'), b);
  // a: 1/1 = 1 -> a
  lc.onClose(a);
  assert.equal(lc.pick('x'), a);
});

test('equal ratios (1/3 and 2/6) tie and take turns', () => {
  // Cross-multiplied, 1*6 === 2*3: a tie, so the turn decides.
  const { lc, s } = setup({ a: 3, b: 6 });
  open(lc, s.a as TestServer, 1);
  open(lc, s.b as TestServer, 2);
  const seen = [lc.pick('x'), lc.pick('x'), lc.pick('x'), lc.pick('x')].map((p) => p?.name);
  assert.deepEqual(seen, ['a', 'b', 'a', 'b']);
});

test('counts come from onOpen/onClose, not from server.active', () => {
  const { lc, s } = setup({ a: 1, b: 1 });
  const { a, b } = s as { a: TestServer; b: TestServer };
  a.active = 100; // outside mutation is ignored
  open(lc, b, 1);
  assert.equal(lc.pick('x'), a);
  assert.equal(lc.activeOf(a), 0);
  assert.equal(lc.activeOf(b), 1);
});

test('a double close never drives a count below zero', () => {
  const { lc, s } = setup({ a: 1, b: 1 });
  const { a, b } = s as { a: TestServer; b: TestServer };
  lc.onOpen(a);
  lc.onClose(a);
  lc.onClose(a);
  lc.onClose(a);
  assert.equal(lc.activeOf(a), 0);
  // Had a gone to -2, it would win every pick; with b at 1 it wins only while lowest.
  lc.onOpen(b);
  lc.onOpen(a);
  const names = [lc.pick('x'), lc.pick('x')].map((p) => p?.name);
  assert.deepEqual(names.sort(), ['a', 'b']);
});

test('equal servers share new clients evenly, even when sessions close at once', () => {
  const { lc } = setup({ a: 1, b: 1, c: 1, d: 1 });
  const c: Record<string, number> = {};
  for (let i = 0; i < 400; i++) {
    const p = lc.pick('10.0.0.1') as TestServer;
    lc.onOpen(p);
    lc.onClose(p); // every load stays 0: only the tie-break decides
    c[p.name] = (c[p.name] ?? 0) + 1;
  }
  assert.deepEqual(c, { a: 100, b: 100, c: 100, d: 100 });
});

test('long-lived sessions fill servers in proportion to weight (5:1:1)', () => {
  const { lc } = setup({ a: 5, b: 1, c: 1 });
  assert.deepEqual(connect(lc, 700), { a: 500, b: 100, c: 100 });
});

test('long-lived sessions fill servers in proportion to weight (3:1)', () => {
  const { lc } = setup({ a: 3, b: 1 });
  assert.deepEqual(connect(lc, 400), { a: 300, b: 100 });
});

test('a freshly added empty server takes the new clients until it catches up', () => {
  const { lc } = setup({ a: 1, b: 1 });
  connect(lc, 20); // 10 each
  const c = { name: 'c', weight: 1, active: 0 };
  lc.setState(c, true);
  assert.deepEqual(connect(lc, 10), { c: 10 });
  assert.deepEqual(connect(lc, 3), { a: 1, b: 1, c: 1 });
});

test('weight 0 is never picked, even with no sessions', () => {
  const { lc, s } = setup({ a: 1, z: 0 });
  open(lc, s.a as TestServer, 50);
  for (let i = 0; i < 10; i++) assert.equal(lc.pick('x'), s.a);
  const only = setup({ z: 0 });
  assert.equal(only.lc.pick('x'), undefined);
});

test('exclude takes the lowest of the rest', () => {
  const { lc, s } = setup({ a: 1, b: 1, c: 1 });
  const { a, b, c } = s as { a: TestServer; b: TestServer; c: TestServer };
  open(lc, b, 1);
  open(lc, c, 2);
  assert.equal(lc.pick('x', new Set([a])), b);
  assert.equal(lc.pick('x', new Set([a, b])), c);
  assert.equal(lc.pick('x', new Set([a, b, c])), undefined);
});

test('counts survive ineligibility (drain), and the server returns with its true load', () => {
  const { lc, s } = setup({ a: 1, b: 1 });
  const { a, b } = s as { a: TestServer; b: TestServer };
  open(lc, a, 5);
  lc.setState(a, false);
  lc.onClose(a); // a drained session ends while a is out
  assert.equal(lc.activeOf(a), 4);
  open(lc, b, 2);
  lc.setState(a, true);
  assert.equal(lc.pick('x'), b); // 2 < 4
  lc.onClose(a);
  lc.onClose(a);
  lc.onClose(a);
  assert.equal(lc.pick('x'), a); // 1 < 2
});

test('an ineligible server with no sessions is forgotten; it comes back at zero with its current weight', () => {
  const { lc, s } = setup({ a: 1, b: 1 });
  const { a, b } = s as { a: TestServer; b: TestServer };
  lc.onOpen(a);
  lc.setState(a, false);
  lc.onClose(a);
  assert.equal(lc.activeOf(a), 0);
  a.weight = 4;
  lc.setWeight(a, 4);
  lc.setState(a, true);
  open(lc, b, 1);
  // a: 0/4 vs b: 1/1; then a fills to 4 before b's 1/1 ties.
  assert.deepEqual(connect(lc, 4), { a: 4 });
});
