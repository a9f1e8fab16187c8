// One contract suite, run against every balancer: what any balancer must do
// whatever its algorithm. Each implementation says which servers are
// acceptable for a pick; the suite checks every pick against that after every
// change, over fixed and seeded-random sequences of changes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { prng } from './helpers.js';
import {
  BALANCE_KINDS,
  createBalancer,
  type Balancer,
  type BalanceKind,
} from '../src/balancers/index.js';

interface TestServer {
  name: string;
  weight: number;
  active: number;
}

interface Subject {
  balancer: Balancer<TestServer>;
  /** May `s` be returned, given the eligible set and the exclusions? */
  acceptable(s: TestServer, eligible: ReadonlySet<TestServer>, exclude: ReadonlySet<TestServer>): boolean;
}

function makeServers(n: number): TestServer[] {
  return Array.from({ length: n }, (_, i) => ({ name: `db${i + 1}`, weight: 1 + (i % 3), active: 0 }));
}

/** Builds a balancer of `kind` over `servers`; the writer gets servers[0] named. */
function makeSubject(kind: BalanceKind, servers: readonly TestServer[]): Subject {
  if (kind === 'writer') {
    const balancer = createBalancer<TestServer>('writer');
    const named = servers[0];
    balancer.setWriter(named);
    return {
      balancer,
      acceptable: (s, eligible, exclude) => s === named && eligible.has(s) && !exclude.has(s),
    };
  }
  return {
    balancer: createBalancer<TestServer>(kind),
    acceptable: (s, eligible, exclude) => eligible.has(s) && !exclude.has(s) && s.weight > 0,
  };
}


const NO_EXCLUDE: ReadonlySet<TestServer> = new Set();

/** Picks for several clients and checks each pick against the model. */
function checkPicks(sub: Subject, servers: readonly TestServer[], eligible: ReadonlySet<TestServer>, exclude: ReadonlySet<TestServer>, why: string): void {
  const anyAcceptable = servers.some((s) => sub.acceptable(s, eligible, exclude));
  for (let c = 0; c < 20; c++) {
    const picked = sub.balancer.pick(`10.1.${c}.${c * 7}`, exclude.size > 0 ? exclude : undefined);
    if (picked === undefined) {
      assert.equal(anyAcceptable, false, `${why}: refused although a server was acceptable`);
    } else {
      assert.ok(sub.acceptable(picked, eligible, exclude), `${why}: picked ${picked.name}, not acceptable`);
      sub.balancer.onOpen(picked);
    }
  }
}

for (const kind of BALANCE_KINDS) {
  describe(`balancer contract: ${kind}`, () => {
    test('kind matches the factory argument', () => {
      assert.equal(createBalancer(kind).kind, kind);
    });

    test('refuses when nothing is eligible', () => {
      const servers = makeServers(3);
      const sub = makeSubject(kind, servers);
      assert.equal(sub.balancer.pick('10.0.0.1'), undefined);
      for (const s of servers) sub.balancer.setState(s, true);
      for (const s of servers) sub.balancer.setState(s, false);
      assert.equal(sub.balancer.pick('10.0.0.1'), undefined);
      assert.equal(sub.balancer.pick('10.0.0.1', new Set(servers)), undefined);
    });

    test('never picks an ineligible server', () => {
      const servers = makeServers(4);
      const sub = makeSubject(kind, servers);
      const eligible = new Set<TestServer>();
      for (const s of servers) {
        sub.balancer.setState(s, true);
        eligible.add(s);
      }
      for (const s of servers) {
        sub.balancer.setState(s, false);
        eligible.delete(s);
        checkPicks(sub, servers, eligible, NO_EXCLUDE, `after removing ${s.name}`);
      }
    });

    test('never picks an excluded server, refuses when all are excluded', () => {
      const servers = makeServers(4);
      const sub = makeSubject(kind, servers);
      const eligible = new Set(servers);
      for (const s of servers) sub.balancer.setState(s, true);
      for (let mask = 0; mask < 1 << servers.length; mask++) {
        const exclude = new Set(servers.filter((_, i) => mask & (1 << i)));
        checkPicks(sub, servers, eligible, exclude, `exclude mask ${mask}`);
      }
      for (let c = 0; c < 20; c++) assert.equal(sub.balancer.pick(`10.2.0.${c}`, new Set(servers)), undefined);
    });

    test('setState is idempotent', () => {
      const servers = makeServers(3);
      const twice = makeSubject(kind, servers);
      const once = makeSubject(kind, servers);
      for (const s of servers) {
        twice.balancer.setState(s, true);
        twice.balancer.setState(s, true);
        once.balancer.setState(s, true);
      }
      const [a, b] = [servers[1], servers[2]] as [TestServer, TestServer];
      twice.balancer.setState(a, false);
      twice.balancer.setState(a, false);
      once.balancer.setState(a, false);
      twice.balancer.setState(b, true);
      // Same calls give the same picks, duplicates or not.
      for (let c = 0; c < 50; c++) {
        const addr = `10.3.${c}.1`;
        assert.equal(twice.balancer.pick(addr)?.name, once.balancer.pick(addr)?.name, `pick ${c}`);
      }
      checkPicks(twice, servers, new Set([servers[0] as TestServer, b]), NO_EXCLUDE, 'after duplicates');
    });

    test('unknown servers: setState(false), setWeight, onClose do not throw and change nothing', () => {
      const servers = makeServers(2);
      const sub = makeSubject(kind, servers);
      const stranger: TestServer = { name: 'stranger', weight: 1, active: 0 };
      sub.balancer.setState(stranger, false);
      sub.balancer.setWeight(stranger, 5);
      sub.balancer.onClose(stranger);
      assert.equal(sub.balancer.pick('10.0.0.1'), undefined);
      for (const s of servers) sub.balancer.setState(s, true);
      sub.balancer.setState(stranger, false);
      checkPicks(sub, servers, new Set(servers), NO_EXCLUDE, 'after stranger');
    });

    test('survives adds, removes and weight changes in any order (seeded random walk)', () => {
      for (const seed of [1, 2, 3, 42, 1234]) {
        const rand = prng(seed);
        const servers = makeServers(6);
        const sub = makeSubject(kind, servers);
        const eligible = new Set<TestServer>();
        const open: TestServer[] = [];
        for (let step = 0; step < 400; step++) {
          const s = servers[Math.floor(rand() * servers.length)] as TestServer;
          const r = rand();
          if (r < 0.45) {
            const on = rand() < 0.6;
            sub.balancer.setState(s, on);
            if (on) eligible.add(s);
            else eligible.delete(s);
          } else if (r < 0.55) {
            s.weight = Math.floor(rand() * 4); // 0..3: weight 0 included
            sub.balancer.setWeight(s, s.weight);
          } else if (r < 0.65 && open.length > 0) {
            const closed = open.splice(Math.floor(rand() * open.length), 1)[0] as TestServer;
            sub.balancer.onClose(closed);
          } else {
            const exclude = new Set(servers.filter(() => rand() < 0.2));
            const picked = sub.balancer.pick(`172.16.${step % 256}.${(step * 31) % 256}`, exclude.size > 0 ? exclude : undefined);
            const anyAcceptable = servers.some((x) => sub.acceptable(x, eligible, exclude));
            if (picked === undefined) {
              assert.equal(anyAcceptable, false, `seed ${seed} step ${step}: refused although a server was acceptable`);
            } else {
              assert.ok(sub.acceptable(picked, eligible, exclude), `seed ${seed} step ${step}: picked ${picked.name}`);
              sub.balancer.onOpen(picked);
              open.push(picked);
            }
          }
        }
      }
    });

    test('a server marked eligible again is picked again', () => {
      const servers = makeServers(3);
      const sub = makeSubject(kind, servers);
      for (const s of servers) sub.balancer.setState(s, true);
      for (const s of servers) sub.balancer.setState(s, false);
      for (const s of [...servers].reverse()) sub.balancer.setState(s, true);
      const seen = new Set<string>();
      for (let c = 0; c < 300; c++) seen.add(sub.balancer.pick(`192.168.${c % 256}.${c >> 8}`)?.name ?? 'none');
      const expected = kind === 'writer' ? ['db1'] : servers.map((s) => s.name);
      assert.deepEqual([...seen].sort(), expected);
    });
  });
}
