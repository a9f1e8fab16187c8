/**
 * What a reload does to one running VRRP instance: nothing, an update in
 * place, or a restart. Pure: it compares two instance specs and names the
 * settings that differ, in config-key spelling, for the reload log line.
 *
 * keepalived applies most settings of a kept instance in place on reload;
 * so does Baton. A restart sends priority 0 when master and releases the
 * VIPs, so it is kept for what the running adapters and the wire format
 * are built on:
 * - interface, unicast_src_ip, unicast_peers: the raw socket, its source
 *   address and multicast membership;
 * - router_id, version, advert_interval, auth_pass, v3_checksum_as_v2,
 *   virtual_ips: every advert sent and every receive check;
 * - a priority that becomes or stops being 255: the address owner takes
 *   over at once and ignores tracking weights (RFC 5798 §6.4.1).
 * Everything else (priority, preempt, preempt_delay, garp, track, notify) is
 * applied to the running router, without a transition and without an advert
 * other than the one a master sends with a new priority.
 *
 * Invariants: `restart` and `update` list keys in a fixed order; both empty
 * means the instance is left alone; a non-empty `restart` wins over `update`.
 */
import { PRIORITY_OWNER } from '@baton/vrrp';
import type { VrrpInstanceConfig } from '../config/types.js';
import type { InstanceSpec } from './ipc.js';

export interface InstanceDiff {
  /** Keys whose change needs a restart; non-empty = restart. */
  restart: string[];
  /** Keys applied in place (when restart is empty). */
  update: string[];
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** The keys that force a restart, with how to read each from a spec. */
const RESTART_KEYS: readonly [string, (s: InstanceSpec) => unknown][] = [
  ['interface', (s) => s.config.interface],
  ['router_id', (s) => s.config.routerId],
  ['version', (s) => s.config.version],
  ['advert_interval', (s) => s.config.advertIntervalMs],
  ['auth_pass', (s) => s.authPass ?? null],
  ['unicast_peers', (s) => s.config.unicastPeers],
  ['unicast_src_ip', (s) => s.config.unicastSrcIp ?? null],
  ['virtual_ips', (s) => s.config.virtualIps],
  ['v3_checksum_as_v2', (s) => s.config.v3ChecksumAsV2],
];

const UPDATE_KEYS: readonly [string, (c: VrrpInstanceConfig) => unknown][] = [
  ['priority', (c) => c.priority],
  ['preempt', (c) => c.preempt],
  ['preempt_delay', (c) => c.preemptDelayMs],
  ['garp', (c) => c.garp],
  ['track', (c) => c.track],
  ['notify', (c) => [c.notify, c.notifyOn]],
];

export function diffInstance(prev: InstanceSpec, next: InstanceSpec): InstanceDiff {
  const restart = RESTART_KEYS.filter(([, get]) => !same(get(prev), get(next))).map(([key]) => key);
  const ownerBefore = prev.config.priority === PRIORITY_OWNER;
  const ownerAfter = next.config.priority === PRIORITY_OWNER;
  if (ownerBefore !== ownerAfter) restart.push('priority');
  if (restart.length > 0) return { restart, update: [] };
  const update = UPDATE_KEYS.filter(([, get]) => !same(get(prev.config), get(next.config))).map(([key]) => key);
  return { restart, update };
}

/** The reload log line for one kept instance, or undefined when it is left alone. */
export function describeDiff(name: string, diff: InstanceDiff): string | undefined {
  if (diff.restart.length > 0) return `vrrp instance ${name} restarted (${diff.restart.join(', ')} changed)`;
  if (diff.update.length > 0) return `vrrp instance ${name} updated in place (${diff.update.join(', ')})`;
  return undefined;
}
