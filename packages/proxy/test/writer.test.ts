import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer, isWriterBalancer } from '../src/balancers/index.js';
import { WriterOnlyBalancer } from '../src/balancers/writer.js';

interface TestServer {
  name: string;
  weight: number;
  active: number;
}

function setup(): { w: WriterOnlyBalancer<TestServer>; db1: TestServer; db2: TestServer; db3: TestServer } {
  const w = new WriterOnlyBalancer<TestServer>();
  const [db1, db2, db3] = ['db1', 'db2', 'db3'].map((name) => ({ name, weight: 1, active: 0 })) as [TestServer, TestServer, TestServer];
  for (const s of [db1, db2, db3]) w.setState(s, true);
  return { w, db1, db2, db3 };
}

test('refuses every client while no writer is named, even with eligible servers', () => {
  const { w } = setup();
  assert.equal(w.writer(), undefined);
  for (let i = 0; i < 10; i++) assert.equal(w.pick(`10.0.0.${i}`), undefined);
});

test('every client goes to the named writer, and follows setWriter', () => {
  const { w, db1, db2 } = setup();
  w.setWriter(db2);
  assert.equal(w.writer(), db2);
  for (let i = 0; i < 20; i++) assert.equal(w.pick(`10.0.${i}.1`), db2);
  w.setWriter(db1);
  assert.equal(w.writer(), db1);
  for (let i = 0; i < 20; i++) assert.equal(w.pick(`10.0.${i}.1`), db1);
  w.setWriter(undefined);
  assert.equal(w.pick('10.0.0.1'), undefined);
});

test('a writer that is not eligible is refused, never replaced by another server', () => {
  const { w, db1 } = setup();
  w.setWriter(db1);
  w.setState(db1, false);
  assert.equal(w.pick('10.0.0.1'), undefined);
  assert.equal(w.writer(), db1, 'only the control plane changes the writer');
  w.setState(db1, true);
  assert.equal(w.pick('10.0.0.1'), db1);
});

test('a writer named before it is eligible takes clients once it is', () => {
  const w = new WriterOnlyBalancer<TestServer>();
  const db1 = { name: 'db1', weight: 1, active: 0 };
  w.setWriter(db1);
  assert.equal(w.pick('10.0.0.1'), undefined);
  w.setState(db1, true);
  assert.equal(w.pick('10.0.0.1'), db1);
});

test('excluding the writer refuses (a retry never lands on a second node)', () => {
  const { w, db1, db2 } = setup();
  w.setWriter(db1);
  assert.equal(w.pick('10.0.0.1', new Set([db1])), undefined);
  assert.equal(w.pick('10.0.0.1', new Set([db2])), db1);
});

test('weight plays no part: a named writer of weight 0 still takes clients', () => {
  const { w, db1 } = setup();
  db1.weight = 0;
  w.setWeight(db1, 0);
  w.setWriter(db1);
  assert.equal(w.pick('10.0.0.1'), db1);
});

test('the factory returns a writer balancer for "writer" only', () => {
  const w = createBalancer<TestServer>('writer');
  assert.ok(w instanceof WriterOnlyBalancer);
  assert.ok(isWriterBalancer(w));
  assert.ok(!isWriterBalancer(createBalancer('roundrobin')));
  assert.throws(
    () => createBalancer('random' as never),
    (err: unknown) => (err as { code?: string }).code === 'unknown-balance',
  );
});
