import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RoundRobinBalancer } from '../src/balancers/roundrobin.js';

interface TestServer {
  name: string;
  weight: number;
  active: number;
}

function setup(weights: Record<string, number>): { rr: RoundRobinBalancer<TestServer>; servers: Record<string, TestServer> } {
  const rr = new RoundRobinBalancer<TestServer>();
  const servers: Record<string, TestServer> = {};
  for (const [name, weight] of Object.entries(weights)) {
    const s = { name, weight, active: 0 };
    servers[name] = s;
    rr.setState(s, true);
  }
  return { rr, servers };
}

function picks(rr: RoundRobinBalancer<TestServer>, n: number, exclude?: ReadonlySet<TestServer>): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(rr.pick('10.0.0.1', exclude)?.name ?? '-');
  return out;
}

function count(seq: readonly string[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const n of seq) c[n] = (c[n] ?? 0) + 1;
  return c;
}

/** Longest run of the same name in a row. */
function longestRun(seq: readonly string[], name: string): number {
  let best = 0;
  let run = 0;
  for (const n of seq) {
    run = n === name ? run + 1 : 0;
    if (run > best) best = run;
  }
  return best;
}

// About "never three heavy in a row": with exact 3:1 shares the gaps between
// consecutive b's hold 3 a's on average, so 3 a's in a row somewhere is
// unavoidable (300 a's cannot fit in 101 gaps of at most 2). What smoothness
// does guarantee, and what is asserted here: each cycle of 4 is a a b a (never
// the bunched a a a b of plain weighted round robin), every window of 4
// consecutive picks holds exactly one b, and no run of a is longer than 3.

test('3:1 over 400 picks is exactly 300:100, in smooth order', () => {
  const { rr } = setup({ a: 3, b: 1 });
  const seq = picks(rr, 400);
  assert.deepEqual(count(seq), { a: 300, b: 100 });
  for (let i = 0; i < 400; i += 4) {
    assert.deepEqual(seq.slice(i, i + 4), ['a', 'a', 'b', 'a'], `cycle at ${i}: never a a a b`);
  }
  for (let i = 0; i + 4 <= 400; i++) {
    assert.equal(seq.slice(i, i + 4).filter((n) => n === 'b').length, 1, `window at ${i}`);
  }
  assert.equal(longestRun(seq, 'a'), 3);
  assert.equal(longestRun(seq, 'b'), 1);
});

test('5:1:1 spreads the heavy one: exact counts, the light ones interleaved', () => {
  const { rr } = setup({ a: 5, b: 1, c: 1 });
  const seq = picks(rr, 700);
  assert.deepEqual(count(seq), { a: 500, b: 100, c: 100 });
  // nginx's known sequence for 5:1:1.
  assert.deepEqual(seq.slice(0, 7), ['a', 'a', 'b', 'a', 'c', 'a', 'a']);
  for (let i = 0; i < 700; i += 7) {
    assert.deepEqual(seq.slice(i, i + 7), ['a', 'a', 'b', 'a', 'c', 'a', 'a'], `cycle at ${i}`);
  }
  // Plain weighted round robin would give a a a a a b c: runs of 5.
  assert.equal(longestRun(seq, 'a'), 4); // a a | a a across the cycle seam
  assert.equal(longestRun(seq, 'b'), 1);
  assert.equal(longestRun(seq, 'c'), 1);
});

test('equal weights alternate strictly', () => {
  const { rr } = setup({ a: 1, b: 1, c: 1 });
  assert.deepEqual(picks(rr, 6), ['a', 'b', 'c', 'a', 'b', 'c']);
});

test('weight 0 is never picked; weight back above 0 is picked again', () => {
  const { rr, servers } = setup({ a: 2, z: 0, b: 1 });
  const seq = picks(rr, 300);
  assert.deepEqual(count(seq), { a: 200, b: 100 });
  const z = servers.z as TestServer;
  z.weight = 1;
  rr.setWeight(z, 1);
  assert.deepEqual(count(picks(rr, 400)), { a: 200, b: 100, z: 100 });
  z.weight = 0;
  rr.setWeight(z, 0);
  assert.deepEqual(count(picks(rr, 300)), { a: 200, b: 100 });
});

test('only weight-0 servers eligible: refuse', () => {
  const { rr } = setup({ a: 0, b: 0 });
  assert.equal(rr.pick('10.0.0.1'), undefined);
});

test('a weight change takes effect at once, with exact shares after it', () => {
  const { rr, servers } = setup({ a: 1, b: 1 });
  picks(rr, 3); // leave credits mid-cycle
  const a = servers.a as TestServer;
  a.weight = 3;
  rr.setWeight(a, 3);
  assert.deepEqual(count(picks(rr, 400)), { a: 300, b: 100 });
});

test('exclude skips tried servers; the others keep their share and the excluded one is not owed a burst', () => {
  const { rr, servers } = setup({ a: 1, b: 1, c: 1 });
  const a = servers.a as TestServer;
  const tried = new Set([a]);
  const seq = picks(rr, 300, tried);
  assert.deepEqual(count(seq), { b: 150, c: 150 });
  assert.equal(longestRun(seq, 'b'), 1);
  // Back to normal: a is not compensated with a run of its own.
  const after = picks(rr, 300);
  assert.deepEqual(count(after), { a: 100, b: 100, c: 100 });
  assert.equal(longestRun(after, 'a'), 1);
});

test('an occasional retry disturbs the totals by at most the retried picks', () => {
  const { rr, servers } = setup({ a: 3, b: 1 });
  const b = servers.b as TestServer;
  const tried = new Set([b]);
  const seq: string[] = [];
  for (let i = 0; i < 400; i++) {
    const first = rr.pick('10.0.0.1') as TestServer;
    seq.push(first.name);
    // Every 10th client's first choice fails when it is b: retry without b.
    if (i % 10 === 0 && first === b) seq.push((rr.pick('10.0.0.1', tried) as TestServer).name);
  }
  const c = count(seq);
  // One retry per failed b: the extra picks went to a, b's share is untouched.
  assert.equal(c.b, 100);
  assert.equal((c.a as number) + (c.b as number), seq.length);
  assert.ok((c.a as number) - 300 <= 40, `a got ${c.a}`);
});

test('removal and return: the others continue, the returning server shares at once', () => {
  const { rr, servers } = setup({ a: 1, b: 1, c: 1 });
  const b = servers.b as TestServer;
  rr.setState(b, false);
  assert.deepEqual(count(picks(rr, 200)), { a: 100, c: 100 });
  rr.setState(b, true);
  const seq = picks(rr, 300);
  assert.deepEqual(count(seq), { a: 100, b: 100, c: 100 });
  assert.deepEqual(seq.slice(0, 3).sort(), ['a', 'b', 'c']);
});

test('flapping does not let credits drift: exact shares after many changes', () => {
  const { rr, servers } = setup({ a: 3, b: 2, c: 1 });
  const b = servers.b as TestServer;
  for (let i = 0; i < 1000; i++) {
    rr.pick('10.0.0.1');
    if (i % 7 === 0) rr.setState(b, i % 2 === 0);
  }
  rr.setState(b, true);
  assert.deepEqual(count(picks(rr, 600)), { a: 300, b: 200, c: 100 });
});

// Shared mode: several processes' balancers of one service draw from one sequence.

function sharedPair(weights: Record<string, number>, order: [string[], string[]]) {
  let seq = 0;
  const sequence = () => seq++;
  const make = (names: string[]) => {
    const rr = new RoundRobinBalancer<TestServer>({ sequence });
    const servers: Record<string, TestServer> = {};
    for (const name of names) {
      servers[name] = { name, weight: weights[name] ?? 1, active: 0 };
      rr.setState(servers[name], true);
    }
    return { rr, servers };
  };
  return [make(order[0]), make(order[1])] as const;
}

test('shared: two balancers that became eligible in different orders split 400 picks 100 each, however the picks interleave', () => {
  const [a, b] = sharedPair({ s1: 1, s2: 1, s3: 1, s4: 1 }, [
    ['s1', 's2', 's3', 's4'],
    ['s4', 's2', 's1', 's3'],
  ]);
  const all: string[] = [];
  // An uneven, bursty split between the two processes: 7 then 3, 1 then 9 ...
  const pattern = [7, 3, 1, 9, 5, 5, 2, 8];
  let turn = 0;
  while (all.length < 400) {
    const n = Math.min(pattern[turn % pattern.length]!, 400 - all.length);
    all.push(...picks(turn % 2 === 0 ? a.rr : b.rr, n));
    turn++;
  }
  assert.deepEqual(count(all), { s1: 100, s2: 100, s3: 100, s4: 100 });
});

test('shared: weights hold across balancers and the heavy server is spread through the cycle', () => {
  const [a, b] = sharedPair({ a: 3, b: 1 }, [
    ['a', 'b'],
    ['b', 'a'],
  ]);
  const seq = [...picks(a.rr, 2), ...picks(b.rr, 2), ...picks(a.rr, 1), ...picks(b.rr, 3)];
  assert.deepEqual(seq, ['a', 'a', 'b', 'a', 'a', 'a', 'b', 'a']);
  // Equal factors are reduced: 200:100 cycles like 2:1.
  const [c] = sharedPair({ x: 200, y: 100 }, [['x', 'y'], ['x', 'y']]);
  assert.deepEqual(picks(c.rr, 6), ['x', 'y', 'x', 'x', 'y', 'x']);
});

test('shared: a pick skips excluded servers, weight 0 and ineligible servers never come up, an empty set gives undefined', () => {
  const [a] = sharedPair({ s1: 1, s2: 1, s3: 1, z: 0 }, [['s1', 's2', 's3', 'z'], []]);
  const ex = new Set([a.servers.s1!, a.servers.s2!]);
  assert.deepEqual(picks(a.rr, 4, ex), ['s3', 's3', 's3', 's3']);
  a.rr.setState(a.servers.s3!, false);
  assert.deepEqual(count(picks(a.rr, 10)), { s1: 5, s2: 5 });
  a.rr.setState(a.servers.s1!, false);
  a.rr.setState(a.servers.s2!, false);
  assert.equal(a.rr.pick('10.0.0.1'), undefined);
  a.rr.setState(a.servers.s2!, true);
  assert.equal(a.rr.pick('10.0.0.1', new Set([a.servers.s2!])), undefined);
});
