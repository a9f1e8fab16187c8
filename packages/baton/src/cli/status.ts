/**
 * `baton status` as text, in the spirit of `crm status` and `ipvsadm -Ln`:
 * a header line for the node, one line per VRRP instance, then per service
 * its listener and an aligned table of its servers.
 *
 * Invariants: a pure function of its input (no clock, no environment, no
 * colours), every line plain printable ASCII (names or check errors with
 * control or non-ASCII characters cannot break the layout), and the server
 * columns line up across all services.
 */
import type { AdminStatus, StatusCheck, StatusServer, StatusService, StatusVrrp } from './admin-client.js';

export function formatStatus(status: AdminStatus): string {
  const out: string[] = [];
  out.push(
    [
      `node ${clean(status.node)}`,
      `version ${clean(status.version ?? '-')}`,
      `pid ${status.pid ?? '-'}`,
      `uptime ${formatDuration(status.uptime_s)}`,
      `workers ${status.workers ?? '-'}`,
    ].join('  '),
  );

  out.push('');
  const vrrp = status.vrrp ?? [];
  if (vrrp.length === 0) {
    out.push('VRRP: not configured');
  } else {
    out.push('VRRP:');
    out.push(...table(['NAME', 'STATE', 'PRIORITY', 'INTERFACE', 'VRID', 'VIPS', 'MASTER', 'FAULTS'], vrrp.map(vrrpRow), '  '));
  }

  const services = status.services ?? [];
  if (services.length === 0) {
    out.push('', 'services: none');
    return out.join('\n') + '\n';
  }
  // One width per column for all services, so the tables line up down the page.
  const header = ['NAME', 'ADDRESS', 'STATE', 'HEALTH', 'WEIGHT', 'ACTIVE', 'TOTAL', 'IN', 'OUT', 'LAST CHECK'];
  const rows = services.map((s) => (s.servers ?? []).map(serverRow));
  const widths = columnWidths([header, ...rows.flat()]);
  for (const [i, service] of services.entries()) {
    out.push('', serviceLine(service));
    const serverRows = rows[i] ?? [];
    if (serverRows.length === 0) {
      out.push('    no servers');
      continue;
    }
    out.push(...[header, ...serverRows].map((r) => '    ' + alignRow(r, widths)));
  }
  return out.join('\n') + '\n';
}

function vrrpRow(v: StatusVrrp): string[] {
  return [
    clean(v.name),
    clean(String(v.state ?? '-').toUpperCase()),
    `${v.effective_priority ?? '-'}/${v.priority ?? '-'}`,
    clean(v.interface ?? '-'),
    String(v.router_id ?? '-'),
    list(v.virtual_ips),
    clean(v.master ?? '-'),
    list(v.faults),
  ];
}

function serviceLine(s: StatusService): string {
  const parts = [`service ${clean(s.name)}`, `listen ${clean(s.listen)}`, `balance ${clean(s.balance)}`];
  if (s.balance === 'writer' || s.writer) parts.push(`writer ${clean(s.writer ?? 'none')}`);
  const sw = s.switch;
  if (sw?.running) parts.push(`switching ${clean(sw.from ?? 'none')}->${clean(sw.to)} ${clean(sw.phase)} ${sw.elapsed_s}s`);
  parts.push(`active ${withLimit(s.active ?? 0, s.max_connections)}`, `total ${s.total ?? 0}`);
  // The queue exists once a limit does: then its length and timeouts are worth a glance.
  const limited = s.max_connections != null || (s.servers ?? []).some((x) => x.max_connections != null);
  if (limited || (s.queued ?? 0) > 0) parts.push(`queued ${s.queued ?? 0}`, `queue timeouts ${s.queue_timeouts ?? 0}`);
  return parts.join('  ');
}

function serverRow(s: StatusServer): string[] {
  return [
    clean(s.name) + (s.backup ? ' (backup)' : ''),
    clean(s.address),
    clean(s.state),
    clean(s.health ?? '-'),
    String(s.weight ?? '-'),
    withLimit(s.active ?? 0, s.max_connections),
    String(s.total ?? 0),
    formatBytes(s.bytes_in ?? 0),
    formatBytes(s.bytes_out ?? 0),
    formatCheck(s.check ?? null),
  ];
}

/** `12`, or `12/40` against a limit. */
function withLimit(n: number, limit: number | null | undefined): string {
  return limit != null ? `${n}/${limit}` : String(n);
}

/** `ok 1.2ms`, the check's error, or `-` before the first check (or without checks). */
export function formatCheck(check: StatusCheck | null): string {
  if (!check) return '-';
  if (check.ok) return `ok ${formatMs(check.ms)}`;
  return clean(check.error || 'failed');
}

function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  return ms < 100 ? `${ms.toFixed(1)}ms` : `${Math.round(ms)}ms`;
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** 512B, 1.2KiB, 35KiB, 4.0GiB: one decimal below 100 of a unit. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '-';
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${Math.round(value)}B`;
  // 1023.96 KiB would print as "1024KiB": move up a unit instead.
  if (value >= 1023.5 && unit < BYTE_UNITS.length - 1) return `1.0${BYTE_UNITS[unit + 1]}`;
  const shownValue = value < 99.95 ? value.toFixed(1) : String(Math.round(value));
  return `${shownValue}${BYTE_UNITS[unit]}`;
}

/** 45s, 5m03s, 2h03m, 3d04h. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.floor(seconds);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${pad(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86400)}d${pad(Math.floor(s / 3600) % 24)}h`;
}

function list(items: readonly string[] | undefined): string {
  return items && items.length > 0 ? items.map(clean).join(',') : '-';
}

/** Printable ASCII only, on one line. */
function clean(s: string | null | undefined): string {
  if (s === null || s === undefined || s === '') return '-';
  return String(s)
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?');
}

function columnWidths(rows: readonly string[][]): number[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return widths;
}

/** Columns padded to their width, two spaces apart; the last column is not padded. */
function alignRow(row: readonly string[], widths: readonly number[]): string {
  return row
    .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
    .join('  ')
    .trimEnd();
}

function table(header: string[], rows: string[][], indent: string): string[] {
  const widths = columnWidths([header, ...rows]);
  return [header, ...rows].map((r) => indent + alignRow(r, widths));
}
