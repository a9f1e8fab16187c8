/**
 * `baton import-keepalived`: the mapping of each keepalived block, the exit
 * codes, and a golden file per real-world keepalived.conf in
 * fixtures/keepalived/sources (their origin in the README there). Every
 * output must pass the config loader (`baton check`); the only host fact
 * replaced is whether the commands the source names exist, since they exist
 * on the keepalived host and not on the test machine.
 *
 * BATON_UPDATE_GOLDEN=1 rewrites the expected files (review the diff).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatConfigIssue, loadConfigText, withExecutableCheck, type BatonConfig } from '../src/config/index.js';
import { importKeepalived, type ImportResult } from '../src/import/keepalived/index.js';
import { fileSystemReader, memoryReader } from '../src/import/keepalived/source.js';

// Compiled to dist/test/, so the sources are two directories up.
const dir = (sub: string): string => fileURLToPath(new URL(`../../test/fixtures/keepalived/${sub}`, import.meta.url));
/** keepalived searches $PATH for a bare script name; the tests pretend every one is in /usr/bin. */
const resolveCommand = (name: string): string => `/usr/bin/${name}`;

function importText(text: string): Extract<ImportResult, { ok: true }> {
  const r = importKeepalived('/etc/keepalived/keepalived.conf', { source: memoryReader({ '/etc/keepalived/keepalived.conf': text }), resolveCommand });
  if (!r.ok) assert.fail(r.error);
  return r;
}

/** Validates like `baton check`, with the commands the import names standing in for the host's files. */
function check(r: Extract<ImportResult, { ok: true }>, name: string): BatonConfig {
  const loaded = withExecutableCheck(
    (path) => (r.commands.includes(path) ? undefined : `"${path}" is not a command the keepalived source names`),
    () => loadConfigText(r.yaml, name, Object.fromEntries(r.env.map((e) => [e.name, 'secret']))),
  );
  if (!loaded.ok) assert.fail(`${name} does not pass baton check:\n${loaded.errors.map(formatConfigIssue).join('\n')}\n---\n${r.yaml}`);
  assert.deepEqual(loaded.warnings, [], `${name}: warnings`);
  return loaded.config;
}

test('every real-world keepalived.conf imports with exit 0 or 3, passes baton check, and matches its golden file', () => {
  const sources = readdirSync(dir('sources')).filter((f) => f.endsWith('.conf')).sort();
  assert.ok(sources.length >= 15, `expected at least 15 fixtures, found ${sources.length}`);
  const update = process.env.BATON_UPDATE_GOLDEN === '1';
  for (const file of sources) {
    const r = importKeepalived(`${dir('sources')}/${file}`, { source: fileSystemReader, resolveCommand });
    if (!r.ok) assert.fail(`${file}: ${r.error}`);
    assert.ok(r.exitCode === 0 || r.exitCode === 3, file);
    check(r, file);
    // Nothing silent: every finding is a comment of the output itself, with its file:line.
    for (const f of r.findings) assert.ok(r.yaml.includes(`${file}:${f.line} `), `${file}: finding at line ${f.line} (${f.statement}) is not in the output`);
    const golden = `${dir('expected')}/${file.replace(/\.conf$/, '')}.yaml`;
    const actual = `# exit ${r.exitCode}\n${r.yaml}`;
    if (update) writeFileSync(golden, actual);
    assert.equal(actual, readFileSync(golden, 'utf8'), `${file}: output differs from ${golden}`);
  }
});

test('a vrrp_instance maps every documented keyword', () => {
  const r = importText(`
global_defs {
  router_id lb1
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 150
  advert_int 2
  nopreempt
  preempt_delay 30
  authentication {
    auth_type PASS
    auth_pass s3cret
  }
  unicast_src_ip 10.0.0.2
  unicast_peer {
    10.0.0.3
  }
  virtual_ipaddress {
    10.0.0.100
    10.0.0.101/24 dev eth0 label eth0:1 brd 10.0.0.255
  }
  garp_master_repeat 3
  garp_interval 0.1
  garp_master_refresh 60
  garp_master_delay 2
  track_interface {
    eth0
    eth1 weight -20
  }
  track_script {
    chk weight -30
  }
  notify "/etc/keepalived/notify.sh --page"
  notify_master "/etc/keepalived/iptables.sh 10.0.0.100 master"
  notify_backup /etc/keepalived/to-backup.sh
  notify_fault "/etc/keepalived/fault.sh"
  notify_stop /etc/keepalived/stop.sh
}
vrrp_script chk {
  script "pidof mysqld"
  interval 3
  timeout 2
  rise 2
  fall 3
  weight -10
}
`);
  const c = check(r, 'inline');
  assert.equal(c.node, 'lb1');
  const v = c.vrrp[0]!;
  assert.deepEqual(
    { ...v, track: { ...v.track } },
    {
      name: 'VI_1',
      interface: 'eth0',
      routerId: 51,
      priority: 150,
      version: 2,
      advertIntervalMs: 2000,
      preempt: false,
      preemptDelayMs: 30_000,
      authPassEnv: 'BATON_AUTH_PASS_VI_1',
      unicastPeers: ['10.0.0.3'],
      unicastSrcIp: '10.0.0.2',
      virtualIps: [
        { address: '10.0.0.100', prefixLength: 32 },
        { address: '10.0.0.101', prefixLength: 24 },
      ],
      garp: { repeat: 3, intervalMs: 100, refreshMs: 60_000, delayMs: 2000 },
      track: {
        interfaces: [
          { name: 'eth0', weight: 0 },
          { name: 'eth1', weight: -20 },
        ],
        services: [],
        // The track_script entry's weight overrides the vrrp_script's; the script (defined after its use) is found.
        scripts: [{ command: ['/usr/bin/pidof', 'mysqld'], intervalMs: 3000, timeoutMs: 2000, rise: 2, fall: 3, weight: -30 }],
      },
      notify: [['/etc/keepalived/notify.sh', '--page']],
      notifyOn: {
        master: [['/etc/keepalived/iptables.sh', '10.0.0.100', 'master']],
        backup: [['/etc/keepalived/to-backup.sh']],
        fault: [['/etc/keepalived/fault.sh']],
        stop: [['/etc/keepalived/stop.sh']],
      },
      v3ChecksumAsV2: false,
    },
  );
  assert.ok(!r.yaml.includes('s3cret'), 'the password is never written');
  assert.match(r.yaml, /BATON_AUTH_PASS_VI_1/);
  assert.equal(r.exitCode, 0);
});

test('AH authentication, mail and unknown keywords need a decision (exit 3), each named with file and line', () => {
  const r = importText(`global_defs {
  smtp_server 10.0.0.1
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 1
  authentication {
    auth_type AH
    auth_pass x
  }
  virtual_ipaddress {
    10.0.0.1
  }
  bogus_keyword 1
}
`);
  check(r, 'inline');
  assert.equal(r.exitCode, 3);
  const decided = r.findings.filter((f) => f.level === 'decision').map((f) => `${f.line}:${f.statement.split(' ')[0]}`);
  assert.deepEqual(decided, ['2:smtp_server', '7:authentication', '14:bogus_keyword']);
  assert.match(r.yaml, /DECIDE: keepalived.conf:7 authentication \{ \.\.\. \} -- auth_type AH/);
  assert.match(r.yaml, /DECIDE: keepalived.conf:14 bogus_keyword 1 -- not a keyword of vrrp_instance/);
  assert.ok(!r.yaml.includes('auth_pass_env'));
});

test('a virtual_server becomes a proxied service: algorithms, weights, sorry server, checks', () => {
  const algos: [string, string][] = [['rr', 'roundrobin'], ['wrr', 'roundrobin'], ['lc', 'leastconn'], ['wlc', 'leastconn'], ['sh', 'source'], ['mh', 'source']];
  for (const [algo, balance] of algos) {
    const c = check(importText(`virtual_server 10.0.0.10 3306 {\n lb_algo ${algo}\n lb_kind NAT\n real_server 10.0.0.1 3306 {\n }\n}\n`), algo);
    assert.equal(c.services[0]!.balance, balance, algo);
  }
  const r = importText(`
virtual_server 10.0.0.10 3306 {
  delay_loop 5
  lb_algo rr
  lb_kind NAT
  persistence_timeout 300
  protocol TCP
  sorry_server 10.0.0.9 3306
  real_server 10.0.0.1 3306 {
    weight 3
    inhibit_on_failure
    HTTP_GET {
      url {
        path /health
        status_code 204
        digest 0123456789abcdef
      }
      connect_port 9200
      connect_timeout 2
      retry 2
    }
  }
  real_server 10.0.0.2 3306 {
    weight 1
    inhibit_on_failure
    HTTP_GET {
      url {
        path /health
        status_code 204
        digest 0123456789abcdef
      }
      connect_port 9200
      connect_timeout 2
      retry 2
    }
  }
}
virtual_server 10.0.0.10 53 {
  protocol UDP
  real_server 10.0.0.1 53 {
  }
}
`);
  const c = check(r, 'vs');
  assert.equal(c.services.length, 1, 'the UDP service is left out');
  const s = c.services[0]!;
  assert.equal(s.balance, 'source', 'persistence_timeout becomes source');
  assert.deepEqual(s.listen, { host: '10.0.0.10', port: 3306 });
  assert.deepEqual(
    s.servers.map((x) => [x.name, x.address.port, x.weight, x.backup]),
    [['rs_10.0.0.1_3306', 3306, 3, false], ['rs_10.0.0.2_3306', 3306, 1, false], ['sorry_10.0.0.9_3306', 3306, 1, true]],
  );
  assert.deepEqual(
    { check: s.health?.check, port: s.health?.port, path: s.health?.path, status: s.health?.status, interval: s.health?.intervalMs, timeout: s.health?.timeoutMs, fall: s.health?.fall, rise: s.health?.rise },
    { check: 'http', port: 9200, path: '/health', status: 204, interval: 5000, timeout: 2000, fall: 3, rise: 1 },
  );
  assert.equal(r.exitCode, 3, 'digest and UDP need a decision');
  assert.ok(r.findings.some((f) => f.level === 'decision' && f.message.includes('MD5 digest')));
  assert.ok(r.findings.some((f) => f.level === 'decision' && f.message.includes('protocol UDP')));
});

test("a real_server's uthreshold becomes its max_connections; lthreshold and uthreshold 0 are notes", () => {
  const r = importText(`virtual_server 10.0.0.10 3306 {\n lb_kind NAT\n real_server 10.0.0.1 3306 {\n  uthreshold 40\n  lthreshold 30\n }\n real_server 10.0.0.2 3306 {\n  uthreshold 0\n }\n}\n`);
  const c = check(r, 'thresholds');
  assert.deepEqual(c.services[0]!.servers.map((x) => x.maxConnections), [40, undefined]);
  assert.equal(r.exitCode, 0, 'nothing needs a decision');
  assert.match(r.yaml, /max_connections: 40; a client past it waits in the service's queue/);
  assert.match(r.yaml, /lthreshold's hysteresis has no equivalent/);
  assert.match(r.yaml, /uthreshold 0 means no limit/);
});

test('lb_kind DR says the servers listen on their own address and lose the client address', () => {
  const r = importText(`virtual_server 10.0.0.10 3306 {\n lb_kind DR\n real_server 10.0.0.1 3306 {\n  TCP_CHECK {\n   connect_timeout 3\n  }\n }\n}\n`);
  check(r, 'dr');
  assert.equal(r.exitCode, 3);
  assert.match(r.yaml, /lb_kind DR: Baton is a TCP proxy.*servers must listen on their own address/);
});

test('a MISC_CHECK with the server address in misc_path becomes one command using BATON_SERVER_HOST', () => {
  const r = importText(`virtual_server 10.0.0.10 3306 {
 lb_kind NAT
 real_server 10.0.0.1 3306 {
  MISC_CHECK {
   misc_path "/etc/keepalived/check.sh 10.0.0.1 3306"
   misc_timeout 3
  }
 }
 real_server 10.0.0.2 3306 {
  MISC_CHECK {
   misc_path "/etc/keepalived/check.sh 10.0.0.2 3306"
   misc_timeout 3
  }
 }
}
`);
  const c = check(r, 'misc');
  assert.deepEqual(c.services[0]!.health?.command, ['/bin/sh', '-c', `exec '/etc/keepalived/check.sh' "$BATON_SERVER_HOST" "$BATON_SERVER_PORT"`]);
  assert.equal(r.exitCode, 0);
});

test('a vrrp_sync_group becomes a sync group with its notify scripts; blocks may come before the instances they name', () => {
  const r = importText(`
vrrp_sync_group VG_1 {
  group {
    VI_1
    VI_2
  }
  notify_master "/etc/keepalived/group.sh master"
  notify /etc/keepalived/group-notify.sh
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 1
  virtual_ipaddress {
    10.0.0.1
  }
}
vrrp_instance VI_2 {
  interface eth1
  virtual_router_id 2
  virtual_ipaddress {
    10.0.1.1
  }
}
`);
  const c = check(r, 'sync');
  assert.deepEqual(c.vrrpSyncGroups, [
    {
      name: 'VG_1',
      instances: ['VI_1', 'VI_2'],
      notify: [['/etc/keepalived/group-notify.sh']],
      notifyOn: { master: [['/etc/keepalived/group.sh', 'master']], backup: [], fault: [], stop: [] },
    },
  ]);
  assert.equal(r.exitCode, 0);
  assert.match(r.yaml, /# vrrp_sync_group VG_1 \(keepalived.conf:2\)/);
});

test('shell syntax in a script is flagged: keepalived and Baton both run it without a shell', () => {
  const r = importText(`vrrp_script chk {
  script "ss -ltn | grep ':::80 '"
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 1
  virtual_ipaddress {
    10.0.0.1
  }
  track_script {
    chk
  }
}
`);
  check(r, 'shell');
  assert.equal(r.exitCode, 3);
  assert.ok(r.findings.some((f) => f.level === 'decision' && f.line === 2 && f.message.startsWith('"|" is an argument here')), JSON.stringify(r.findings));
});

test('a parse error is exit 1 and names the file and line', () => {
  const r = importKeepalived('/etc/keepalived/keepalived.conf', {
    source: memoryReader({ '/etc/keepalived/keepalived.conf': 'include conf.d/*.conf\n', '/etc/keepalived/conf.d/a.conf': 'vrrp_instance a {\n  interface eth0\n' }),
    resolveCommand,
  });
  assert.deepEqual(r, { ok: false, error: 'conf.d/a.conf:1: the block of "vrrp_instance" is never closed (missing "}")', exitCode: 1 });
});
