/**
 * Router.why(), the data behind `baton status --why`, on a FakeClock: the
 * last advert per source with its age, the master-down arithmetic of
 * RFC 5798 §6.1 with the running timer's time left, and the reason of the
 * last transition.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '@baton/core';
import { Router, RecordingGarpSender, RecordingVipManager, encodeAdvert, encodeIpPacket, type AdvertTransport } from '../src/index.js';

const GROUP = '224.0.0.18';
const VIP = '10.203.0.100';
const noSend: AdvertTransport = { send: (_p, _d, done) => done?.(true) };

function packetFrom(src: string, priority: number): Buffer {
  const advert = { version: 3 as const, vrid: 51, priority, maxAdvertIntervalCs: 100, addresses: [VIP] };
  return encodeIpPacket(encodeAdvert(advert, { srcAddr: src, dstAddr: GROUP }), { srcAddr: src, dstAddr: GROUP });
}

test('a backup explains itself: the adverts heard, 3 x interval + skew, time left, the reason', () => {
  const clock = new FakeClock(0);
  const router = new Router({
    config: { name: 'VI_1', vrid: 51, priority: 100, version: 3, advertIntervalMs: 1000, primaryAddr: '10.203.0.11', virtualIps: [VIP + '/24'] },
    clock,
    transport: noSend,
    vips: new RecordingVipManager(),
    garp: new RecordingGarpSender(clock),
  });
  router.start();
  // Skew_Time = (256 - 100) x 1000 / 256 = 609.375 ms; Master_Down_Interval = 3609.375 ms.
  let why = router.why();
  assert.deepEqual(why.masterDown, { intervalMs: 1000, skewMs: 609.375, totalMs: 3609.375, leftMs: 3609.375 });
  assert.equal(why.reason, 'startup');
  assert.deepEqual(why.adverts, []);

  clock.advance(500);
  router.handlePacket(packetFrom('10.203.0.12', 150));
  clock.advance(200);
  router.handlePacket(packetFrom('10.203.0.13', 120));
  router.handlePacket(packetFrom('10.203.0.12', 150));
  clock.advance(300);
  why = router.why();
  assert.equal(router.state, 'backup');
  assert.deepEqual(why.adverts, [
    { from: '10.203.0.12', priority: 150, ageMs: 300, count: 2 },
    { from: '10.203.0.13', priority: 120, ageMs: 300, count: 1 },
  ]);
  // Re-armed by the last accepted advert 300 ms ago.
  assert.equal(why.masterDown.leftMs, 3609.375 - 300);
  assert.equal(why.sinceMs, 1000);

  // Silence: it becomes master, and the timer is no longer running.
  clock.advance(4000);
  why = router.why();
  assert.equal(router.state, 'master');
  assert.equal(why.reason, 'master-down-timer');
  assert.equal(why.masterDown.leftMs, null);
});
