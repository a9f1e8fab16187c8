/**
 * The PROXY protocol header a health check sends to a server that expects
 * one (haproxy.org/download/2.9/doc/proxy-protocol.txt): the check is Baton's
 * own connection, not a client's, so it carries no client address.
 *
 * - v1 (section 2.1): "PROXY UNKNOWN\r\n": the receiver uses the real
 *   connection's addresses.
 * - v2 (section 2.2): the 12-byte signature, version 2 with command LOCAL
 *   (0x20), family UNSPEC, no address block: "sent by the proxy itself, for
 *   example health checks".
 */
const V2_LOCAL = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20, 0x00, 0x00, 0x00]);
const V1_UNKNOWN = Buffer.from('PROXY UNKNOWN\r\n', 'latin1');

export function proxyCheckHeader(version: 1 | 2): Buffer {
  return version === 1 ? V1_UNKNOWN : V2_LOCAL;
}
