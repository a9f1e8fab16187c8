/**
 * VRRP protocol constants, each with the RFC section that defines it.
 * RFC 3768 = VRRP version 2 (IPv4); RFC 5798 = VRRP version 3 (IPv4/IPv6).
 * Only IPv4 is carried by this package.
 *
 * Invariant: nothing here is configuration; a value a user may change lives
 * in the router config, with its default here only when the RFC names one.
 */

/** IP protocol number of VRRP (RFC 3768 §5.2.4, RFC 5798 §5.1.1.4). */
export const VRRP_IP_PROTOCOL = 112;

/** IPv4 multicast group for adverts (RFC 3768 §5.2.2, RFC 5798 §5.1.1.2). */
export const VRRP_MULTICAST_ADDR = '224.0.0.18';

/** TTL every advert is sent with and must arrive with (RFC 3768 §5.2.3, RFC 5798 §5.1.1.3). */
export const VRRP_TTL = 255;

/** IP TOS keepalived sends adverts with (DSCP CS6, "network control"); not mandated by the RFCs. */
export const VRRP_TOS = 0xc0;

/** Protocol versions (RFC 3768 §5.3.1, RFC 5798 §5.2.1). */
export const VRRP_VERSION_2 = 2;
export const VRRP_VERSION_3 = 3;
export type VrrpVersion = 2 | 3;

/** The only packet type: ADVERTISEMENT (RFC 3768 §5.3.2, RFC 5798 §5.2.2). */
export const VRRP_TYPE_ADVERTISEMENT = 1;

/** VRID range (RFC 3768 §5.3.3, RFC 5798 §5.2.3). */
export const VRID_MIN = 1;
export const VRID_MAX = 255;

/**
 * Priorities (RFC 3768 §5.3.4, RFC 5798 §5.2.4): 255 for the router that owns
 * the addresses, 1-254 for backups (default 100), and 0 sent by a master that
 * stops participating so a backup takes over without waiting Master_Down_Interval.
 */
export const PRIORITY_OWNER = 255;
export const PRIORITY_DEFAULT = 100;
export const PRIORITY_STOP = 0;
export const PRIORITY_BACKUP_MIN = 1;
export const PRIORITY_BACKUP_MAX = 254;

/** Fixed VRRP header: version/type, VRID, priority, count, 2 bytes, checksum (RFC 3768 §5.1, RFC 5798 §5.1). */
export const VRRP_HEADER_LEN = 8;
/** One IPv4 address in the address list (RFC 3768 §5.3.9, RFC 5798 §5.2.9). */
export const IPV4_ADDR_LEN = 4;
/** v2 trailing authentication data, always present (RFC 3768 §5.3.10). */
export const V2_AUTH_DATA_LEN = 8;

/** v2 Auth Type values (RFC 3768 §5.3.6; types 1 and 2 are deprecated there but keepalived still speaks 1). */
export const AUTH_NONE = 0;
export const AUTH_SIMPLE_PASSWORD = 1;
export const AUTH_IP_AH = 2;

/** v2 Advertisement_Interval: whole seconds in one byte, default 1 (RFC 3768 §5.3.7, §6.1). */
export const V2_ADVERT_INTERVAL_S_MIN = 1;
export const V2_ADVERT_INTERVAL_S_MAX = 255;
export const V2_ADVERT_INTERVAL_S_DEFAULT = 1;

/** v3 Max Adver Int: 12-bit centiseconds, default 100 (RFC 5798 §5.2.7, §6.1). */
export const V3_ADVERT_INTERVAL_CS_MIN = 1;
export const V3_ADVERT_INTERVAL_CS_MAX = 4095;
export const V3_ADVERT_INTERVAL_CS_DEFAULT = 100;
export const V3_ADVERT_INTERVAL_MASK = 0x0fff;

/** Minimum IPv4 header length (RFC 791 §3.1: IHL >= 5 words). */
export const IPV4_HEADER_MIN_LEN = 20;

/**
 * keepalived's default gratuitous ARP behaviour on becoming master
 * (vrrp_garp_master_repeat 5, vrrp_garp_master_delay 5 s), seen in the
 * captures in packages/vrrp/test/fixtures/vectors: 5 GARPs at the transition and 5 more 5 s later.
 */
export const GARP_REPEAT_DEFAULT = 5;
export const GARP_DELAY_MS_DEFAULT = 5000;
