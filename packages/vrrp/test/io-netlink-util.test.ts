/** Address parsing and errno recovery shared by the rtnetlink adapters; pure. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { netlinkErrno, parseIpv4Prefix } from '../src/io/netlink-util.js';
import { linkIsUp } from '../src/io/link-watch.js';

test('VIPs: a.b.c.d/len, a bare address is /32', () => {
  assert.deepEqual(parseIpv4Prefix('10.0.0.10/24'), { address: '10.0.0.10', prefixLength: 24 });
  assert.deepEqual(parseIpv4Prefix('10.0.0.10'), { address: '10.0.0.10', prefixLength: 32 });
  for (const bad of ['10.0.0.10/33', '10.0.0.10/', '10.0.0/24', 'fe80::1/64', '10.0.0.10/2x', ''])
    assert.throws(() => parseIpv4Prefix(bad), { code: 'bad-address' }, bad);
});

test('errno names come back from the netlink package errors', () => {
  assert.equal(netlinkErrno(new Error('Request rejected: EEXIST')), 'EEXIST');
  assert.equal(netlinkErrno(new Error('Request rejected: EADDRNOTAVAIL')), 'EADDRNOTAVAIL');
  assert.equal(netlinkErrno(Object.assign(new Error('x'), { code: 'EPERM' })), 'EPERM');
  assert.equal(netlinkErrno(new Error('something else')), undefined);
  assert.equal(netlinkErrno('EEXIST'), undefined);
});

test('a link is up only when administratively up and running', () => {
  assert.equal(linkIsUp({ up: true, running: true }), true);
  assert.equal(linkIsUp({ up: true }), false);
  assert.equal(linkIsUp({ running: true }), false);
  assert.equal(linkIsUp(undefined), false);
});
