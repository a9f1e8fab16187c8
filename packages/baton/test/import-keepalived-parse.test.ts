/**
 * The keepalived.conf reader on the grammar's tricky corners: comments of
 * both kinds, quotes, braces glued or alone, one-line blocks, includes with
 * globs relative to the including file, parameters, and errors that name
 * the file and line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseKeepalived, splitCommand, type Statement } from '../src/import/keepalived/parse.js';
import { memoryReader } from '../src/import/keepalived/source.js';

/** A compact view of a tree: keyword, args, [file:]line, children. */
function shape(list: Statement[], withFile = false): unknown[] {
  return list.map((s) => {
    const head = [s.keyword, ...s.args.map((a) => a.text)].join(' ') + ` @${withFile ? `${s.file}:` : ''}${s.line}`;
    return s.block ? { [head]: shape(s.block, withFile) } : head;
  });
}

function parse(files: Record<string, string>, main = '/etc/keepalived/keepalived.conf') {
  return parseKeepalived(main, memoryReader(files));
}

function ok(files: Record<string, string>, withFile = false): unknown[] {
  const r = parse(files);
  if (!r.ok) assert.fail(`parse error: ${r.error.file}:${r.error.line}: ${r.error.message}`);
  return shape(r.statements, withFile);
}

const MAIN = '/etc/keepalived/keepalived.conf';

test('comments start with # or ! anywhere outside quotes', () => {
  const tree = ok({
    [MAIN]: ['! Configuration File for keepalived', 'global_defs {  # the globals', '  router_id lb1 ! trailing', '  # notification_email { a@b }', '}'].join('\n'),
  });
  assert.deepEqual(tree, [{ 'global_defs @2': ['router_id lb1 @3'] }]);
});

test('a quoted string is one token, keeps its spaces, and hides # ! { }', () => {
  const r = parse({ [MAIN]: 'vrrp_script chk {\n  script "/usr/bin/check --x \'a b\' # { ! }"\n}\n' });
  assert.ok(r.ok);
  const script = r.statements[0]!.block![0]!;
  assert.equal(script.keyword, 'script');
  assert.equal(script.args.length, 1);
  assert.equal(script.args[0]!.text, "/usr/bin/check --x 'a b' # { ! }");
  assert.equal(script.args[0]!.quoted, true);
});

test('braces glued to a word, alone on the next line, and one-line blocks', () => {
  const tree = ok({
    [MAIN]: [
      'vrrp_instance VI_1{',
      '  virtual_ipaddress { 10.0.0.1/24 dev eth0 }',
      '  track_script',
      '  {',
      '    chk_a',
      '  chk_b }',
      '  authentication {auth_type PASS',
      '  auth_pass secret}',
      '}',
      'vrrp_instance VI_2',
      '{',
      '}',
    ].join('\n'),
  });
  assert.deepEqual(tree, [
    {
      'vrrp_instance VI_1 @1': [
        { 'virtual_ipaddress @2': ['10.0.0.1/24 dev eth0 @2'] },
        { 'track_script @3': ['chk_a @5', 'chk_b @6'] },
        { 'authentication @7': ['auth_type PASS @7', 'auth_pass secret @8'] },
      ],
    },
    { 'vrrp_instance VI_2 @10': [] },
  ]);
});

test('nested one-line blocks close in order', () => {
  const tree = ok({ [MAIN]: 'virtual_server 10.0.0.1 80 { real_server 10.0.0.2 80 { TCP_CHECK { connect_timeout 3 } } }\n' });
  assert.deepEqual(tree, [{ 'virtual_server 10.0.0.1 80 @1': [{ 'real_server 10.0.0.2 80 @1': [{ 'TCP_CHECK @1': ['connect_timeout 3 @1'] }] }] }]);
});

test('keywords keep their case (keepalived matches them case-sensitively)', () => {
  const tree = ok({ [MAIN]: 'vrrp_instance X {\n  STATE MASTER\n  state backup\n}\n' });
  assert.deepEqual(tree, [{ 'vrrp_instance X @1': ['STATE MASTER @2', 'state backup @3'] }]);
});

test('include: glob relative to the including file, sorted, spliced in place, file and line kept', () => {
  const tree = ok(
    {
      [MAIN]: 'global_defs {\n  router_id lb1\n}\ninclude conf.d/*.conf\nvrrp_instance last {\n}\n',
      '/etc/keepalived/conf.d/20-b.conf': 'vrrp_instance b {\n  include ../inner/prio\n}\n',
      '/etc/keepalived/conf.d/10-a.conf': 'vrrp_instance a {\n}\n',
      '/etc/keepalived/conf.d/.hidden.conf': 'broken {{{\n',
      '/etc/keepalived/conf.d/readme.txt': 'not included\n',
      '/etc/keepalived/inner/prio': 'priority 90\n',
    },
    true,
  );
  assert.deepEqual(tree, [
    { [`global_defs @${MAIN}:1`]: [`router_id lb1 @${MAIN}:2`] },
    { 'vrrp_instance a @/etc/keepalived/conf.d/10-a.conf:1': [] },
    { 'vrrp_instance b @/etc/keepalived/conf.d/20-b.conf:1': ['priority 90 @/etc/keepalived/inner/prio:1'] },
    { [`vrrp_instance last @${MAIN}:5`]: [] },
  ]);
});

test('an include glob that matches nothing is a notice, a missing named file an error with the include line', () => {
  const r = parse({ [MAIN]: 'include /etc/keepalived/none/*.conf\nvrrp_instance a {\n}\n' });
  assert.ok(r.ok);
  assert.deepEqual(r.notices, [{ file: MAIN, line: 1, message: 'include /etc/keepalived/none/*.conf: no file matches' }]);
  const missing = parse({ [MAIN]: '\n\ninclude other.conf\n' });
  assert.deepEqual(missing, { ok: false, error: { file: MAIN, line: 3, message: 'cannot read /etc/keepalived/other.conf: no such file' } });
});

test('an include loop is an error naming the chain', () => {
  const r = parse({ [MAIN]: 'include a.conf\n', '/etc/keepalived/a.conf': '\ninclude keepalived.conf\n' });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.error.file, '/etc/keepalived/a.conf');
  assert.equal(r.error.line, 2);
  assert.match(r.error.message, /include loop: .*keepalived.conf -> .*a.conf -> .*keepalived.conf/);
});

test('unbalanced braces and quotes name the file and line', () => {
  const cases: [string, number, RegExp][] = [
    ['vrrp_instance a {\n  priority 1\n', 1, /block of "vrrp_instance" is never closed/],
    ['vrrp_instance a {\n}\n}\n', 3, /unexpected "}"/],
    ['\n{\n', 2, /unexpected "{"/],
    ['vrrp_script s {\n  script "/bin/true\n}\n', 2, /unterminated quoted string/],
  ];
  for (const [text, line, message] of cases) {
    const r = parse({ [MAIN]: text });
    assert.equal(r.ok, false, text);
    if (r.ok) continue;
    assert.equal(r.error.file, MAIN);
    assert.equal(r.error.line, line, text);
    assert.match(r.error.message, message);
  }
});

test('parameters: $NAME=value defines, $NAME and ${NAME} substitute', () => {
  const tree = ok({ [MAIN]: '$IF=eth1\n$VIP=10.1.1.1/24\nvrrp_instance a {\n  interface $IF\n  virtual_ipaddress {\n    ${VIP} dev $IF\n  }\n}\n' });
  assert.deepEqual(tree, [{ 'vrrp_instance a @3': ['interface eth1 @4', { 'virtual_ipaddress @5': ['10.1.1.1/24 dev eth1 @6'] }] }]);
});

test('script strings split into argv with quotes and escapes', () => {
  assert.deepEqual(splitCommand(`/usr/bin/killall -0 haproxy`), { ok: true, argv: ['/usr/bin/killall', '-0', 'haproxy'] });
  assert.deepEqual(splitCommand(`/bin/sh -c 'test -f /tmp/x && exit 1'`), { ok: true, argv: ['/bin/sh', '-c', 'test -f /tmp/x && exit 1'] });
  assert.deepEqual(splitCommand(`a\\ b "c d" ''`), { ok: true, argv: ['a b', 'c d', ''] });
  assert.equal(splitCommand(`/bin/sh -c 'oops`).ok, false);
});
