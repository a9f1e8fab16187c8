/**
 * Shared vocabulary of the VRRP package: the router states and the reasons a
 * received packet is dropped. Both are string-literal unions because they are
 * also log keys and metric label values (`baton_vrrp_state{state}`,
 * `baton_vrrp_packets_dropped_total{reason}`); renaming one is a breaking
 * change for dashboards.
 */

/** RFC 5798 §6.4 (Initialize, Backup, Master) plus keepalived's FAULT. */
export type VrrpState = 'init' | 'backup' | 'master' | 'fault';

export const VRRP_STATES: readonly VrrpState[] = ['init', 'backup', 'master', 'fault'];

/**
 * Why a received packet was not processed. RFC 3768 §7.1 / RFC 5798 §7.1
 * list the receive checks; each failed check has its own reason.
 */
export type DropReason =
  /** Fewer bytes than an IPv4 header plus the 8-byte VRRP header. */
  | 'too-short'
  /** IPv4 header invalid: not version 4, IHL < 5, total length inconsistent, fragment, not protocol 112. */
  | 'bad-ip-header'
  /** Multicast mode: IP TTL is not 255 (RFC 3768 §7.1, RFC 5798 §7.1). Unicast accepts any TTL from a peer. */
  | 'bad-ttl'
  /** VRRP version is not the configured one (2 or 3). */
  | 'bad-version'
  /** VRRP type is not 1 (ADVERTISEMENT). */
  | 'bad-type'
  /** VRRP checksum does not verify. */
  | 'bad-checksum'
  /** Length does not match the address count (and auth data for v2). */
  | 'bad-length'
  /** v2 authentication type or simple password does not match (RFC 3768 §5.3.6). */
  | 'bad-auth'
  /** VRID differs from the router's (RFC 3768 §7.1, RFC 5798 §7.1). */
  | 'vrid-mismatch'
  /** v2 only: Adver Int differs from the configured one (RFC 3768 §7.1). */
  | 'interval-mismatch'
  /** The advert interval is 0 (v3 Max Adver Int or v2 Adver Int): it would make Master_Down_Interval 0 (RFC 5798 §6.1). */
  | 'bad-advert-interval'
  /** Unicast mode: the source is not a configured peer. */
  | 'unknown-source'
  /**
   * None of the advertised addresses is ours (and the sender is not the
   * owner): another cluster on our VRID. A list that differs but shares an
   * address is not a drop; it is processed and counted apart.
   */
  | 'no-common-address'
  /** Our own advert looped back (source is our primary address). */
  | 'own-packet';

export const DROP_REASONS: readonly DropReason[] = [
  'too-short',
  'bad-ip-header',
  'bad-ttl',
  'bad-version',
  'bad-type',
  'bad-checksum',
  'bad-length',
  'bad-auth',
  'vrid-mismatch',
  'interval-mismatch',
  'bad-advert-interval',
  'unknown-source',
  'no-common-address',
  'own-packet',
];
