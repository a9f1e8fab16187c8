/**
 * The config loader: defaults and normalization, durations, addresses, the
 * warnings, and one broken file per kind of mistake (fixtures/bad/), each
 * asserting the key path and the exact line the error points at. The shipped
 * examples in config/ must load without a single error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  formatConfigIssue,
  loadConfigFile,
  loadConfigText,
  type BatonConfig,
  type ConfigIssue,
  type ConfigResult,
} from '../src/config/index.js';

// Compiled to dist/test/, so the sources are two directories up.
const fixture = (name: string): string => fileURLToPath(new URL(`../../test/fixtures/bad/${name}`, import.meta.url));
const warnFixture = (name: string): string => fileURLToPath(new URL(`../../test/fixtures/warn/${name}`, import.meta.url));
const example = (name: string): string => fileURLToPath(new URL(`../../../../config/${name}`, import.meta.url));

function expectOk(result: ConfigResult): { config: BatonConfig; warnings: ConfigIssue[] } {
  if (!result.ok) assert.fail(`expected no errors, got:\n${result.errors.map(formatConfigIssue).join('\n')}`);
  return result;
}

function expectErrors(result: ConfigResult): ConfigIssue[] {
  if (result.ok) assert.fail('expected errors, the config loaded');
  return result.errors;
}

const MINIMAL = `
services:
  - name: read
    listen: 127.0.0.1:6447
    servers:
      - { name: db1, address: 10.0.0.1:3306 }
`;

test('defaults fill in everything the file leaves out', () => {
  const { config, warnings } = expectOk(loadConfigText(MINIMAL, 'minimal.yaml', {}));
  assert.deepEqual(warnings, []);
  assert.deepEqual(config, {
    node: hostname(),
    admin: { listen: { host: '127.0.0.1', port: 9900 } },
    workers: 'auto',
    engine: 'native',
    shutdownTimeoutMs: 10_000,
    vrrpScheduling: { realtimePriority: 10, lockMemory: false },
    logLevel: 'info',
    vrrp: [],
    vrrpSyncGroups: [],
    services: [
      {
        name: 'read',
        listen: { host: '127.0.0.1', port: 6447 },
        balance: 'roundrobin',
        connectTimeoutMs: 2000,
        idleTimeoutMs: 8 * 3_600_000,
        retries: 2,
        queueTimeoutMs: 5000,
        logSessions: false,
        servers: [{ name: 'db1', address: { host: '10.0.0.1', port: 3306 }, weight: 1, backup: false }],
      },
    ],
  } satisfies BatonConfig);
});

test('health and writer defaults', () => {
  const text = `
services:
  - name: write
    listen: 127.0.0.1:6446
    balance: writer
    health: { check: mysql }
    servers:
      - { name: db1, address: 10.0.0.1:3306 }
`;
  const service = expectOk(loadConfigText(text, 't.yaml', {})).config.services[0];
  assert.deepEqual(service?.writer, { pick: 'first', failback: false, onChange: 'close' });
  assert.deepEqual(service?.health, {
    check: 'mysql',
    intervalMs: 2000,
    timeoutMs: 1000,
    rise: 2,
    fall: 3,
    initial: 'down',
    path: '/',
    status: 200,
    query: 'SELECT 1',
    requireWritable: false,
    donorOk: false,
  });
});

test('vrrp defaults, VIPs without a prefix are /32, notify paths become argv lists', () => {
  const text = `
vrrp:
  - name: VI_1
    interface: eth0
    router_id: 51
    virtual_ips: [10.0.0.10/24, 10.0.0.11]
    notify: [/bin/sh, [/bin/sh, -c, "exit 0"]]
    track:
      scripts:
        - { command: [/bin/true] }
`;
  const vrrp = expectOk(loadConfigText(text, 't.yaml', {})).config.vrrp[0];
  assert.deepEqual(vrrp, {
    name: 'VI_1',
    interface: 'eth0',
    routerId: 51,
    priority: 100,
    version: 3,
    advertIntervalMs: 1000,
    preempt: true,
    preemptDelayMs: 0,
    unicastPeers: [],
    virtualIps: [
      { address: '10.0.0.10', prefixLength: 24 },
      { address: '10.0.0.11', prefixLength: 32 },
    ],
    garp: { repeat: 5, intervalMs: 0, refreshMs: 0, delayMs: 5000 },
    track: {
      interfaces: [],
      services: [],
      scripts: [{ command: ['/bin/true'], intervalMs: 2000, timeoutMs: 2000, rise: 1, fall: 1, weight: 0 }],
    },
    notify: [['/bin/sh'], ['/bin/sh', '-c', 'exit 0']],
    notifyOn: { master: [], backup: [], fault: [], stop: [] },
    v3ChecksumAsV2: false,
  });
});

test('vrrp: weighted tracked interfaces, per-state notify scripts, sync groups', () => {
  const text = `
vrrp:
  - name: VI_1
    interface: eth0
    router_id: 51
    virtual_ips: [10.0.0.10]
    track:
      interfaces: [eth0, { name: eth1, weight: -20 }, { name: eth2 }]
    notify_master: [[/bin/sh, -c, "exit 0"]]
    notify_fault: [/bin/true]
  - name: VI_2
    interface: eth1
    router_id: 52
    virtual_ips: [10.0.1.10]
vrrp_sync_groups:
  - name: G1
    instances: [VI_1, VI_2]
    notify_backup: [/bin/true]
`;
  const config = expectOk(loadConfigText(text, 't.yaml', {})).config;
  const v = config.vrrp[0]!;
  assert.deepEqual(v.track.interfaces, [
    { name: 'eth0', weight: 0 },
    { name: 'eth1', weight: -20 },
    { name: 'eth2', weight: 0 },
  ]);
  assert.deepEqual(v.notifyOn, { master: [['/bin/sh', '-c', 'exit 0']], backup: [], fault: [['/bin/true']], stop: [] });
  assert.deepEqual(config.vrrpSyncGroups, [
    { name: 'G1', instances: ['VI_1', 'VI_2'], notify: [], notifyOn: { master: [], backup: [['/bin/true']], fault: [], stop: [] } },
  ]);
});

test('send_proxy: v1 or v2 on a service reaches its data-plane spec; anything else is an error', async () => {
  const { toServiceSpec } = await import('../src/specs.js');
  const text = (v: string) => `services:\n  - name: read\n    listen: 127.0.0.1:6447\n    send_proxy: ${v}\n    servers:\n      - { name: db1, address: 10.0.0.1:3306 }\n`;
  const config = expectOk(loadConfigText(text('v2'), 't.yaml', {})).config;
  assert.equal(config.services[0]!.sendProxy, 2);
  assert.equal(toServiceSpec(config.services[0]!).servers[0]!.sendProxy, 2, 'a service-level send_proxy reaches every server');
  const errors = expectErrors(loadConfigText(text('v3'), 't.yaml', {}));
  assert.ok(errors.some((e) => e.path === 'services[0].send_proxy'), errors.map(formatConfigIssue).join('; '));
});

test('sync groups: members must exist, be in one group only, groups have unique names', () => {
  const base = `
vrrp:
  - { name: VI_1, interface: eth0, router_id: 51, virtual_ips: [10.0.0.10] }
  - { name: VI_2, interface: eth0, router_id: 52, virtual_ips: [10.0.0.11] }
  - { name: VI_3, interface: eth0, router_id: 53, virtual_ips: [10.0.0.12] }
vrrp_sync_groups:
`;
  const cases: [string, string, RegExp][] = [
    ['  - { name: G1, instances: [VI_1, VI_9] }\n', 'vrrp_sync_groups[0].instances[1]', /no vrrp instance is named "VI_9"/],
    ['  - { name: G1, instances: [VI_1, VI_2] }\n  - { name: G2, instances: [VI_3, VI_1] }\n', 'vrrp_sync_groups[1].instances[1]', /already in sync group "G1"/],
    ['  - { name: G1, instances: [VI_1, VI_2] }\n  - { name: G1, instances: [VI_3, VI_3] }\n', 'vrrp_sync_groups[1].name', /already defined/],
    ['  - { name: G1, instances: [VI_1] }\n', 'vrrp_sync_groups[0].instances', /at least two/],
  ];
  for (const [groups, path, message] of cases) {
    const errors = expectErrors(loadConfigText(base + groups, 't.yaml', {}));
    assert.ok(
      errors.some((e) => e.path === path && message.test(e.message)),
      `${groups}: ${errors.map(formatConfigIssue).join('; ')}`,
    );
  }
});

test('durations: units, compounds and plain numbers of seconds', () => {
  const cases: [string, number][] = [
    ['100ms', 100],
    ['2s', 2000],
    ['1m30s', 90_000],
    ['8h', 28_800_000],
    ['1.5', 1500],
    ['3', 3000],
    ['0.25', 250],
  ];
  for (const [written, ms] of cases) {
    const text = `${MINIMAL}    connect_timeout: ${written}\n    idle_timeout: ${written}\n`;
    const service = expectOk(loadConfigText(text, 't.yaml', {})).config.services[0];
    assert.equal(service?.connectTimeoutMs, ms, written);
    assert.equal(service?.idleTimeoutMs, ms, written);
  }
  const zero = expectErrors(loadConfigText(`${MINIMAL}    connect_timeout: 0s\n`, 't.yaml', {}));
  assert.equal(zero[0]?.path, 'services[0].connect_timeout');
  assert.match(zero[0]?.message ?? '', /longer than 0/);
});

test('advert_interval: VRRPv3 takes 10 ms steps, VRRPv2 whole seconds', () => {
  const vrrp = (version: number, interval: string): string => `
vrrp:
  - { name: VI_1, interface: eth0, router_id: 51, version: ${version}, advert_interval: ${interval}, virtual_ips: [10.0.0.10] }
`;
  assert.equal(expectOk(loadConfigText(vrrp(3, '10ms'), 't', {})).config.vrrp[0]?.advertIntervalMs, 10);
  assert.equal(expectOk(loadConfigText(vrrp(3, '40950ms'), 't', {})).config.vrrp[0]?.advertIntervalMs, 40_950);
  assert.equal(expectOk(loadConfigText(vrrp(2, '255s'), 't', {})).config.vrrp[0]?.advertIntervalMs, 255_000);
  for (const [version, interval] of [[3, '15ms'], [3, '41s'], [2, '256s'], [2, '500ms']] as const) {
    const errors = expectErrors(loadConfigText(vrrp(version, interval), 't', {}));
    assert.deepEqual(
      errors.map((e) => [e.path, e.line]),
      [['vrrp[0].advert_interval', 3]],
      `v${version} ${interval}`,
    );
  }
});

test('addresses: IPv4, localhost, hostnames and bracketed IPv6; brackets are dropped', () => {
  const text = `
services:
  - name: read
    listen: "[::1]:6447"
    servers:
      - { name: a, address: localhost:3306 }
      - { name: b, address: db-2.example.com:3306 }
      - { name: c, address: "[fd00::3]:3306" }
      - { name: d, address: 10.0.0.4:3306 }
`;
  const service = expectOk(loadConfigText(text, 't.yaml', {})).config.services[0];
  assert.deepEqual(service?.listen, { host: '::1', port: 6447 });
  assert.deepEqual(
    service?.servers.map((s) => s.address),
    [
      { host: 'localhost', port: 3306 },
      { host: 'db-2.example.com', port: 3306 },
      { host: 'fd00::3', port: 3306 },
      { host: '10.0.0.4', port: 3306 },
    ],
  );
  for (const bad of ['10.0.0.256:3306', '::1:3306', '10.0.0.1', '10.0.0.1:0', 'db_1:3306', '10.0.0.1:33o6']) {
    const errors = expectErrors(loadConfigText(text.replace('10.0.0.4:3306', bad), 't.yaml', {}));
    assert.deepEqual(errors.map((e) => [e.path, e.line]), [['services[0].servers[3].address', 9]], bad);
  }
});

test('a listen clashing with admin.listen is an error', () => {
  const text = MINIMAL.replace('127.0.0.1:6447', '0.0.0.0:9900');
  const errors = expectErrors(loadConfigText(text, 't.yaml', {}));
  assert.deepEqual(errors.map((e) => [e.path, e.line]), [['services[0].listen', 4]]);
  assert.match(errors[0]?.message ?? '', /admin\.listen/);
});

test('password_env not set in the environment is a warning, not an error', () => {
  const text = `${MINIMAL}    health: { check: mysql, user: hcheck, password_env: HCHECK_PASSWORD }\n`;
  const unset = expectOk(loadConfigText(text, 't.yaml', {}));
  assert.deepEqual(
    unset.warnings.map((w) => [w.path, w.line]),
    [['services[0].health.password_env', 7]],
  );
  assert.match(unset.warnings[0]?.message ?? '', /HCHECK_PASSWORD is not set/);
  const set = expectOk(loadConfigText(text, 't.yaml', { HCHECK_PASSWORD: 'secret' }));
  assert.deepEqual(set.warnings, []);
  assert.equal(set.config.services[0]?.health?.passwordEnv, 'HCHECK_PASSWORD');
});

test('options the chosen check ignores are warnings', () => {
  const text = `${MINIMAL}    health: { check: tcp, path: /status }\n`;
  const { warnings } = expectOk(loadConfigText(text, 't.yaml', {}));
  assert.deepEqual(warnings.map((w) => [w.path, w.line]), [['services[0].health.path', 7]]);
});

test('health timeout longer than interval loads, with a warning saying how often such checks then run', async () => {
  // As HAProxy (`timeout check` > `inter`) and keepalived (`connect_timeout` > `delay_loop`) allow.
  const file = warnFixture('timeout-over-interval.yaml');
  const { config, warnings } = expectOk(await loadConfigFile(file));
  assert.deepEqual(config.services[0]?.health && [config.services[0].health.intervalMs, config.services[0].health.timeoutMs], [1000, 3000]);
  assert.deepEqual(warnings.map((w) => [w.path, w.line, w.source]), [['services[0].health.timeout', 8, file]]);
  assert.match(warnings[0]!.message, /^timeout 3s is longer than interval 1s: .* every 3s and goes down after about 9s \(fall 3 × timeout\), not 3s$/);

  // interval alone below the default timeout: accepted, the warning points at interval and names the default.
  const short = expectOk(loadConfigText(`${MINIMAL}    health: { check: tcp, interval: 500ms, fall: 2 }\n`, 't.yaml', {}));
  assert.equal(short.config.services[0]?.health?.timeoutMs, 1000);
  assert.deepEqual(short.warnings.map((w) => [w.path, w.line]), [['services[0].health.interval', 7]]);
  assert.match(short.warnings[0]!.message, /^timeout 1s \(the default\) is longer than interval 500ms: .* after about 2s \(fall 2 × timeout\), not 1s$/);

  // Equal, or shorter: no warning.
  for (const h of ['{ check: tcp, interval: 1s, timeout: 1s }', '{ check: tcp, interval: 2s, timeout: 1s }']) {
    assert.deepEqual(expectOk(loadConfigText(`${MINIMAL}    health: ${h}\n`, 't.yaml', {})).warnings, [], h);
  }
});

test('unknown keys from keepalived.conf get a hint', () => {
  const text = `
vrrp:
  - name: VI_1
    interface: eth0
    virtual_router_id: 51
    virtual_ips: [10.0.0.10]
`;
  const errors = expectErrors(loadConfigText(text, 't.yaml', {}));
  const unknown = errors.find((e) => e.path === 'vrrp[0].virtual_router_id');
  assert.ok(unknown);
  assert.equal(unknown.line, 5);
  assert.equal(unknown.column, 5);
  assert.match(unknown.message, /did you mean router_id/);
  // router_id itself is missing: reported at the instance, the nearest node that exists.
  assert.ok(errors.some((e) => e.path === 'vrrp[0].router_id' && e.line === 3 && e.message === 'is required'));
});

test('formatConfigIssue: FILE:LINE:COL: path: message', () => {
  const errors = expectErrors(loadConfigText(MINIMAL.replace('6447', '70000'), 'baton.yaml', {}));
  assert.deepEqual(errors.map(formatConfigIssue), ['baton.yaml:4:13: services[0].listen: port 70000 is out of range 1-65535']);
  assert.equal(
    formatConfigIssue({ path: '', line: 0, column: 0, message: 'cannot read the config file: no such file', source: 'x.yaml' }),
    'x.yaml: cannot read the config file: no such file',
  );
});

test('never throws: a missing file, an empty file, a scalar document, alias bombs', async () => {
  const missing = expectErrors(await loadConfigFile(fixture('does-not-exist.yaml')));
  assert.match(missing[0]?.message ?? '', /no such file/);
  assert.equal(missing[0]?.line, 0);

  for (const text of ['', '# only a comment\n', '---\n']) {
    const errors = expectErrors(loadConfigText(text, 'empty.yaml', {}));
    assert.equal(errors.length, 1);
    assert.match(errors[0]?.message ?? '', /no settings/);
  }
  assert.match(expectErrors(loadConfigText('just a string\n', 't', {}))[0]?.message ?? '', /expected a mapping/);
  assert.match(expectErrors(loadConfigText('- a\n- b\n', 't', {}))[0]?.message ?? '', /expected a mapping/);

  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_, i) => {
    const prev = i === 0 ? 'a' : String.fromCharCode(97 + i);
    const name = String.fromCharCode(98 + i);
    return `${name}: &${name} [*${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}, *${prev}]`;
  })].join('\n');
  expectErrors(loadConfigText(bomb, 'bomb.yaml', {}));

  for (const text of ['services: [', '{', 'a: b: c', '\t- x', '!!binary zz', 'services:\n  - *nope']) {
    expectErrors(loadConfigText(text, 'junk.yaml', {}));
  }
});

test('anchors, aliases and merge keys share blocks; errors point where the value is written', () => {
  const text = `
services:
  - &read
    name: read
    listen: 127.0.0.1:6447
    health: &health { check: tcp, interval: 1s }
    servers: [{ name: db1, address: 10.0.0.1:3306 }]
  - <<: *read
    name: read2
    listen: 127.0.0.1:6448
`;
  const { config } = expectOk(loadConfigText(text, 't.yaml', {}));
  assert.deepEqual(config.services.map((s) => [s.name, s.listen.port, s.health?.intervalMs, s.servers.length]), [
    ['read', 6447, 1000, 1],
    ['read2', 6448, 1000, 1],
  ]);
  const bad = expectErrors(loadConfigText(`${text}  - { name: r3, listen: 127.0.0.1:1, health: *health, servers: [{ name: a, address: 'x y:1' }] }\n`, 't', {}));
  assert.deepEqual(bad.map((e) => [e.path, e.line]), [['services[2].servers[0].address', 11]]);
});

test('YAML type tags and prototype-named keys stay plain data', () => {
  const binary = loadConfigText('!!binary zz\n', 't', {});
  assert.deepEqual(expectErrors(binary).map((e) => e.message), ['expected a mapping, got "zz"']);
  const proto = expectErrors(loadConfigText(`toString: 1\n${MINIMAL}`, 't', {}));
  assert.deepEqual(proto.map((e) => [e.path, e.line, e.message]), [['toString', 1, 'unknown key "toString"']]);
});

/** One broken file per kind of mistake: the error's key path and the exact line it points at. */
const BAD: { file: string; path: string; line: number; message: RegExp }[] = [
  { file: 'unknown-key.yaml', path: 'services[0].helth', line: 5, message: /unknown key "helth"/ },
  { file: 'wrong-type.yaml', path: 'services[0].retries', line: 5, message: /whole number 0-16, got "two"/ },
  { file: 'bad-duration.yaml', path: 'services[0].connect_timeout', line: 5, message: /is not a duration/ },
  { file: 'bad-address.yaml', path: 'services[0].servers[0].address', line: 7, message: /"db one" is not/ },
  { file: 'bad-port.yaml', path: 'services[0].listen', line: 4, message: /port 70000 is out of range/ },
  { file: 'duplicate-service-name.yaml', path: 'services[1].name', line: 7, message: /"read" is already defined at services\[0\]/ },
  { file: 'duplicate-listen.yaml', path: 'services[1].listen', line: 8, message: /clashes with services\[0\]\.listen 0\.0\.0\.0:6446/ },
  { file: 'writer-on-roundrobin.yaml', path: 'services[0].writer', line: 6, message: /only to balance: writer/ },
  { file: 'v2-advert-interval.yaml', path: 'vrrp[0].advert_interval', line: 7, message: /whole seconds/ },
  { file: 'router-id-300.yaml', path: 'vrrp[0].router_id', line: 5, message: /1-255, got 300/ },
  { file: 'duplicate-yaml-key.yaml', path: 'services[0].listen', line: 6, message: /duplicate key "listen"/ },
  // A syntax error has a position but no key path: the tree after it is only what the parser salvaged.
  { file: 'yaml-syntax.yaml', path: '', line: 6, message: /^YAML: flow sequence .* must .* end with a \]/ },
  { file: 'script-missing-command.yaml', path: 'services[0].health.command[0]', line: 7, message: /does not exist/ },
  { file: 'script-not-executable.yaml', path: 'services[0].health.command[0]', line: 8, message: /is not executable/ },
  { file: 'script-without-command.yaml', path: 'services[0].health.command', line: 6, message: /required for check: script/ },
  { file: 'track-unknown-service.yaml', path: 'vrrp[0].track.services[1]', line: 8, message: /no service is named "reads"/ },
  { file: 'empty-servers.yaml', path: 'services[0].servers', line: 5, message: /at least one server/ },
  { file: 'galera-index-without-galera.yaml', path: 'services[0].writer.pick', line: 7, message: /needs health check: galera/ },
  { file: 'duplicate-server-name.yaml', path: 'services[0].servers[1].name', line: 7, message: /"db1" is already defined/ },
  { file: 'duplicate-router-id.yaml', path: 'vrrp[1].router_id', line: 9, message: /already used by vrrp\[0\]/ },
  { file: 'auth-pass-v3.yaml', path: 'vrrp[0].auth_pass_env', line: 6, message: /needs version: 2/ },
  { file: 'missing-listen.yaml', path: 'services[0].listen', line: 3, message: /^is required$/ },
  { file: 'notify-missing.yaml', path: 'vrrp[0].notify[0]', line: 8, message: /does not exist/ },
  { file: 'bad-vip.yaml', path: 'vrrp[0].virtual_ips[1]', line: 8, message: /prefix length "\/40" must be 1-32/ },
];

for (const bad of BAD) {
  test(`bad config ${bad.file}: ${bad.path} at line ${bad.line}`, async () => {
    const errors = expectErrors(await loadConfigFile(fixture(bad.file)));
    assert.deepEqual(
      errors.map((e) => `${e.path}:${e.line}`),
      [`${bad.path}:${bad.line}`],
      errors.map(formatConfigIssue).join('\n'),
    );
    assert.match(errors[0]?.message ?? '', bad.message);
    assert.equal(errors[0]?.source, fixture(bad.file));
  });
}

test('every error in a file is reported, in file order', async () => {
  const errors = expectErrors(await loadConfigFile(fixture('many-errors.yaml')));
  assert.deepEqual(
    errors.map((e) => `${e.path}:${e.line}`),
    [
      'workers:2',
      'services[0].balance:6',
      'services[0].servers[0].weight:8',
      'services[1].name:9',
      'services[1].listen:10',
      'services[1].servers:11',
    ],
  );
});

for (const name of ['baton.yaml', 'galera-3-nodes.yaml', 'mysql-master-master.yaml']) {
  test(`config/${name} loads with no error`, async () => {
    const { config, warnings } = expectOk(await loadConfigFile(example(name)));
    assert.ok(config.services.length > 0);
    // Warnings may only be about secrets this test environment does not hold.
    for (const w of warnings) assert.match(w.message, /is not set in this environment/, formatConfigIssue(w));
  });
}

test('config/baton.yaml is what npm start promises: write 6446, read 6447, admin 9900, one worker, no vrrp', async () => {
  const { config } = expectOk(await loadConfigFile(example('baton.yaml')));
  assert.equal(config.workers, 1);
  assert.deepEqual(config.vrrp, []);
  assert.deepEqual(config.admin.listen, { host: '127.0.0.1', port: 9900 });
  assert.deepEqual(
    config.services.map((s) => [s.name, s.listen.host, s.listen.port, s.balance, s.servers.map((v) => `${v.address.host}:${v.address.port}`)]),
    [
      ['write', '127.0.0.1', 6446, 'writer', ['127.0.0.1:3306']],
      ['read', '127.0.0.1', 6447, 'roundrobin', ['127.0.0.1:3306']],
    ],
  );
});
