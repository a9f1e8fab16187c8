/**
 * The status page served at `GET /` on the admin port: one self-contained
 * HTML document (inline CSS and vanilla JS, no external asset, works offline)
 * that polls the JSON API (`api/status`, relative so it also works behind a
 * path prefix) every 2 s and sets server states through
 * `POST api/services/S/servers/N/state`. That POST is same-origin and sends
 * `Content-Type: application/json`: the API refuses a change with any other
 * body type or from any other origin (cross-site request forgery).
 *
 * Invariants:
 * - API data never reaches the HTML parser: the script builds elements with
 *   createElement and sets text with textContent / setAttribute only.
 * - A failed poll keeps the last data on screen and shows the "daemon
 *   unreachable" banner; the next successful poll clears it.
 * - Stable hooks for tests and scripts: `tr[data-service][data-server][data-state]`,
 *   `button[data-action]`, `[data-vrrp][data-state]`, `body[data-loaded="1"]`
 *   after the first render, `body[data-reachable]`, `#message`, `#token`.
 */

const STYLE = `
:root{--bg:#f6f7f9;--panel:#fff;--fg:#1f2328;--muted:#656d76;--line:#d8dee4;--hover:#f3f5f8;--writer:#fff8e1;
--ok:#1a7f37;--ok-bg:#dafbe1;--info:#0969da;--info-bg:#ddf4ff;--bad:#cf222e;--bad-bg:#ffebe9;
--warn:#9a6700;--warn-bg:#fff8c5;--maint:#8250df;--maint-bg:#fbefff;--idle:#57606a;--idle-bg:#eaeef2;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--panel:#161b22;--fg:#e6edf3;--muted:#8d96a0;--line:#30363d;--hover:#1c2129;
--writer:#2a2410;--ok:#3fb950;--ok-bg:#12261a;--info:#58a6ff;--info-bg:#0c2340;--bad:#f85149;--bad-bg:#3a1418;
--warn:#d29922;--warn-bg:#2e2410;--maint:#bc8cff;--maint-bg:#2a1a40;--idle:#8d96a0;--idle-bg:#21262d}}
*{box-sizing:border-box}[hidden]{display:none!important}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:12.5px}
header.top{display:flex;flex-wrap:wrap;align-items:center;gap:8px 24px;padding:12px 20px;background:var(--panel);border-bottom:1px solid var(--line)}
.brand{font-weight:700;letter-spacing:.02em}.brand small{font-weight:400;color:var(--muted);margin-left:6px}
.facts{display:flex;flex-wrap:wrap;gap:4px 18px;color:var(--muted);margin:0}.facts b{color:var(--fg);font-weight:600}
.auth{margin-left:auto;display:flex;align-items:center;gap:6px;color:var(--muted)}
.auth input{font:inherit;padding:3px 6px;border:1px solid var(--line);border-radius:4px;background:var(--bg);color:var(--fg);width:14em}
main{padding:16px 20px 40px;max-width:1600px;margin:0 auto}
body.stale main{opacity:.6}
.banner{margin:0;padding:8px 20px;background:var(--bad-bg);color:var(--bad);font-weight:600;border-bottom:1px solid var(--bad)}
.message{display:flex;align-items:center;gap:10px;margin:0 0 14px;padding:8px 12px;border-radius:6px;border:1px solid var(--line);background:var(--panel)}
.message[data-kind=error]{border-color:var(--bad);color:var(--bad);background:var(--bad-bg)}
.message[data-kind=ok]{border-color:var(--ok);color:var(--ok);background:var(--ok-bg)}
.message span{flex:1}.message button{border:0;background:none;color:inherit;font-size:16px;cursor:pointer}
h2{font-size:15px;margin:0}h3{font-size:14px;margin:0}
.section-title{font-size:12px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);margin:18px 0 8px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:12px}
.card{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.card header{display:flex;align-items:center;justify-content:space-between;margin-bottom:8px}
.card dl{display:grid;grid-template-columns:auto 1fr;gap:3px 12px;margin:0}.card dt{color:var(--muted)}.card dd{margin:0}
.service{background:var(--panel);border:1px solid var(--line);border-radius:8px;margin-bottom:14px;overflow:hidden}
.svc-head{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 18px;padding:10px 14px;border-bottom:1px solid var(--line)}
.svc-head .facts{font-size:13px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px;font-variant-numeric:tabular-nums}
th,td{padding:5px 8px;text-align:left;white-space:nowrap;border-bottom:1px solid var(--line)}
th{font-weight:600;color:var(--muted);font-size:12px;background:var(--bg)}
tbody tr:last-child td{border-bottom:0}tbody tr:hover td{background:var(--hover)}
td:first-child{position:sticky;left:0;background:var(--panel)}th:first-child{position:sticky;left:0}
tr.writer td{background:var(--writer)}
.num{text-align:right}
.check{max-width:17em;overflow:hidden;text-overflow:ellipsis}.check.bad{color:var(--bad)}.check.ok{color:var(--ok)}
.badge{display:inline-block;min-width:4.5em;text-align:center;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;background:var(--idle-bg);color:var(--idle)}
.s-master,.s-up{background:var(--ok-bg);color:var(--ok)}.s-backup{background:var(--info-bg);color:var(--info)}
.s-fault,.s-down{background:var(--bad-bg);color:var(--bad)}.s-drain{background:var(--warn-bg);color:var(--warn)}.s-maint{background:var(--maint-bg);color:var(--maint)}
.tag{display:inline-block;margin-left:6px;padding:0 6px;border-radius:4px;font-size:11px;font-weight:600;background:var(--warn-bg);color:var(--warn)}
.muted{color:var(--muted)}.bad{color:var(--bad)}
.actions{display:flex;gap:4px}
.actions button{font:inherit;font-size:12px;padding:2px 9px;border:1px solid var(--line);border-radius:4px;background:var(--panel);color:var(--fg);cursor:pointer}
.actions button:hover:not(:disabled){border-color:var(--info);color:var(--info)}
.actions button:disabled{cursor:default;color:var(--muted);background:var(--bg)}
.empty{padding:12px 14px;color:var(--muted)}
@media (max-width:700px){header.top,main{padding-left:10px;padding-right:10px}.auth{margin-left:0;width:100%}.auth input{flex:1}}
`;

// Plain ES2020 for the browser. Kept free of backticks and dollar-brace so it
// can live in this template literal unchanged.
const SCRIPT = `
'use strict';
const REFRESH_MS = 2000;
const TOKEN_KEY = 'baton.admin.token';
const KNOWN_STATES = ['master', 'backup', 'fault', 'init', 'up', 'down', 'drain', 'maint'];
const $ = (id) => document.getElementById(id);
let lastAt = 0;
let timer = 0;
let messageTimer = 0;

// Builds an element. Children that are not nodes become text nodes, so data
// from the API is never parsed as HTML.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'title') el.title = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}
const stateClass = (s) => 's-' + (KNOWN_STATES.includes(s) ? s : 'unknown');
const badge = (s) => h('span', { class: 'badge ' + stateClass(s) }, s == null ? 'unknown' : s);
const num = (n) => (Number(n) || 0).toLocaleString('en-US');
const pad = (n) => (n < 10 ? '0' : '') + n;
const clock = (ms) => { const d = new Date(ms); return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()); };

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = Number(n) || 0;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? String(v) : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)) + ' ' + units[i];
}

function duration(seconds) {
  const s = Math.floor(Number(seconds) || 0);
  const d = Math.floor(s / 86400), hr = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return d + 'd ' + hr + 'h';
  if (hr) return hr + 'h ' + pad(m) + 'm';
  if (m) return m + 'm ' + pad(s % 60) + 's';
  return s + 's';
}

function fact(label, value) { return h('span', null, label + ' ', h('b', null, value)); }

function renderVrrp(v) {
  const eff = v.effective_priority;
  const prio = eff !== undefined && eff !== v.priority ? h('span', null, String(v.priority) + ' \\u2192 ', h('b', { class: 'bad' }, String(eff))) : String(v.priority);
  const faults = v.faults || [];
  return h('article', { class: 'card', 'data-vrrp': v.name, 'data-state': v.state },
    h('header', null, h('h3', null, v.name), badge(v.state)),
    h('dl', null,
      h('dt', null, 'Priority'), h('dd', null, prio),
      h('dt', null, 'Master'), h('dd', { class: 'mono' }, v.master || (v.state === 'master' ? 'this node' : '\\u2014')),
      h('dt', null, 'VIPs'), h('dd', { class: 'mono' }, (v.virtual_ips || []).join(', ') || '\\u2014'),
      v.interface ? [h('dt', null, 'Interface'), h('dd', null, v.interface + (v.router_id ? ' \\u00b7 router id ' + v.router_id : ''))] : null,
      h('dt', null, 'Faults'), h('dd', { class: faults.length ? 'bad' : 'muted' }, faults.length ? faults.join('; ') : 'none'),
      v.why ? [
        h('dt', null, 'Why'), h('dd', { 'data-why': 'reason' }, v.why.reason + ' (' + duration(v.why.since_s) + ' ago)'),
        h('dt', null, 'Adverts'), h('dd', { class: 'mono', 'data-why': 'adverts' }, (v.why.adverts || []).map((a) => a.from + ' prio ' + a.priority + ', ' + a.age_s.toFixed(2) + ' s ago').join('; ') || 'none heard'),
        h('dt', null, 'Master down'), h('dd', { class: 'mono', 'data-why': 'master-down' }, v.why.master_down.arithmetic + (v.why.master_down.left_ms === null ? '' : ', ' + v.why.master_down.left_ms + ' ms left')),
      ] : null));
}

function renderCheck(c) {
  if (!c) return h('td', { 'data-col': 'check', class: 'check muted' }, '\\u2014');
  if (c.ok) return h('td', { 'data-col': 'check', class: 'check ok' }, 'ok' + (typeof c.ms === 'number' ? ' ' + c.ms.toFixed(1) + ' ms' : ''));
  const text = c.error || 'failed';
  return h('td', { 'data-col': 'check', class: 'check bad', title: text }, text);
}

function renderServer(svc, s) {
  const isWriter = svc.writer != null && svc.writer === s.name;
  const td = (col, cls, ...children) => h('td', { 'data-col': col, class: cls }, ...children);
  const action = (name, label) => h('button', { type: 'button', 'data-action': name, disabled: s.admin === name, 'aria-pressed': String(s.admin === name) }, label);
  return h('tr', { 'data-service': svc.name, 'data-server': s.name, 'data-state': s.state, class: isWriter ? 'writer' : null },
    td('name', null, h('b', null, s.name), isWriter ? h('span', { class: 'tag' }, 'writer') : null),
    td('address', 'mono', s.address),
    td('state', null, badge(s.state)),
    td('health', s.health === 'down' ? 'bad' : null, s.health == null ? '\\u2014' : s.health),
    renderCheck(s.check),
    td('weight', 'num', num(s.weight)),
    td('backup', 'muted', s.backup ? 'backup' : '\\u2014'),
    td('active', 'num', s.max_connections != null ? num(s.active) + ' / ' + num(s.max_connections) : num(s.active)),
    td('total', 'num', num(s.total)),
    td('bytes-in', 'num', bytes(s.bytes_in)),
    td('bytes-out', 'num', bytes(s.bytes_out)),
    td('connect-errors', 'num' + (s.connect_errors ? ' bad' : ''), num(s.connect_errors)),
    td('actions', null, h('div', { class: 'actions' }, action('ready', 'Ready'), action('drain', 'Drain'), action('maint', 'Maint'))));
}

const COLUMNS = [['Server'], ['Address'], ['State'], ['Health'], ['Check'], ['Weight', 'num'], ['Backup'], ['Active', 'num'],
  ['Total', 'num'], ['In', 'num'], ['Out', 'num'], ['Errors', 'num'], ['Set state']];

function renderService(svc) {
  const servers = svc.servers || [];
  return h('section', { class: 'service', 'data-service': svc.name },
    h('div', { class: 'svc-head' }, h('h2', null, svc.name),
      h('p', { class: 'facts' }, fact('listen', svc.listen), fact('balance', svc.balance),
        svc.balance === 'writer' || svc.writer ? fact('writer', svc.writer || 'none') : null,
        svc.decision && svc.decision.epoch !== null ? h('span', { 'data-why': 'decision' }, 'epoch ', h('b', null, String(svc.decision.epoch)), ' decided by ', h('b', null, svc.decision.decided_by || '?'), ' (' + (svc.decision.reason || '') + ')') : null,
        fact('connections', num(svc.active) + (svc.max_connections != null ? ' of ' + num(svc.max_connections) : '') + ' active / ' + num(svc.total) + ' total'),
        svc.max_connections != null || servers.some((s) => s.max_connections != null) || svc.queued
          ? h('span', { 'data-why': 'queue' }, fact('queued', num(svc.queued || 0) + ' (' + num(svc.queue_timeouts || 0) + ' timed out)'))
          : null,
        svc.switch && svc.switch.running ? h('span', { 'data-why': 'switch' }, 'switching ' + (svc.switch.from || 'none') + ' \u2192 ' + svc.switch.to + ' (' + svc.switch.phase + ', ' + svc.switch.elapsed_s + ' s)') : null,
        svc.balance === 'writer' ? h('button', { type: 'button', 'data-switch': svc.name, disabled: !!(svc.switch && svc.switch.running) }, 'Switch writer') : null)),
    servers.length === 0 ? h('p', { class: 'empty' }, 'No servers.') :
      h('div', { class: 'scroll' }, h('table', null,
        h('thead', null, h('tr', null, COLUMNS.map(([t, c]) => h('th', { class: c || null, scope: 'col' }, t)))),
        h('tbody', null, servers.map((s) => renderServer(svc, s))))));
}

function render(st) {
  $('node').textContent = st.node;
  $('facts').replaceChildren(fact('version', st.version), fact('uptime', duration(st.uptime_s)),
    fact('workers', String(st.workers)), fact('pid', String(st.pid)), fact('updated', clock(lastAt)));
  document.title = st.node + ' \\u00b7 Baton';
  if (st.auth && st.auth.token_required) $('auth').hidden = false;
  const vrrp = st.vrrp || [];
  $('vrrp-title').hidden = vrrp.length === 0;
  $('vrrp').replaceChildren(...vrrp.map(renderVrrp));
  const services = st.services || [];
  $('services').replaceChildren(...(services.length ? services.map(renderService) : [h('p', { class: 'empty' }, 'No services configured.')]));
}

function setReachable(ok) {
  document.body.dataset.reachable = ok ? '1' : '0';
  document.body.classList.toggle('stale', !ok && lastAt > 0);
  $('banner').hidden = ok;
  if (!ok) $('banner').textContent = 'Daemon unreachable' + (lastAt ? ' \\u2014 showing data from ' + clock(lastAt) : ' \\u2014 no data yet') + '; retrying every ' + REFRESH_MS / 1000 + ' s.';
}

function say(kind, text) {
  clearTimeout(messageTimer);
  $('message').dataset.kind = kind;
  $('message-text').textContent = text;
  $('message').hidden = false;
  if (kind === 'ok') messageTimer = setTimeout(() => { $('message').hidden = true; }, 5000);
}

async function refresh() {
  clearTimeout(timer);
  let st = null;
  try {
    const res = await fetch('api/status?why=1', { cache: 'no-store', headers: { Accept: 'application/json' }, signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error('HTTP ' + res.status);
    st = await res.json();
  } catch (err) {
    setReachable(false);
  }
  if (st) {
    lastAt = Date.now();
    setReachable(true);
    try {
      render(st);
      document.body.dataset.loaded = '1';
    } catch (err) {
      say('error', 'Could not show the status: ' + (err && err.message ? err.message : String(err)));
    }
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

function readToken() { try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; } }
function writeToken(v) { try { if (v) sessionStorage.setItem(TOKEN_KEY, v); else sessionStorage.removeItem(TOKEN_KEY); } catch {} }

async function setState(service, server, state, button) {
  const target = service + '/' + server;
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  const token = $('token').value.trim();
  if (token) headers.Authorization = 'Bearer ' + token;
  button.disabled = true;
  let res;
  try {
    res = await fetch('api/services/' + encodeURIComponent(service) + '/servers/' + encodeURIComponent(server) + '/state',
      { method: 'POST', headers, body: JSON.stringify({ state }), signal: AbortSignal.timeout(5000) });
  } catch (err) {
    button.disabled = false;
    say('error', 'Could not set ' + target + ' to ' + state + ': daemon unreachable.');
    return;
  }
  if (res.ok) {
    say('ok', target + ' set to ' + state + '.');
  } else {
    let body = null;
    try { body = await res.json(); } catch {}
    const e = (body && body.error) || {};
    say('error', 'Could not set ' + target + ' to ' + state + ': ' + res.status + (e.code ? ' ' + e.code : '') + (e.message ? ' \\u2014 ' + e.message : ''));
    if (res.status === 401) { $('auth').hidden = false; $('token').focus(); }
  }
  await refresh();
}

async function switchWriter(service, button) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  const token = $('token').value.trim();
  if (token) headers.Authorization = 'Bearer ' + token;
  button.disabled = true;
  let res;
  try {
    res = await fetch('api/services/' + encodeURIComponent(service) + '/writer', { method: 'POST', headers, body: JSON.stringify({}), signal: AbortSignal.timeout(5000) });
  } catch (err) {
    button.disabled = false;
    say('error', 'Could not switch the writer of ' + service + ': daemon unreachable.');
    return;
  }
  let body = null;
  try { body = await res.json(); } catch {}
  if (res.ok) {
    say('ok', service + ': switching the writer ' + ((body && body.from) || 'none') + ' \u2192 ' + ((body && body.to) || '?') + ' (drain 30 s, hold 5 s).');
  } else {
    const e = (body && body.error) || {};
    say('error', 'Could not switch the writer of ' + service + ': ' + res.status + (e.code ? ' ' + e.code : '') + (e.message ? ' \u2014 ' + e.message : ''));
    if (res.status === 401) { $('auth').hidden = false; $('token').focus(); }
  }
  await refresh();
}

document.addEventListener('click', (ev) => {
  const sw = ev.target instanceof Element ? ev.target.closest('button[data-switch]') : null;
  if (sw) { void switchWriter(sw.dataset.switch, sw); return; }
  const button = ev.target instanceof Element ? ev.target.closest('button[data-action]') : null;
  const row = button ? button.closest('tr[data-service][data-server]') : null;
  if (row) void setState(row.dataset.service, row.dataset.server, button.dataset.action, button);
});
$('message-close').addEventListener('click', () => { $('message').hidden = true; });
$('auth').addEventListener('submit', (ev) => ev.preventDefault());
$('token').value = readToken();
$('token').addEventListener('input', () => writeToken($('token').value.trim()));
void refresh();
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Baton status</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body data-loaded="0">
<header class="top">
<div class="brand">Baton<small id="node"></small></div>
<p class="facts" id="facts"><span class="muted">loading\u2026</span></p>
<form class="auth" id="auth" hidden><label for="token">Admin token</label><input id="token" type="password" autocomplete="off" spellcheck="false" placeholder="Bearer token"></form>
</header>
<p class="banner" id="banner" role="alert" hidden></p>
<main>
<div class="message" id="message" role="status" aria-live="polite" hidden><span id="message-text"></span><button type="button" id="message-close" aria-label="Dismiss">\u00d7</button></div>
<noscript><p class="message" data-kind="error">This page needs JavaScript; the same data is at <a href="api/status">api/status</a>.</p></noscript>
<h2 class="section-title" id="vrrp-title" hidden>VRRP</h2>
<div class="cards" id="vrrp"></div>
<h2 class="section-title">Services</h2>
<div id="services"></div>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;

/** The status page: one complete HTML document, the same for every request. */
export function renderStatusPage(): string {
  return PAGE;
}
