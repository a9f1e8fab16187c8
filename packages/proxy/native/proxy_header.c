// PROXY protocol headers (haproxy.org/download/2.9/doc/proxy-protocol.txt),
// written by the engine before the first client byte so a server that
// expects them learns the client's address.
//
// Invariants:
// - v1 (section 2.1) is one ASCII line ending in CRLF, at most 107 bytes.
// - v2 (section 2.2): the 12-byte signature, version 2 with command PROXY
//   (0x21) or LOCAL (0x20), the family/transport byte, the address length in
//   network order, then the addresses and ports in network order.
// - An IPv4-mapped IPv6 pair (a dual-stack listener) is written as TCP4, the
//   address the client really has.
// - Pure functions: no allocation, no failure beyond returning 0.
#include "engine.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const uint8_t V2_SIG[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

// Reduces an IPv4-mapped IPv6 address to IPv4 in `tmp`; returns the address to use.
static const struct sockaddr *unmap(const struct sockaddr *sa, struct sockaddr_in *tmp) {
  if (sa->sa_family != AF_INET6) return sa;
  const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
  if (!IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) return sa;
  memset(tmp, 0, sizeof *tmp);
  tmp->sin_family = AF_INET;
  tmp->sin_port = s6->sin6_port;
  memcpy(&tmp->sin_addr, &s6->sin6_addr.s6_addr[12], 4);
  return (const struct sockaddr *)tmp;
}

size_t proxy_header_local(int version, uint8_t *out) {
  if (version == 1) {
    memcpy(out, "PROXY UNKNOWN\r\n", 15);
    return 15;
  }
  if (version == 2) {
    memcpy(out, V2_SIG, 12);
    out[12] = 0x20;  // version 2, LOCAL
    out[13] = 0x00;  // UNSPEC
    out[14] = 0;
    out[15] = 0;
    return 16;
  }
  return 0;
}

size_t proxy_header(int version, const struct sockaddr *src0, const struct sockaddr *dst0, uint8_t *out) {
  struct sockaddr_in t1, t2;
  const struct sockaddr *src = unmap(src0, &t1), *dst = unmap(dst0, &t2);
  int fam = src->sa_family == dst->sa_family ? src->sa_family : AF_UNSPEC;
  if (fam != AF_INET && fam != AF_INET6) {
    if (version == 1) return proxy_header_local(1, out);
    if (version != 2) return 0;
    // Section 2.2: a PROXY command with UNSPEC family; the receiver uses the real connection's addresses.
    memcpy(out, V2_SIG, 12);
    out[12] = 0x21;
    out[13] = 0x00;
    out[14] = out[15] = 0;
    return 16;
  }
  if (version == 1) {
    char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
    unsigned sp, dp;
    if (fam == AF_INET) {
      const struct sockaddr_in *s = (const void *)src, *d = (const void *)dst;
      inet_ntop(AF_INET, &s->sin_addr, a, sizeof a);
      inet_ntop(AF_INET, &d->sin_addr, b, sizeof b);
      sp = ntohs(s->sin_port);
      dp = ntohs(d->sin_port);
    } else {
      const struct sockaddr_in6 *s = (const void *)src, *d = (const void *)dst;
      inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof a);
      inet_ntop(AF_INET6, &d->sin6_addr, b, sizeof b);
      sp = ntohs(s->sin6_port);
      dp = ntohs(d->sin6_port);
    }
    int n = snprintf((char *)out, PROXY_HEADER_MAX, "PROXY %s %s %s %u %u\r\n", fam == AF_INET ? "TCP4" : "TCP6", a, b, sp, dp);
    return n > 0 && n < PROXY_HEADER_MAX ? (size_t)n : 0;
  }
  if (version != 2) return 0;
  memcpy(out, V2_SIG, 12);
  out[12] = 0x21;  // version 2, PROXY
  size_t len;
  if (fam == AF_INET) {
    const struct sockaddr_in *s = (const void *)src, *d = (const void *)dst;
    out[13] = 0x11;  // TCP over IPv4
    len = 12;
    memcpy(out + 16, &s->sin_addr, 4);
    memcpy(out + 20, &d->sin_addr, 4);
    memcpy(out + 24, &s->sin_port, 2);
    memcpy(out + 26, &d->sin_port, 2);
  } else {
    const struct sockaddr_in6 *s = (const void *)src, *d = (const void *)dst;
    out[13] = 0x21;  // TCP over IPv6
    len = 36;
    memcpy(out + 16, &s->sin6_addr, 16);
    memcpy(out + 32, &d->sin6_addr, 16);
    memcpy(out + 48, &s->sin6_port, 2);
    memcpy(out + 50, &d->sin6_port, 2);
  }
  out[14] = (uint8_t)(len >> 8);
  out[15] = (uint8_t)(len & 0xff);
  return 16 + len;
}
