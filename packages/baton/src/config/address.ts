/**
 * Address syntax of the config file: `host:port` endpoints, IPv4 literals and
 * virtual IPs (`a.b.c.d/len`). Pure functions that return a verdict instead of
 * throwing, so the schema can turn a bad address into a config error.
 *
 * A host is an IPv4 literal, a bracketed IPv6 literal (`[::1]`), `localhost`
 * or an RFC 1123 hostname. The brackets exist only in the file: the parsed
 * host is the bare address, the form `net.connect` and `server.listen` take.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { HostPort, VirtualIp } from './types.js';

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

// RFC 1123 §2.1: labels of letters, digits and inner hyphens, 1-63 characters.
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/** True for a syntactically valid hostname whose last label is not all digits (that would be a bad IPv4). */
export function isHostname(text: string): boolean {
  if (text.length === 0 || text.length > 253) return false;
  const labels = text.replace(/\.$/, '').split('.');
  if (!labels.every((l) => LABEL.test(l))) return false;
  return !/^\d+$/.test(labels[labels.length - 1] ?? '');
}

/** Validates the host part of an endpoint; returns it without IPv6 brackets. */
export function parseHost(text: string): Parsed<string> {
  if (text.startsWith('[')) {
    const inner = text.endsWith(']') ? text.slice(1, -1) : '';
    return isIPv6(inner) ? { ok: true, value: inner } : { ok: false, error: `"${text}" is not a bracketed IPv6 address` };
  }
  if (isIPv4(text)) return { ok: true, value: text };
  if (/^[\d.]+$/.test(text)) return { ok: false, error: `"${text}" is not a valid IPv4 address` };
  if (isIPv6(text)) return { ok: false, error: `IPv6 address "${text}" needs brackets, e.g. [${text}]:3306` };
  if (isHostname(text)) return { ok: true, value: text };
  return { ok: false, error: `"${text}" is not an IPv4 address, [IPv6] address or hostname` };
}

/** Parses `host:port`, port 1-65535 (0 is refused: an ephemeral listen port is never what a config means). */
export function parseHostPort(text: string): Parsed<HostPort> {
  const colon = text.lastIndexOf(':');
  if (colon <= 0 || colon === text.length - 1) {
    return { ok: false, error: `"${text}" must be host:port, e.g. 10.0.0.1:3306` };
  }
  const hostText = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  // A bare IPv6 address ("::1:3306") splits at its last colon; tell the user to bracket it.
  if (!hostText.startsWith('[') && hostText.includes(':')) {
    return { ok: false, error: `"${text}": an IPv6 host needs brackets, e.g. [::1]:3306` };
  }
  const host = parseHost(hostText);
  if (!host.ok) return host;
  if (!/^\d+$/.test(portText)) return { ok: false, error: `port "${portText}" is not a number` };
  const port = Number(portText);
  if (port < 1 || port > 65535) return { ok: false, error: `port ${port} is out of range 1-65535` };
  return { ok: true, value: { host: host.value, port } };
}

/** Parses a virtual IP: `a.b.c.d/len` (len 1-32) or a bare address meaning /32. */
export function parseVirtualIp(text: string): Parsed<VirtualIp> {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  if (!isIPv4(address)) return { ok: false, error: `"${text}" is not an IPv4 address or a.b.c.d/len` };
  if (slash < 0) return { ok: true, value: { address, prefixLength: 32 } };
  const lenText = text.slice(slash + 1);
  const len = /^\d+$/.test(lenText) ? Number(lenText) : NaN;
  if (!(len >= 1 && len <= 32)) return { ok: false, error: `prefix length "/${lenText}" must be 1-32` };
  return { ok: true, value: { address, prefixLength: len } };
}

/** The address a listener really binds, for clash detection: `localhost` is the loopback address. */
export function bindKey(hp: HostPort): string {
  const host = hp.host.toLowerCase() === 'localhost' ? '127.0.0.1' : hp.host.toLowerCase();
  return `${host}:${hp.port}`;
}

/** True when two listen endpoints cannot both bind: same host and port, or one is a wildcard on the same port. */
export function listensClash(a: HostPort, b: HostPort): boolean {
  if (a.port !== b.port) return false;
  const wildcard = (h: string): boolean => h === '0.0.0.0' || h === '::';
  return wildcard(a.host) || wildcard(b.host) || bindKey(a) === bindKey(b);
}

/** Formats an endpoint the way the file spells it (brackets around IPv6). */
export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
