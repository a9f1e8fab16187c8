/**
 * The gratuitous ARP frame against keepalived's own, captured in
 * test/fixtures/vectors: every field equal, only the MAC (random per veth) and
 * so the sender hardware address are taken from the capture.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { buildGarpFrame, GARP_FRAME_BYTES, parseMac } from '../src/io/garp.js';
import { readPcap, VECTORS_DIR, V2_CAPTURE, V3_CAPTURE } from './pcap.js';

const arpFrames = (file: string) =>
  readPcap(join(VECTORS_DIR, file))
    .map((f) => f.data)
    .filter((f) => f.readUInt16BE(12) === 0x0806);

for (const file of [V2_CAPTURE, V3_CAPTURE]) {
  test(`GARP frame matches keepalived's field by field (${file})`, () => {
    const captured = arpFrames(file);
    assert.ok(captured.length >= 10, 'both nodes sent GARP bursts');
    for (const real of captured) {
      const mac = real.subarray(6, 12);
      const ours = buildGarpFrame(Buffer.from(mac), '10.203.0.100');
      assert.equal(ours.length, GARP_FRAME_BYTES);
      assert.equal(real.length, GARP_FRAME_BYTES);
      const field = (b: Buffer, from: number, to: number) => b.subarray(from, to).toString('hex');
      const fields: [string, number, number][] = [
        ['eth dst', 0, 6],
        ['eth src', 6, 12],
        ['ethertype', 12, 14],
        ['htype', 14, 16],
        ['ptype', 16, 18],
        ['hlen', 18, 19],
        ['plen', 19, 20],
        ['opcode', 20, 22],
        ['sender mac', 22, 28],
        ['sender ip', 28, 32],
        ['target mac', 32, 38],
        ['target ip', 38, 42],
      ];
      for (const [name, from, to] of fields) assert.equal(field(ours, from, to), field(real, from, to), name);
      assert.deepEqual(ours, real);
    }
  });
}

test('GARP frame with a MAC given as text', () => {
  const f = buildGarpFrame('02:00:00:aa:bb:cc', '192.0.2.7');
  assert.equal(f.subarray(6, 12).toString('hex'), '020000aabbcc');
  assert.equal(f.subarray(22, 28).toString('hex'), '020000aabbcc');
  assert.deepEqual([...f.subarray(28, 32)], [192, 0, 2, 7]);
  assert.deepEqual([...f.subarray(38, 42)], [192, 0, 2, 7]);
});

test('bad MACs and addresses are configuration errors with a code', () => {
  assert.throws(() => parseMac('02:00:00:aa:bb'), { code: 'bad-mac' });
  assert.throws(() => parseMac('zz:00:00:aa:bb:cc'), { code: 'bad-mac' });
  assert.throws(() => buildGarpFrame(Buffer.alloc(5), '10.0.0.1'), { code: 'bad-mac' });
  assert.throws(() => buildGarpFrame('02:00:00:aa:bb:cc', '10.0.0.256'), { code: 'bad-address' });
  assert.throws(() => buildGarpFrame('02:00:00:aa:bb:cc', 'fe80::1'), { code: 'bad-address' });
});
