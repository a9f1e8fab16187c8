import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prng } from './helpers.js';
import { POINTS_PER_WEIGHT, SourceBalancer, hashString } from '../src/balancers/source.js';

interface TestServer {
  name: string;
  weight: number;
  active: number;
}


/** n distinct random IPv4 addresses (some IPv6 ones too: the balancer hashes any string). */
function randomClients(n: number, seed: number): string[] {
  const rand = prng(seed);
  const set = new Set<string>();
  while (set.size < n) {
    const r = rand();
    if (set.size % 10 === 9) set.add(`2001:db8::${Math.floor(r * 0xffff).toString(16)}:${Math.floor(rand() * 0xffff).toString(16)}`);
    else set.add(`${Math.floor(r * 256)}.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}`);
  }
  return [...set];
}

function servers(n: number, weight = 1): TestServer[] {
  return Array.from({ length: n }, (_, i) => ({ name: `db${i + 1}`, weight, active: 0 }));
}

function assign(b: SourceBalancer<TestServer>, clients: readonly string[]): Map<string, TestServer | undefined> {
  const m = new Map<string, TestServer | undefined>();
  for (const c of clients) m.set(c, b.pick(c));
  return m;
}

const CLIENTS = randomClients(10_000, 20240601);

test('the same client always gets the same server', () => {
  const b = new SourceBalancer<TestServer>();
  for (const s of servers(5)) b.setState(s, true);
  for (const c of CLIENTS.slice(0, 500)) {
    const first = b.pick(c);
    assert.ok(first);
    assert.equal(b.pick(c), first);
    assert.equal(b.pick(c), first);
  }
});

test('1 of 5 down: every client of the other 4 keeps its server (100%), every client of the removed one moves; all return', () => {
  const all = servers(5);
  const b = new SourceBalancer<TestServer>();
  for (const s of all) b.setState(s, true);
  const before = assign(b, CLIENTS);
  const gone = all[2] as TestServer;

  b.setState(gone, false);
  const during = assign(b, CLIENTS);
  let othersClients = 0;
  let othersKept = 0;
  let goneClients = 0;
  const movedTo = new Map<string, number>();
  for (const c of CLIENTS) {
    const was = before.get(c) as TestServer;
    const now = during.get(c) as TestServer;
    assert.ok(now, `client ${c} refused`);
    if (was === gone) {
      goneClients++;
      assert.notEqual(now, gone);
      movedTo.set(now.name, (movedTo.get(now.name) ?? 0) + 1);
    } else {
      othersClients++;
      if (now === was) othersKept++;
    }
  }
  const keptPct = (100 * othersKept) / othersClients;
  assert.ok(keptPct >= 95, `kept ${keptPct}%`);
  assert.equal(othersKept, othersClients, 'consistent hashing keeps every other client: 100%');
  assert.ok(goneClients > 1000, `the removed server had ${goneClients} clients`);
  // Its clients are spread over the survivors, not dumped on one neighbour.
  assert.equal(movedTo.size, 4);
  for (const [name, n] of movedTo) assert.ok(n > goneClients / 10, `${name} took ${n} of ${goneClients}`);

  b.setState(gone, true);
  const after = assign(b, CLIENTS);
  for (const c of CLIENTS) assert.equal(after.get(c), before.get(c), `client ${c} after return`);
});

test('every server of 5, in turn: only its clients move', () => {
  const all = servers(5);
  const b = new SourceBalancer<TestServer>();
  for (const s of all) b.setState(s, true);
  const before = assign(b, CLIENTS);
  for (const gone of all) {
    b.setState(gone, false);
    for (const c of CLIENTS) {
      const was = before.get(c);
      const now = b.pick(c);
      if (was === gone) assert.notEqual(now, gone);
      else assert.equal(now, was);
    }
    b.setState(gone, true);
  }
});

test('shares: 5 equal servers each get 20% of 10,000 clients within a few points', () => {
  const b = new SourceBalancer<TestServer>();
  for (const s of servers(5)) b.setState(s, true);
  const counts = new Map<string, number>();
  for (const c of CLIENTS) {
    const n = (b.pick(c) as TestServer).name;
    counts.set(n, (counts.get(n) ?? 0) + 1);
  }
  assert.equal(counts.size, 5);
  for (const [name, n] of counts) assert.ok(n > 1500 && n < 2500, `${name}: ${n}`);
});

test('a server of weight 3 gets about three times the clients of weight 1, weight 0 none', () => {
  const b = new SourceBalancer<TestServer>();
  const heavy = { name: 'heavy', weight: 3, active: 0 };
  const light = { name: 'light', weight: 1, active: 0 };
  const zero = { name: 'zero', weight: 0, active: 0 };
  for (const s of [heavy, light, zero]) b.setState(s, true);
  assert.equal(b.ringSize(), POINTS_PER_WEIGHT * 4);
  let h = 0;
  let l = 0;
  for (const c of CLIENTS) {
    const p = b.pick(c);
    assert.notEqual(p, zero);
    if (p === heavy) h++;
    else l++;
  }
  const ratio = h / l;
  assert.ok(ratio > 2.4 && ratio < 3.6, `ratio ${ratio}`);
});

test('a weight change moves only the share that changes hands', () => {
  const all = servers(4);
  const b = new SourceBalancer<TestServer>();
  for (const s of all) b.setState(s, true);
  const before = assign(b, CLIENTS);
  const grown = all[0] as TestServer;
  grown.weight = 2;
  b.setWeight(grown, 2);
  for (const c of CLIENTS) {
    const now = b.pick(c);
    // A client moves only onto the grown server's new points.
    if (now !== before.get(c)) assert.equal(now, grown);
  }
});

test('exclude walks on along the ring: same server as if the excluded one were down', () => {
  const all = servers(5);
  const b = new SourceBalancer<TestServer>();
  for (const s of all) b.setState(s, true);
  const tried = new Set([all[1] as TestServer, all[3] as TestServer]);
  const withExclude = CLIENTS.slice(0, 2000).map((c) => b.pick(c, tried));
  for (const s of tried) b.setState(s, false);
  const withDown = CLIENTS.slice(0, 2000).map((c) => b.pick(c));
  assert.deepEqual(withExclude, withDown);
  for (const s of withExclude) assert.ok(s && !tried.has(s));
  assert.equal(b.pick('10.0.0.1', new Set(all)), undefined);
});

test('the ring depends only on names and weights, not on the order servers arrive', () => {
  const a = servers(6);
  const b1 = new SourceBalancer<TestServer>();
  const b2 = new SourceBalancer<TestServer>();
  for (const s of a) b1.setState(s, true);
  for (const s of [...a].reverse()) b2.setState(s, true);
  // Another worker with its own server objects of the same names.
  const b3 = new SourceBalancer<TestServer>();
  for (const s of servers(6)) b3.setState(s, true);
  for (const c of CLIENTS.slice(0, 3000)) {
    const p1 = b1.pick(c);
    assert.equal(b2.pick(c), p1);
    assert.equal(b3.pick(c)?.name, p1?.name);
  }
});

test('the ring is rebuilt only after a change', () => {
  const b = new SourceBalancer<TestServer>();
  const all = servers(3);
  for (const s of all) b.setState(s, true);
  assert.equal(b.ringSize(), 3 * POINTS_PER_WEIGHT);
  b.setState(all[0] as TestServer, true); // no change
  b.setWeight(all[1] as TestServer, 1); // same weight: no change
  assert.equal(b.ringSize(), 3 * POINTS_PER_WEIGHT);
  b.setState(all[0] as TestServer, false);
  assert.equal(b.ringSize(), 2 * POINTS_PER_WEIGHT);
});

test('hashString: 32-bit FNV-1a plus finalizer, stable values', () => {
  // Golden values: the ring must be the same in every worker process and
  // every release, or an upgrade would move every client.
  assert.equal(hashString(''), 2872998923);
  assert.equal(hashString('10.0.0.1'), 2931590574);
  assert.equal(hashString('192.168.1.20'), 2483418557);
  assert.equal(hashString('::1'), 4026782422);
  assert.equal(hashString('db1#0'), 3742107399);
  const h = hashString('10.0.0.1');
  assert.ok(Number.isInteger(h) && h >= 0 && h < 2 ** 32);
  assert.notEqual(hashString('10.0.0.1'), hashString('10.0.0.2'));
  // Neighbouring addresses land far apart (top bits differ often).
  let topBitDiffers = 0;
  for (let i = 0; i < 256; i++) if (hashString(`10.0.0.${i}`) >>> 31 !== hashString(`10.0.0.${i + 1}`) >>> 31) topBitDiffers++;
  assert.ok(topBitDiffers > 90 && topBitDiffers < 166, `top bit flipped ${topBitDiffers}/256`);
});
