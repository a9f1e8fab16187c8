/**
 * PROXY protocol: the v1 and v2 headers byte for byte (HAProxy's
 * specification), and a real service with `sendProxy` whose backend reads
 * the header, with the client's address and port, before the client's
 * first byte.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { PROXY_V2_SIGNATURE, proxyHeader } from '../src/proxy-header.js';
import { listenBackend, serviceSpec, startService, type Backend } from './helpers.js';

const cleanup: Array<() => Promise<unknown> | void> = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

test('v1: TCP4, TCP6, IPv4-mapped addresses as TCP4, mixed or unknown families as UNKNOWN', () => {
  const v1 = (s: string, sp: number, d: string, dp: number) => proxyHeader('v1', { address: s, port: sp }, { address: d, port: dp }).toString('latin1');
  assert.equal(v1('192.0.2.10', 51000, '10.0.0.100', 3306), 'PROXY TCP4 192.0.2.10 10.0.0.100 51000 3306\r\n');
  assert.equal(v1('2001:db8::1', 51000, '2001:db8::100', 3306), 'PROXY TCP6 2001:db8::1 2001:db8::100 51000 3306\r\n');
  assert.equal(v1('::ffff:192.0.2.10', 1, '::ffff:10.0.0.100', 2), 'PROXY TCP4 192.0.2.10 10.0.0.100 1 2\r\n');
  assert.equal(v1('192.0.2.10', 1, '2001:db8::100', 2), 'PROXY UNKNOWN\r\n');
  assert.equal(v1('', 0, '', 0), 'PROXY UNKNOWN\r\n');
});

test('v2: signature, PROXY command, family, length and addresses in network order; LOCAL for unknown', () => {
  const h4 = proxyHeader('v2', { address: '192.0.2.10', port: 51000 }, { address: '10.0.0.100', port: 3306 });
  assert.deepEqual(h4.subarray(0, 12), PROXY_V2_SIGNATURE);
  assert.deepEqual([...h4.subarray(12, 16)], [0x21, 0x11, 0x00, 12]);
  assert.deepEqual([...h4.subarray(16)], [192, 0, 2, 10, 10, 0, 0, 100, 0xc7, 0x38, 0x0c, 0xea]);
  const h6 = proxyHeader('v2', { address: '2001:db8::1', port: 1 }, { address: '::ffff:10.0.0.1', port: 2 });
  assert.deepEqual([...h6.subarray(12, 16)], [0x20, 0x00, 0x00, 0x00], 'mixed families: LOCAL, no addresses');
  const h66 = proxyHeader('v2', { address: '2001:db8::1', port: 1 }, { address: 'fe80::1:2', port: 2 });
  assert.deepEqual([...h66.subarray(12, 16)], [0x21, 0x21, 0x00, 36]);
  assert.equal(h66.subarray(16, 32).toString('hex'), '20010db8000000000000000000000001');
  assert.equal(h66.subarray(32, 48).toString('hex'), 'fe800000000000000000000000010002');
  assert.deepEqual([...h66.subarray(48)], [0, 1, 0, 2]);
});

/** A backend that records the first bytes it receives on each connection, then echoes "ok\n". */
async function recordingBackend(): Promise<{ backend: Backend; received: Buffer[] }> {
  const received: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.includes('hello')) {
        received.push(buf);
        s.end('ok\n');
      }
    });
    s.on('error', () => undefined);
  });
  const backend = await listenBackend('rec', server, sockets);
  cleanup.push(() => backend.close());
  return { backend, received };
}

function talk(port: number): Promise<{ localPort: number; answer: string }> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ port, host: '127.0.0.1' }, () => c.write('hello'));
    let answer = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => (answer += d));
    c.on('end', () => resolve({ localPort: c.localPort!, answer }));
    c.on('error', reject);
  });
}

for (const version of ['v1', 'v2'] as const) {
  test(`a service with sendProxy ${version}: the server reads the header with the client's address first, then the client's bytes`, async () => {
    const { backend, received } = await recordingBackend();
    const { service, port } = await startService(serviceSpec([{ name: 'rec', port: backend.port }], { sendProxy: version }));
    cleanup.push(() => service.stopListening());
    const r = await talk(port);
    assert.equal(r.answer, 'ok\n');
    const expected = proxyHeader(version, { address: '127.0.0.1', port: r.localPort }, { address: '127.0.0.1', port });
    assert.deepEqual(received[0], Buffer.concat([expected, Buffer.from('hello')]));
  });
}

test('without sendProxy the server gets the client bytes only', async () => {
  const { backend, received } = await recordingBackend();
  const { service, port } = await startService(serviceSpec([{ name: 'rec', port: backend.port }]));
  cleanup.push(() => service.stopListening());
  await talk(port);
  assert.deepEqual(received[0], Buffer.from('hello'));
});
