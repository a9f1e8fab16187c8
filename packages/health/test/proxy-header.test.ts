/**
 * A mysql check to a server behind PROXY protocol sends the header meant for
 * checks first (v1 "PROXY UNKNOWN\r\n", v2 LOCAL), and no header otherwise;
 * read by a real socket that records the check's first bytes.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { createMysqlProbe } from '../src/mysql.js';

const sockets = new Set<Socket>();
const got: Buffer[] = [];
const server = createServer((s) => {
  sockets.add(s);
  s.on('error', () => undefined);
  // Say nothing (a MySQL client waits for the greeting): whatever arrives within 200 ms was sent unasked.
  s.on('data', (d) => got.push(d));
  setTimeout(() => s.destroy(), 200);
});
after(() => {
  for (const s of sockets) s.destroy();
  server.close();
});
const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)));

async function firstBytes(sendProxy: 1 | 2 | undefined): Promise<Buffer> {
  got.length = 0;
  const probe = createMysqlProbe({ host: '127.0.0.1', port, ...(sendProxy ? { sendProxy } : {}) }, { user: 'u', password: 'p', connectTimeoutMs: 1000 });
  const result = await probe.check(AbortSignal.timeout(1000));
  await probe.close();
  assert.equal(result.ok, false);
  return Buffer.concat(got);
}

test('mysql check with send_proxy v1 sends PROXY UNKNOWN first', async () => {
  assert.equal((await firstBytes(1)).toString('latin1'), 'PROXY UNKNOWN\r\n');
});

test('mysql check with send_proxy v2 sends the v2 LOCAL header first', async () => {
  assert.deepEqual(await firstBytes(2), Buffer.from('0d0a0d0a000d0a515549540a20000000', 'hex'));
});

test('mysql check without send_proxy sends nothing before the greeting', async () => {
  assert.equal((await firstBytes(undefined)).length, 0);
});
