/**
 * The deployment files shipped next to the code: the Grafana dashboard
 * (config/grafana/baton.json), the systemd unit (config/systemd/baton.service)
 * and the Dockerfile (with .dockerignore). Each is read by a small checker
 * that returns its problems as strings; the tests assert the shipped files
 * have none, and that a broken copy of each has the expected one, so a
 * checker that stops checking fails too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { requireCapability } from '@baton/core';
import { join, posix } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository (this file runs as test/dist/config-artifacts.test.js). */
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

// ---------------------------------------------------------------- metric names (from the daemon's registry)

/**
 * Every metric the daemon's registry holds, with its type: the built
 * BatonMetrics (the class GET /metrics renders) on a real, empty control
 * plane. So a metric added to or renamed in the code is seen here.
 */
async function registryMetrics(): Promise<Map<string, string>> {
  const built = (rel: string) => pathToFileURL(join(repoRoot, 'packages/baton/dist/src', rel)).href;
  const { BatonMetrics } = (await import(built('admin/metrics.js'))) as typeof import('../packages/baton/src/admin/metrics.js');
  const { ControlPlane } = (await import(built('control-plane.js'))) as typeof import('../packages/baton/src/control-plane.js');
  const control = new ControlPlane({ setServerState: () => undefined, setWriter: () => undefined });
  const metrics = new BatonMetrics({ config: () => undefined, control, counters: async () => [], vrrp: () => [] });
  const out = new Map<string, string>();
  for (const m of await metrics.registry.getMetricsAsJSON()) out.set(m.name, String(m.type));
  return out;
}
const REGISTRY = await registryMetrics();
/** Baton's own series (the registry also holds Node's process metrics). */
const BATON_METRICS = [...REGISTRY.keys()].filter((n) => n.startsWith('baton_'));
const HISTOGRAMS = new Set([...REGISTRY].filter(([, type]) => type === 'histogram').map(([name]) => name));

/** Metric names referenced by a PromQL expression (Baton's and the process ones). */
function metricNamesIn(expr: string): string[] {
  return [...expr.matchAll(/\b(?:baton|process|nodejs)_[a-z0-9_]*[a-z0-9]/g)].map((m) => m[0]);
}

/** The registry's metric a series name belongs to (a histogram's _bucket/_sum/_count map to it), or undefined. */
function metricOf(series: string): string | undefined {
  if (REGISTRY.has(series) && !HISTOGRAMS.has(series)) return series;
  const m = /^(.*)_(?:bucket|sum|count)$/.exec(series);
  return m && HISTOGRAMS.has(m[1]!) ? m[1] : undefined;
}

// ---------------------------------------------------------------- Grafana dashboard

interface Target {
  expr?: unknown;
  datasource?: { uid?: unknown };
}
interface Panel {
  id?: unknown;
  type?: unknown;
  title?: unknown;
  targets?: Target[];
  panels?: Panel[];
  datasource?: { uid?: unknown };
}
interface Dashboard {
  schemaVersion?: unknown;
  panels?: Panel[];
  templating?: { list?: { name?: unknown; type?: unknown; query?: unknown; definition?: unknown }[] };
  annotations?: { list?: { expr?: unknown }[] };
}

const DS = '${DS_PROMETHEUS}';

function allPanels(panels: Panel[] = []): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels)]);
}

function checkDashboard(d: Dashboard): string[] {
  const problems: string[] = [];
  if (d.schemaVersion !== 39) problems.push(`schemaVersion is ${String(d.schemaVersion)}, want 39`);

  const vars = d.templating?.list ?? [];
  const dsVar = vars.find((v) => v.name === 'DS_PROMETHEUS');
  if (dsVar?.type !== 'datasource' || dsVar.query !== 'prometheus') problems.push('no datasource variable DS_PROMETHEUS (type datasource, query prometheus)');
  for (const name of ['instance', 'service']) if (!vars.some((v) => v.name === name)) problems.push(`no template variable ${name}`);

  // Every PromQL text: panel targets, variable queries, annotations.
  const exprs: { where: string; expr: string }[] = [];
  const used = new Set<string>();
  const ids = new Set<unknown>();
  const panels = allPanels(d.panels);
  if (panels.length === 0) problems.push('no panels');
  for (const p of panels) {
    const where = `panel ${typeof p.title === 'string' ? JSON.stringify(p.title) : `id ${String(p.id)}`}`;
    if (typeof p.title !== 'string' || p.title.trim() === '') problems.push(`${where}: no title`);
    if (typeof p.id !== 'number' || !Number.isInteger(p.id)) problems.push(`${where}: id is not an integer`);
    else if (ids.has(p.id)) problems.push(`${where}: duplicate id ${p.id}`);
    ids.add(p.id);
    if (p.type === 'row') continue;
    if (p.datasource?.uid !== DS) problems.push(`${where}: datasource is not ${DS}`);
    const targets = p.targets ?? [];
    if (targets.length === 0) problems.push(`${where}: no query`);
    for (const t of targets) {
      if (typeof t.expr !== 'string' || t.expr.trim() === '') {
        problems.push(`${where}: a target without expr`);
        continue;
      }
      if (t.datasource?.uid !== DS) problems.push(`${where}: a target's datasource is not ${DS}`);
      exprs.push({ where, expr: t.expr });
      for (const name of metricNamesIn(t.expr)) {
        const metric = metricOf(name);
        if (metric) used.add(metric);
      }
    }
  }
  for (const v of vars) {
    const q = typeof v.query === 'object' && v.query !== null ? (v.query as { query?: unknown }).query : v.query;
    if (v.type === 'query' && typeof q === 'string') exprs.push({ where: `variable ${String(v.name)}`, expr: q });
  }
  for (const a of d.annotations?.list ?? []) if (typeof a.expr === 'string') exprs.push({ where: 'annotation', expr: a.expr });

  for (const { where, expr } of exprs) {
    const names = metricNamesIn(expr);
    if (names.length === 0) problems.push(`${where}: no Baton or process metric in ${JSON.stringify(expr)}`);
    for (const name of names) if (!metricOf(name)) problems.push(`${where}: unknown metric ${name}`);
    // The VRRP metrics' own "instance" label arrives as exported_instance
    // (honor_labels: false); "instance" there is the Baton node.
    if (names.some((n) => n.startsWith('baton_vrrp_')) && !expr.includes('exported_instance') && !where.startsWith('variable')) {
      problems.push(`${where}: a VRRP query that does not keep exported_instance (the VRRP instance name)`);
    }
  }
  for (const metric of BATON_METRICS) if (!used.has(metric)) problems.push(`no panel uses ${metric}`);
  return problems;
}

function readDashboard(): Dashboard {
  return JSON.parse(readFileSync(join(repoRoot, 'config/grafana/baton.json'), 'utf8')) as Dashboard;
}

test('grafana dashboard: only metric names the registry has, titled panels with unique ids, every baton_ metric shown', () => {
  assert.deepEqual(checkDashboard(readDashboard()), []);
});

test('grafana dashboard checker: finds an unknown metric, a duplicate id, a missing title and an unused metric', () => {
  const broken = readDashboard();
  const panels = allPanels(broken.panels).filter((p) => p.type !== 'row');
  const [first, second, third] = panels;
  assert.ok(first && second && third);
  first.targets = [{ expr: 'rate(baton_server_conections_total[5m])', datasource: { uid: DS } }];
  second.id = third.id;
  delete second.title;
  // Remove every use of the writer-changes metric.
  for (const p of panels) p.targets = (p.targets ?? []).filter((t) => typeof t.expr !== 'string' || !t.expr.includes('baton_service_writer_changes_total'));
  const problems = checkDashboard(broken);
  assert.ok(problems.some((p) => p.includes('unknown metric baton_server_conections_total')), problems.join('\n'));
  assert.ok(problems.some((p) => p.includes(`duplicate id ${String(third.id)}`)), problems.join('\n'));
  assert.ok(problems.some((p) => p.endsWith(': no title')), problems.join('\n'));
  assert.ok(problems.includes('no panel uses baton_service_writer_changes_total'), problems.join('\n'));
});

test('grafana dashboard checker: a VRRP query grouped by instance only is flagged', () => {
  const broken = readDashboard();
  const panel = allPanels(broken.panels).find((p) => (p.targets ?? []).some((t) => String(t.expr).includes('baton_vrrp_adverts_sent_total')));
  assert.ok(panel);
  panel.targets = [{ expr: 'sum by (instance) (rate(baton_vrrp_adverts_sent_total[5m]))', datasource: { uid: DS } }];
  assert.ok(checkDashboard(broken).some((p) => p.includes('exported_instance')));
});

test('metric name extraction keeps digits and maps histogram series to their metric', () => {
  assert.deepEqual(metricNamesIn('nodejs_eventloop_lag_p99_seconds{instance=~"$instance"}'), ['nodejs_eventloop_lag_p99_seconds']);
  assert.equal(metricOf('baton_health_check_duration_seconds_bucket'), 'baton_health_check_duration_seconds');
  assert.equal(metricOf('baton_health_check_duration_seconds'), undefined, 'a histogram has no bare series');
  assert.equal(metricOf('baton_server_connections_total_bucket'), undefined);
});

test('the registry read here is the daemon\'s: baton_ metrics of every type, baton_server_state among them', () => {
  // Guards the checks above and below against an empty or wrong registry,
  // which would make "every metric shown" and "every metric documented" vacuous.
  assert.ok(BATON_METRICS.length >= 10, `baton_ metrics in the registry: ${BATON_METRICS.join(', ')}`);
  for (const name of ['baton_vrrp_state', 'baton_server_state', 'baton_server_up']) assert.equal(REGISTRY.get(name), 'gauge', name);
  assert.equal(REGISTRY.get('baton_server_connections_total'), 'counter');
  assert.deepEqual([...HISTOGRAMS].filter((n) => n.startsWith('baton_')).sort(), ['baton_health_check_duration_seconds', 'baton_service_queue_seconds']);
  assert.ok(REGISTRY.has('process_cpu_seconds_total') && REGISTRY.has('nodejs_eventloop_lag_p99_seconds'), 'Node\'s process metrics are in the registry');
});

// ---------------------------------------------------------------- metric docs

const METRIC_DOC = 'docs/operations.md';
const METRIC_SECTION = '## Metrics and the Grafana dashboard';

/**
 * The metric table of the docs against the registry: every baton_ metric has
 * a row whose type is the registry's, no row names a metric the registry does
 * not have; and every baton_ name in any of `texts` (queries in prose) is a
 * real metric or series.
 */
function checkMetricDocs(table: string, texts: Record<string, string>): string[] {
  const problems: string[] = [];
  const at = table.indexOf(`\n${METRIC_SECTION}\n`);
  if (at < 0) return [`no section "${METRIC_SECTION}"`];
  const lines = table.slice(at).split('\n').slice(1);
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows = first < 0 ? [] : lines.slice(first, first + lines.slice(first).findIndex((l) => !l.startsWith('|')));
  const documented = new Map<string, string>();
  for (const row of rows.slice(2)) {
    const cells = row.split('|').map((c) => c.trim());
    const names = [...(cells[1] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    const type = /^(gauge|counter|histogram|summary)\b/.exec(cells[2] ?? '')?.[1] ?? `unreadable type "${cells[2]}"`;
    for (const n of names) documented.set(n, type);
  }
  for (const name of BATON_METRICS) {
    const type = documented.get(name);
    if (type === undefined) problems.push(`${name} is not in the metric table`);
    else if (type !== REGISTRY.get(name)) problems.push(`${name} is documented as ${type}, the registry has a ${REGISTRY.get(name)}`);
  }
  for (const name of documented.keys()) if (!REGISTRY.has(name)) problems.push(`the metric table lists ${name}, which the registry does not have`);
  for (const [file, text] of Object.entries(texts)) {
    for (const m of text.matchAll(/\bbaton_[a-z0-9_]*[a-z0-9]/g)) if (!REGISTRY.has(m[0]) && !metricOf(m[0])) problems.push(`${file}: unknown metric ${m[0]}`);
  }
  return problems;
}

function docTexts(): Record<string, string> {
  const files = ['README.md', ...readdirSync(join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  return Object.fromEntries(files.map((f) => [f, readFileSync(join(repoRoot, f), 'utf8')]));
}

test('metric docs: the table in docs/operations.md has every baton_ metric of the registry, with its type; the docs name no other', () => {
  const texts = docTexts();
  assert.deepEqual(checkMetricDocs(texts[METRIC_DOC]!, texts), []);
});

test('metric docs checker: finds a missing row, a wrong type, a row the registry lacks and a misspelt name in a query', () => {
  const texts = docTexts();
  const doc = texts[METRIC_DOC]!;
  const cases: [string, string, RegExp][] = [
    ['missing', doc.replace(/^\| `baton_server_state` .*\n/m, ''), /baton_server_state is not in the metric table/],
    ['wrong type', doc.replace(/^(\| `baton_server_up` \| )gauge/m, '$1counter'), /baton_server_up is documented as counter, the registry has a gauge/],
    ['extra row', doc.replace(/^(\| `baton_server_up` .*\n)/m, '$1| `baton_server_weight` | gauge | service, server |\n'), /lists baton_server_weight/],
    ['misspelt', doc.replace('rate(baton_server_bytes_total[5m])', 'rate(baton_server_byte_total[5m])'), /unknown metric baton_server_byte_total/],
  ];
  for (const [name, broken, re] of cases) {
    assert.notEqual(broken, doc, `${name}: the replacement changed nothing`);
    const problems = checkMetricDocs(broken, { ...texts, [METRIC_DOC]: broken });
    assert.ok(problems.some((p) => re.test(p)), `${name}: ${problems.join('; ') || 'no problem found'}`);
  }
});

// ---------------------------------------------------------------- the baton command (npm bin)

/**
 * npm links a workspace's bin into node_modules/.bin only if the file exists
 * at install time, and dist/ is built after the install: so "bin" must name
 * a committed file (packages/baton/bin/baton.js) that loads the built CLI.
 */
const BATON_PKG = 'packages/baton';

function binOfPackage(): string | undefined {
  const pkg = JSON.parse(readFileSync(join(repoRoot, BATON_PKG, 'package.json'), 'utf8')) as { bin?: Record<string, string> | string };
  const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.baton;
  return bin === undefined ? undefined : posix.join(BATON_PKG, posix.normalize(bin));
}

test('the baton bin is a committed, executable file outside dist/, so npm install can link it before the build', () => {
  const bin = binOfPackage();
  assert.ok(bin, `${BATON_PKG}/package.json has no bin "baton"`);
  assert.ok(!bin.split('/').includes('dist'), `bin ${bin} is under dist/, which does not exist when npm install links bins`);
  const tracked = spawnSync('git', ['ls-files', '--stage', '--', bin], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(tracked.status, 0, tracked.stderr);
  assert.match(tracked.stdout, /^100755 /, `${bin} is not committed as an executable file: ${JSON.stringify(tracked.stdout)}`);
  assert.ok(readFileSync(join(repoRoot, bin), 'utf8').startsWith('#!/usr/bin/env node\n'), `${bin} has no node shebang`);
});

test('the baton bin runs the built CLI, and without a build says how to build', () => {
  const bin = join(repoRoot, binOfPackage() ?? 'no-bin');
  const help = spawnSync(bin, ['--help'], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^Usage: baton /m);
  const check = spawnSync(bin, ['check', '-c', join(repoRoot, 'config/baton.yaml')], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);

  // A copy of the bin with no dist/ beside it: a clear message, exit 1.
  const dir = mkdtempSync(join(tmpdir(), 'baton-bin-'));
  try {
    mkdirSync(join(dir, 'bin'));
    copyFileSync(bin, join(dir, 'bin/baton.js'));
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
    const unbuilt = spawnSync(process.execPath, [join(dir, 'bin/baton.js'), '--help'], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(unbuilt.status, 1, `${unbuilt.stdout}${unbuilt.stderr}`);
    assert.match(unbuilt.stderr, /not built yet[\s\S]*npm run build/);
    assert.equal(unbuilt.stdout, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('npm install linked node_modules/.bin/baton to the bin', (t) => {
  const link = join(repoRoot, 'node_modules/.bin/baton');
  if (!requireCapability(t, existsSync(link), `${link} is missing: this node_modules was installed before the bin existed; run npm install`)) return;
  assert.equal(realpathSync(link), realpathSync(join(repoRoot, binOfPackage() ?? 'no-bin')));
});

// ---------------------------------------------------------------- systemd unit

/** key -> values of one section of a unit file (a key may repeat). */
function unitSection(text: string, section: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current = '';
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = header[1]!;
      continue;
    }
    if (current !== section) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim();
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return out;
}

/** The capability set a list of CapabilityBoundingSet=/AmbientCapabilities= lines leaves (an empty value resets). */
function capabilities(values: string[] | undefined): Set<string> | string {
  const caps = new Set<string>();
  for (const v of values ?? []) {
    if (v.startsWith('~')) return `inverted list ${v}`;
    if (v === '') caps.clear();
    for (const c of v.split(/\s+/).filter(Boolean)) caps.add(c);
  }
  return caps;
}

const CLI_IN_OPT = '/opt/baton/packages/baton/dist/src/cli.js';

function checkUnit(text: string): string[] {
  const problems: string[] = [];
  const s = unitSection(text, 'Service');
  const one = (key: string) => s.get(key)?.at(-1);

  const start = s.get('ExecStart') ?? [];
  if (start.length !== 1) problems.push(`want one ExecStart, got ${start.length}`);
  else if (!start[0]!.includes(`${CLI_IN_OPT} start`)) problems.push(`ExecStart does not run ${CLI_IN_OPT} start: ${start[0]}`);
  if (!(s.get('ExecReload') ?? []).some((v) => /\bkill\s+(?:-HUP|-s\s+HUP|-SIGHUP)\s+\$MAINPID\b/.test(v))) problems.push('no ExecReload sending SIGHUP to $MAINPID');
  // Baton sends READY=1 / RELOADING=1 / STOPPING=1 from its main process (sd_notify).
  if (one('Type') !== 'notify' && one('Type') !== 'notify-reload') problems.push(`Type=${one('Type') ?? 'simple'}: systemd would not wait for Baton's READY=1`);
  if (one('NotifyAccess') !== 'main') problems.push(`NotifyAccess=${one('NotifyAccess') ?? '(default)'}: only the main process speaks sd_notify, want main`);

  const user = one('User');
  if (user === undefined || user === '') problems.push('no User=');
  else if (user === 'root' || user === '0') problems.push(`User=${user} is root`);

  const want = ['CAP_NET_ADMIN', 'CAP_NET_RAW'];
  for (const key of ['AmbientCapabilities', 'CapabilityBoundingSet']) {
    const caps = capabilities(s.get(key));
    if (typeof caps === 'string') problems.push(`${key}: ${caps}`);
    else if ([...caps].sort().join(' ') !== want.join(' ')) problems.push(`${key} is "${[...caps].sort().join(' ')}", want exactly ${want.join(' ')}`);
  }
  const stop = Number(one('TimeoutStopSec'));
  if (!(stop > 10)) problems.push(`TimeoutStopSec=${one('TimeoutStopSec')} is not above the default shutdown_timeout (10s)`);
  if (one('NoNewPrivileges') !== 'yes' && one('NoNewPrivileges') !== 'true') problems.push('NoNewPrivileges is not set');
  return problems;
}

const unitText = () => readFileSync(join(repoRoot, 'config/systemd/baton.service'), 'utf8');

test('systemd unit: ExecStart, reload by SIGHUP, a non-root user with exactly CAP_NET_ADMIN and CAP_NET_RAW', () => {
  assert.deepEqual(checkUnit(unitText()), []);
});

test('systemd unit checker: finds root, a missing reload and extra or missing capabilities', () => {
  const text = unitText();
  const cases: [string, string, RegExp][] = [
    ['root', text.replace(/^User=.*$/m, 'User=root'), /User=root is root/],
    ['no user', text.replace(/^User=.*$/m, ''), /no User=/],
    ['no reload', text.replace(/^ExecReload=.*HUP.*$/m, ''), /no ExecReload/],
    ['extra ambient', text.replace(/^AmbientCapabilities=.*$/m, 'AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW CAP_SYS_ADMIN'), /AmbientCapabilities is/],
    ['missing bound', text.replace(/^CapabilityBoundingSet=.*$/m, 'CapabilityBoundingSet=CAP_NET_ADMIN'), /CapabilityBoundingSet is/],
    ['second ambient line', `${text}\n[Service]\nAmbientCapabilities=CAP_SYS_NICE\n`, /AmbientCapabilities is/],
    ['simple', text.replace(/^Type=.*$/m, 'Type=simple'), /systemd would not wait/],
    ['notify access all', text.replace(/^NotifyAccess=.*$/m, 'NotifyAccess=all'), /NotifyAccess=all/],
    ['short stop', text.replace(/^TimeoutStopSec=.*$/m, 'TimeoutStopSec=5'), /TimeoutStopSec/],
  ];
  for (const [name, broken, re] of cases) {
    assert.notEqual(broken, text, `${name}: the replacement changed nothing`);
    const problems = checkUnit(broken);
    assert.ok(problems.some((p) => re.test(p)), `${name}: ${problems.join('; ') || 'no problem found'}`);
  }
});

test('systemd unit: ExecStart runs the CLI that the build produces', () => {
  const start = unitSection(unitText(), 'Service').get('ExecStart')?.[0] ?? '';
  const script = start.split(/\s+/).find((w) => w.startsWith('/opt/baton/'));
  assert.ok(script, start);
  assert.ok(existsSync(join(repoRoot, script.slice('/opt/baton/'.length))), `${script} is not in the built tree (npm run build)`);
});

// ---------------------------------------------------------------- Dockerfile

interface Instruction {
  keyword: string;
  args: string;
}

/** Instructions of a Dockerfile: continuations joined, comments dropped. */
function dockerInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#')) continue; // comments, also inside a continuation
    if (line === '' && pending === '') continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    if (full === '') continue;
    const m = /^(\S+)\s*(.*)$/.exec(full)!;
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]! });
  }
  return out;
}

/** Whether .dockerignore leaves `path` (relative, no leading ./) out of the build context. */
function dockerIgnored(ignore: string, path: string): boolean {
  const rules = ignore
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, '')).replace(/\/+$/, '');
      const re = pattern
        .split('/')
        .map((part) => (part === '**' ? '.*' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
        .join('/')
        .replace(/\.\*\//g, '(?:.*/)?');
      return { negate, re: new RegExp(`^${re}$`) };
    });
  // A path is out when it or one of its parents is out (the last matching rule wins).
  const parts = posix.normalize(path).replace(/\/+$/, '').split('/');
  for (let i = 1; i <= parts.length; i++) {
    const prefix = parts.slice(0, i).join('/');
    let out = false;
    for (const r of rules) if (r.re.test(prefix)) out = !r.negate;
    if (out) return true;
  }
  return false;
}

function checkDockerfile(text: string, ignore: string): string[] {
  const problems: string[] = [];
  const ins = dockerInstructions(text);
  const froms = ins.filter((i) => i.keyword === 'FROM');
  if (froms.length < 2) problems.push(`${froms.length} FROM line(s), want a build stage and a runtime stage`);
  const lastFrom = ins.lastIndexOf(froms.at(-1)!);
  const runtime = lastFrom >= 0 ? ins.slice(lastFrom) : ins;

  const users = runtime.filter((i) => i.keyword === 'USER');
  const user = users.at(-1)?.args.split(':')[0]?.trim();
  if (user === undefined) problems.push('no USER in the runtime stage');
  else if (user === 'root' || user === '0') problems.push(`USER ${user} is root`);

  // Stage name -> its WORKDIR, to map COPY --from paths back to the repository.
  const workdirOf = new Map<string, string>();
  let stage = '';
  let workdir = '/';
  for (const i of ins) {
    if (i.keyword === 'FROM') {
      stage = /\bAS\s+(\S+)/i.exec(i.args)?.[1] ?? '';
      workdir = '/';
    } else if (i.keyword === 'WORKDIR') {
      workdir = posix.resolve(workdir, i.args.trim());
      if (stage) workdirOf.set(stage, workdir);
    }
  }
  const runtimeWorkdir = posix.resolve('/', runtime.filter((i) => i.keyword === 'WORKDIR').at(-1)?.args.trim() ?? '/');

  const exec = (kw: string): string[] | undefined => {
    const i = runtime.filter((x) => x.keyword === kw).at(-1);
    if (!i) return undefined;
    try {
      const v = JSON.parse(i.args) as unknown;
      return Array.isArray(v) && v.every((s) => typeof s === 'string') ? v : undefined;
    } catch {
      return undefined;
    }
  };
  const entrypoint = exec('ENTRYPOINT');
  if (!entrypoint) problems.push('no ENTRYPOINT in exec (JSON) form');
  const argv = [...(entrypoint ?? []), ...(exec('CMD') ?? [])];
  const script = argv.find((a) => a.endsWith('.js'));
  if (!script) problems.push(`ENTRYPOINT/CMD runs no .js file: ${JSON.stringify(argv)}`);
  else {
    const inImage = posix.resolve(runtimeWorkdir, script);
    const inRepo = inImage.startsWith(`${runtimeWorkdir}/`) ? inImage.slice(runtimeWorkdir.length + 1) : undefined;
    if (inRepo !== 'packages/baton/dist/src/cli.js') problems.push(`ENTRYPOINT/CMD runs ${inImage}, not ${runtimeWorkdir}/packages/baton/dist/src/cli.js`);
    if (!inRepo || !existsSync(join(repoRoot, inRepo))) problems.push(`${inImage} is not in the built tree (npm run build)`);
    if (!argv.includes('start')) problems.push(`ENTRYPOINT/CMD does not run "start": ${JSON.stringify(argv)}`);
  }

  // Every path a COPY takes exists: from the context (and not .dockerignored), or from the build stage's tree.
  for (const i of ins.filter((x) => x.keyword === 'COPY')) {
    const words = i.args.split(/\s+/).filter(Boolean);
    const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
    const sources = words.filter((w) => !w.startsWith('--')).slice(0, -1);
    if (sources.length === 0) problems.push(`COPY ${i.args}: no source`);
    for (const src of sources) {
      let rel: string;
      if (from !== undefined) {
        const base = workdirOf.get(from);
        if (!base) {
          problems.push(`COPY --from=${from}: no such stage with a WORKDIR`);
          continue;
        }
        const abs = posix.resolve(base, src);
        if (!abs.startsWith(`${base}/`)) {
          problems.push(`COPY --from=${from} ${src}: outside ${base}`);
          continue;
        }
        rel = abs.slice(base.length + 1);
      } else {
        rel = posix.normalize(src).replace(/\/+$/, '');
        if (dockerIgnored(ignore, rel)) problems.push(`COPY ${src}: excluded by .dockerignore`);
      }
      if (!existsSync(join(repoRoot, rel))) problems.push(`COPY ${from ? `--from=${from} ` : ''}${src}: ${rel} does not exist`);
    }
  }
  return problems;
}

const dockerfile = () => readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
const dockerignore = () => readFileSync(join(repoRoot, '.dockerignore'), 'utf8');

test('Dockerfile: two stages, a non-root USER, an ENTRYPOINT on the built cli.js, every COPY source present', () => {
  assert.deepEqual(checkDockerfile(dockerfile(), dockerignore()), []);
});

test('Dockerfile checker: finds one stage, root, a wrong entrypoint and a missing or ignored COPY source', () => {
  const text = dockerfile();
  const firstFrom = /^FROM .*$/m;
  const cases: [string, string, string, RegExp][] = [
    ['one stage', text.replace(/^FROM .*\n[\s\S]*?(?=^FROM )/m, ''), dockerignore(), /FROM line/],
    ['root', text.replace(/^USER .*$/m, 'USER root'), dockerignore(), /USER root is root/],
    ['uid 0', text.replace(/^USER .*$/m, 'USER 0:0'), dockerignore(), /USER 0 is root/],
    ['no user', text.replace(/^USER .*$/m, ''), dockerignore(), /no USER/],
    ['entrypoint', text.replace(/dist\/src\/cli\.js"\]/, 'dist/cli.js"]'), dockerignore(), /not in the built tree/],
    ['shell form', text.replace(/^ENTRYPOINT .*$/m, 'ENTRYPOINT node packages/baton/dist/src/cli.js'), dockerignore(), /exec \(JSON\) form/],
    ['missing copy', text.replace(firstFrom, (l) => `${l}\nCOPY no-such-file ./`), dockerignore(), /no-such-file does not exist/],
    ['ignored copy', text, `${dockerignore()}\nconfig\n`, /COPY config\/: excluded/],
  ];
  for (const [name, broken, ignore, re] of cases) {
    const problems = checkDockerfile(broken, ignore);
    assert.ok(problems.some((p) => re.test(p)), `${name}: ${problems.join('; ') || 'no problem found'}`);
  }
});

test('.dockerignore matching', () => {
  const ignore = '**/node_modules\n**/dist\npackages/*/build\ntest\n*.md\n!KEEP.md\n';
  assert.equal(dockerIgnored(ignore, 'node_modules'), true);
  assert.equal(dockerIgnored(ignore, 'packages/baton/dist/src/cli.js'), true);
  assert.equal(dockerIgnored(ignore, 'packages/vrrp/build/Release/af_packet.node'), true);
  assert.equal(dockerIgnored(ignore, 'packages/vrrp/native/af_packet.cc'), false);
  assert.equal(dockerIgnored(ignore, 'test/e2e-cli.test.ts'), true);
  assert.equal(dockerIgnored(ignore, 'README.md'), true);
  assert.equal(dockerIgnored(ignore, 'KEEP.md'), false);
  assert.equal(dockerIgnored(ignore, 'packages/health/README.md'), false);
  assert.equal(dockerIgnored(ignore, 'config'), false);
});
