/**
 * `baton status --why` as text: after the usual status, the reasons behind
 * each state. Per VRRP instance the adverts heard (source, priority, age),
 * the master-down arithmetic (RFC 5798 §6.1) and the last transition's
 * reason; per server the last check (result, layer, ms) and the rise/fall
 * counter; per writer service the writer, its epoch, who decided it and why.
 *
 * Invariants: a pure function of the status document (no clock); a daemon
 * that sent no `why` fields (an older one) gives "-" rather than an error.
 */
import type { AdminStatus } from './admin-client.js';

const clean = (s: string | null | undefined): string =>
  s === null || s === undefined || s === '' ? '-' : String(s).replace(/[\r\n\t]+/g, ' ').replace(/[^\x20-\x7e]/g, '?');
const secs = (s: number | null | undefined): string => (s === null || s === undefined ? '-' : `${s < 10 ? s.toFixed(2) : s.toFixed(1)}s`);

export function formatWhy(status: AdminStatus): string {
  const out: string[] = ['', 'why:'];
  for (const v of status.vrrp ?? []) {
    const w = v.why;
    out.push(`  vrrp ${clean(v.name)}: ${clean(String(v.state).toUpperCase())} since ${secs(w?.since_s)} (${clean(w?.reason)})`);
    if (!w) continue;
    if (w.adverts.length === 0) out.push('    adverts heard: none');
    for (const a of w.adverts) out.push(`    advert from ${clean(a.from)} priority ${a.priority}, ${secs(a.age_s)} ago (${a.count} heard)`);
    const md = w.master_down;
    const left = md.left_ms === null ? 'not running' : `${md.left_ms}ms left`;
    out.push(`    master down: ${clean(md.arithmetic)}; timer ${left}`);
  }
  for (const svc of status.services ?? []) {
    if (svc.balance === 'writer') {
      const d = svc.decision;
      const decided = d && d.epoch !== null ? `epoch ${d.epoch}, decided by ${clean(d.decided_by)} (${clean(d.reason)})` : 'no shared decision';
      out.push(`  service ${clean(svc.name)}: writer ${clean(svc.writer ?? 'none')}, ${decided}${d ? `; this node ${d.role === 'decide' ? 'decides' : 'adopts'}: ${clean(d.why)}` : ''}`);
    }
    for (const srv of svc.servers ?? []) {
      const w = srv.why;
      if (!w) continue;
      const check = w.last_check ? `${clean(w.last_check.result)} ${clean(w.last_check.layer)} ${w.last_check.ms}ms` : 'no check yet';
      const counter = w.counter ? `counter ${w.counter.value} (up at >= ${w.counter.rise}, rise ${w.counter.rise}, fall ${w.counter.fall}), ${w.counter.checks} checks` : 'no checks';
      out.push(`    server ${clean(svc.name)}/${clean(srv.name)}: ${clean(srv.health)} since ${secs(w.since_s)}; last check ${check}; ${counter}`);
    }
  }
  return out.join('\n') + '\n';
}
