/**
 * keepalived.conf statements -> a Baton config, with every keyword accounted
 * for. Pure: the statement tree comes from parse.ts, the only outside input
 * is `resolveCommand` (how a script name without a path is found, the way
 * keepalived searches $PATH), injected so tests do not depend on the host.
 *
 * Invariants:
 * - Nothing is dropped silently. Each block's statements go through one
 *   switch; a statement is either mapped, or becomes a Finding (file, line,
 *   the statement, why). Findings are `note` (imported, with a difference
 *   worth knowing, or without effect under Baton) or `decision` (something
 *   keepalived did that the Baton config does not do; a person must look).
 * - The result always validates: what cannot be expressed validly (an
 *   instance without a virtual IP, a UDP service) is left out as a decision
 *   rather than written broken.
 * - No secret is written: an auth_pass becomes an environment variable name.
 */
import { isIPv4 } from 'node:net';
import { relative } from 'node:path';
import { splitCommand, type SourcePos, type Statement } from './parse.js';

export type FindingLevel = 'note' | 'decision';

export interface Finding extends SourcePos {
  level: FindingLevel;
  /** The statement as written, e.g. `smtp_server mail.example.com`. */
  statement: string;
  message: string;
}

/** Where a comment goes in the output: the path of a node (item of a list, or a key's value). */
export type OutputPath = (string | number)[];

export interface OutputComment {
  path: OutputPath;
  /** Lines placed above the node. */
  before: string[];
  /** On the node's line instead (scalars). */
  inline?: boolean;
}

/** An environment variable the output names and the user must set. */
export interface EnvNeed {
  name: string;
  why: string;
  pos: SourcePos;
}

export interface MapResult {
  /** The Baton config as plain data, in file order (snake_case keys as baton.yaml spells them). */
  config: Record<string, unknown>;
  comments: OutputComment[];
  findings: Finding[];
  env: EnvNeed[];
  /** Absolute paths of the commands the config runs (they must exist where Baton runs). */
  commands: string[];
}

export interface MapOptions {
  /** Directory the source paths in comments are relative to (the main file's). */
  baseDir: string;
  /** Absolute path of a command named without one, or undefined when not found. */
  resolveCommand(name: string): string | undefined;
}

type Obj = Record<string, unknown>;

const words = (s: Statement): string[] => s.args.map((a) => a.text);
const stmtText = (s: Statement): string => [s.keyword, ...s.args.map((a) => (a.quoted ? JSON.stringify(a.text) : a.text))].join(' ') + (s.block ? ' { ... }' : '');

/** Seconds (keepalived's unit, fractions allowed) as a Baton duration string. */
export function secondsToDuration(seconds: number): string {
  const ms = Math.round(seconds * 1000);
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
function safeName(text: string, prefix: string): string {
  if (NAME_RE.test(text)) return text;
  const cleaned = text.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return (cleaned ? cleaned : prefix).slice(0, 63);
}

function envSuffix(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** Why the keepalived keywords Baton has no use for are left out (note) or need a person (decision). */
const GLOBAL_UNMAPPED: Record<string, [FindingLevel, string]> = {
  notification_email: ['decision', 'Baton sends no e-mail; alert from a notify script or from the /metrics endpoint'],
  notification_email_from: ['decision', 'Baton sends no e-mail'],
  smtp_server: ['decision', 'Baton sends no e-mail'],
  smtp_connect_timeout: ['decision', 'Baton sends no e-mail'],
  smtp_helo_name: ['decision', 'Baton sends no e-mail'],
  email_faults: ['decision', 'Baton sends no e-mail'],
  lvs_id: ['note', 'the LVS daemon id has no meaning for a proxy; the node name comes from router_id'],
  enable_script_security: ['note', 'Baton always runs scripts by absolute path without a shell; there is no insecure mode to switch off'],
  vrrp_skip_check_adv_addr: ['note', 'Baton checks the addresses of every advert it receives and counts a mismatch'],
  vrrp_strict: ['decision', 'strict RFC mode (no auth, no unicast, VIPs not answered) has no switch in Baton; check that the instances respect RFC 5798 as written'],
  vrrp_garp_interval: ['note', 'the global gratuitous ARP spacing: set garp.interval on the instances instead'],
  vrrp_gna_interval: ['note', 'Baton sends no unsolicited neighbour adverts (IPv4 only)'],
  vrrp_garp_master_delay: ['note', 'Baton sends one burst of gratuitous ARPs on becoming master'],
  vrrp_garp_master_repeat: ['note', 'set garp.repeat on the instances instead'],
  vrrp_mcast_group4: ['decision', 'Baton sends adverts to 224.0.0.18 (RFC 5798 §5.1.1.2) only'],
  vrrp_iptables: ['note', 'Baton adds no iptables rules'],
  vrrp_check_unicast_src: ['note', 'Baton accepts unicast adverts only from the configured peers'],
  checker_log_all_failures: ['note', 'Baton logs every health state change'],
  default_interface: ['note', 'every Baton instance names its interface'],
  dynamic_interfaces: ['note', 'Baton watches the link state of the tracked interfaces'],
  max_auto_priority: ['note', 'run Baton with the scheduling you want from systemd (CPUSchedulingPolicy)'],
  vrrp_priority: ['note', 'process scheduling priority: use systemd Nice='],
  checker_priority: ['note', 'process scheduling priority: use systemd Nice='],
  vrrp_no_swap: ['note', 'memory locking: use systemd MemorySwapMax='],
  checker_no_swap: ['note', 'memory locking: use systemd MemorySwapMax='],
  vrrp_version: ['note', ''],
  script_user: ['note', ''],
};

const INSTANCE_UNMAPPED: Record<string, [FindingLevel, string]> = {
  lvs_sync_daemon_interface: ['note', 'LVS connection sync has no meaning for a proxy: each Baton node holds its own client connections'],
  smtp_alert: ['decision', 'Baton sends no e-mail; use a notify script'],
  dont_track_primary: ['decision', 'Baton always watches the instance interface'],
  use_vmac: ['decision', 'Baton sends from the interface MAC address; a VMAC interface is not created'],
  vmac_xmit_base: ['decision', 'Baton uses no VMAC'],
  native_ipv6: ['decision', 'Baton speaks VRRP over IPv4'],
  virtual_routes: ['decision', 'Baton adds no routes on becoming master; add them from notify_master'],
  virtual_rules: ['decision', 'Baton adds no routing rules; add them from notify_master'],
  accept: ['note', 'Baton accepts traffic to the VIPs while master (it is a proxy listening there)'],
  no_accept: ['decision', 'Baton listens on the VIPs while master; accept/no_accept has no switch'],
  debug: ['note', 'set log_level: debug at the top level'],
  strict_mode: ['decision', 'no strict RFC mode switch in Baton'],
  notify_master_rx_lower_pri: ['decision', 'Baton has no script for this event'],
  promote_secondaries: ['note', 'Baton removes only the VIPs it added'],
  linkbeat_use_polling: ['note', 'Baton follows the link state from netlink'],
  garp_lower_prio_delay: ['note', 'Baton sends its gratuitous ARPs on becoming master and on refresh only'],
  garp_lower_prio_repeat: ['note', 'Baton sends its gratuitous ARPs on becoming master and on refresh only'],
  garp_master_refresh_repeat: ['note', 'each refresh sends garp.repeat ARPs'],
  skip_check_adv_addr: ['note', 'Baton checks the addresses of every advert it receives'],
  mcast_src_ip: ['note', ''],
};

const VS_ALGO: Record<string, string> = { rr: 'roundrobin', wrr: 'roundrobin', lc: 'leastconn', wlc: 'leastconn', sh: 'source', mh: 'source' };

class Mapper {
  readonly findings: Finding[] = [];
  /** Comment lines of the output's header: findings of no emitted block, and the blocks left out. */
  private readonly headerLines: string[] = [];
  readonly comments: OutputComment[] = [];
  env: EnvNeed[] = [];

  /** Forgets the variable of an auth_pass that is not in the output after all. */
  private dropEnv(name: unknown): void {
    this.env = this.env.filter((e) => e.name !== name);
  }
  readonly commands = new Set<string>();
  private readonly scripts = new Map<string, Statement>();
  private readonly vsGroups = new Map<string, Statement>();
  private readonly usedVsGroups = new Set<string>();
  private readonly usedScripts = new Set<string>();
  private version: 2 | 3 = 2;
  private versionFrom: Statement | undefined;

  constructor(private readonly opts: MapOptions) {}

  where(p: SourcePos): string {
    const rel = relative(this.opts.baseDir, p.file) || p.file;
    return `${rel.startsWith('..') ? p.file : rel}:${p.line}`;
  }

  /** Records a finding; returns the comment line for the block it belongs to. */
  find(s: Statement, level: FindingLevel, message: string, sink?: string[]): void {
    const f: Finding = { file: s.file, line: s.line, level, statement: stmtText(s), message };
    this.findings.push(f);
    const line = `${level === 'decision' ? 'DECIDE' : 'note'}: ${this.where(s)} ${f.statement} -- ${message}`;
    // A finding with no block of the output to sit beside goes in the header, so it is in the file too.
    (sink ?? this.headerLines).push(line);
  }

  unknown(s: Statement, context: string, sink?: string[]): void {
    this.find(s, 'decision', `not a keyword of ${context} (keepalived ignores it too, with a warning): check what was meant`, sink);
  }

  commandOf(s: Statement, text: string, sink: string[]): string[] | undefined {
    const split = splitCommand(text);
    if (!split.ok || split.argv.length === 0) {
      this.find(s, 'decision', `cannot split the command: ${split.ok ? 'it is empty' : split.error}`, sink);
      return undefined;
    }
    const argv = split.argv;
    const first = argv[0]!;
    const shellWord = argv.find((a) => /^(\||\|\||&&|;|>|>>|<|2>&1|&)$/.test(a) || a.startsWith('$('));
    if (shellWord !== undefined) {
      this.find(
        s,
        'decision',
        `"${shellWord}" is an argument here: keepalived runs this without a shell, and so does Baton; if a shell was meant, write the command as [/bin/sh, -c, "..."]`,
        sink,
      );
    }
    if (!first.startsWith('/')) {
      const found = this.opts.resolveCommand(first);
      if (!found) {
        this.find(s, 'decision', `"${first}" is not an absolute path and was not found in the standard directories; Baton runs commands without $PATH`, sink);
        return undefined;
      }
      this.find(s, 'note', `"${first}" resolved to ${found} (keepalived searches $PATH; Baton runs absolute paths only)`, sink);
      argv[0] = found;
    }
    this.commands.add(argv[0]!);
    return argv;
  }

  numberArg(s: Statement, sink: string[], min = -Infinity, max = Infinity): number | undefined {
    const text = s.args[0]?.text;
    const n = text === undefined ? NaN : Number(text);
    if (!Number.isFinite(n) || n < min || n > max) {
      this.find(s, 'decision', `expected a number${Number.isFinite(min) ? ` ${min}-${max}` : ''}; left out`, sink);
      return undefined;
    }
    return n;
  }

  run(statements: Statement[]): MapResult {
    const config: Obj = {};
    const vrrp: Obj[] = [];
    const services: Obj[] = [];
    // Pass 1: definitions that others use by name, wherever they stand in the file.
    for (const s of statements) {
      if (s.keyword === 'vrrp_script' && s.args[0]) this.scripts.set(s.args[0].text, s);
      if (s.keyword === 'virtual_server_group' && s.args[0]) this.vsGroups.set(s.args[0].text, s);
      if (s.keyword === 'global_defs') {
        for (const g of s.block ?? []) {
          if (g.keyword === 'vrrp_version') {
            const v = Number(g.args[0]?.text);
            if (v === 2 || v === 3) {
              this.version = v;
              this.versionFrom = g;
            }
          }
        }
      }
    }
    const pendingGroups: Statement[] = [];
    for (const s of statements) {
      switch (s.keyword) {
        case 'global_defs':
          this.globalDefs(s, config);
          break;
        case 'vrrp_instance': {
          const inst = this.instance(s, vrrp.length);
          if (inst) vrrp.push(inst);
          break;
        }
        case 'vrrp_script':
          break; // used by track_script; an unused one is reported at the end
        case 'vrrp_sync_group':
          pendingGroups.push(s);
          break;
        case 'virtual_server': {
          if (s.args[0]?.text !== 'group') {
            const svc = this.virtualServer(s, services.length);
            if (svc) services.push(svc);
            break;
          }
          // One service per member of the group, each with the block's settings.
          const listens = this.groupListens(s);
          const first = listens[0];
          if (!first) break;
          const svc = this.virtualServer(s, services.length, first);
          if (!svc) break;
          const index = services.length;
          services.push(svc);
          for (const l of listens.slice(1)) {
            this.comments.push({ path: ['services', services.length], before: [`virtual_server group ${s.args[1]?.text ?? ''} (${this.where(s)}), member ${l.ip} ${l.port}: as services[${index}]`] });
            services.push({ ...structuredClone(svc), name: `vs_${l.ip}_${l.port}`, listen: `${l.ip}:${l.port}` });
          }
          break;
        }
        case 'virtual_server_group':
          break; // read with the virtual_server that names it; an unused one is reported at the end
        case 'static_ipaddress':
        case 'static_routes':
        case 'static_rules':
          this.find(s, 'decision', 'Baton does not configure static addresses, routes or rules; keep them in the system network config');
          break;
        case 'linkbeat_interfaces':
          this.find(s, 'note', 'Baton follows the link state from netlink');
          break;
        default:
          this.unknown(s, 'the top level');
      }
    }
    const groups: Obj[] = [];
    const grouped = new Set<string>();
    for (const g of pendingGroups) {
      const made = this.syncGroup(g, vrrp, groups.length);
      if (!made) continue;
      const group = made.group;
      const members = (group.instances as string[]).filter((m) => !grouped.has(m));
      if (members.length < (group.instances as string[]).length) {
        this.find(g, 'decision', 'an instance is in two sync groups; it stays in the first only');
        group.instances = members;
      }
      if (members.length < 2) {
        this.pushHeaderLines([`${made.comment[0]} left out: its instances are in an earlier group`, ...made.comment.slice(1)]);
        continue;
      }
      for (const m of members) grouped.add(m);
      this.comments.push({ path: ['vrrp_sync_groups', groups.length], before: made.comment });
      groups.push(group);
    }
    for (const [name, s] of this.vsGroups) {
      if (!this.usedVsGroups.has(name)) this.find(s, 'note', 'no virtual_server uses this group; left out');
    }
    for (const [name, s] of this.scripts) {
      if (!this.usedScripts.has(name)) this.find(s, 'note', 'no vrrp_instance tracks this script, so it never ran; left out');
    }
    if (vrrp.length > 0) config.vrrp = vrrp;
    if (groups.length > 0) config.vrrp_sync_groups = groups;
    if (services.length > 0) config.services = services;
    return { config, comments: this.comments, findings: this.findings, env: this.env, commands: [...this.commands].sort() };
  }

  globalDefs(s: Statement, config: Obj): void {
    const sink: string[] = [];
    for (const g of s.block ?? []) {
      if (g.keyword === 'router_id' && g.args[0]) {
        config.node = g.args[0].text;
        this.comments.push({ path: ['node'], before: [`global_defs router_id (${this.where(g)})`], inline: true });
        continue;
      }
      if (g.keyword === 'vrrp_version') {
        if (g !== this.versionFrom) this.find(g, 'decision', 'vrrp_version must be 2 or 3', sink);
        continue;
      }
      if (g.keyword === 'script_user') {
        this.find(g, 'note', 'Baton runs scripts as its own user: set User= in the systemd unit (or run the scripts with sudo/setpriv) to keep this user', sink);
        continue;
      }
      const known = GLOBAL_UNMAPPED[g.keyword];
      if (known) this.find(g, known[0], known[1], sink);
      else this.unknown(g, 'global_defs', sink);
    }
    this.pushHeaderLines(sink);
  }

  pushHeaderLines(lines: string[]): void {
    this.headerLines.push(...lines);
  }
  header(): string[] {
    return this.headerLines;
  }

  instance(s: Statement, index: number): Obj | undefined {
    const name = s.args[0]?.text ?? `VI_${index + 1}`;
    const sink: string[] = [];
    const out: Obj = { name: safeName(name, `VI_${index + 1}`) };
    const notify: string[][] = [];
    const notifyOn: Record<string, string[][]> = {};
    const vips: string[] = [];
    const trackInterfaces: (string | Obj)[] = [];
    const trackScripts: Obj[] = [];
    const unicastPeers: string[] = [];
    const garp: Obj = {};
    let version = this.version;
    let stateHint: Statement | undefined;
    let nopreempt: Statement | undefined;
    let hasAuthPass: Statement | undefined;
    for (const k of s.block ?? []) {
      const w = words(k);
      switch (k.keyword) {
        case 'state':
          stateHint = k;
          break;
        case 'interface':
          if (w[0]) out.interface = w[0];
          break;
        case 'virtual_router_id': {
          const n = this.numberArg(k, sink, 1, 255);
          if (n !== undefined) out.router_id = n;
          break;
        }
        case 'priority': {
          const n = this.numberArg(k, sink, 1, 255);
          if (n !== undefined) out.priority = n;
          break;
        }
        case 'advert_int': {
          const n = this.numberArg(k, sink, 0.01, 255);
          if (n !== undefined) out.advert_interval = n;
          break;
        }
        case 'version': {
          const n = Number(w[0]);
          if (n === 2 || n === 3) version = n;
          else this.find(k, 'decision', 'version must be 2 or 3', sink);
          break;
        }
        case 'nopreempt':
          nopreempt = k;
          out.preempt = false;
          break;
        case 'preempt':
          out.preempt = true;
          break;
        case 'preempt_delay': {
          const n = this.numberArg(k, sink, 0, 1000);
          if (n !== undefined) out.preempt_delay = secondsToDuration(n);
          break;
        }
        case 'authentication':
          hasAuthPass = this.authentication(k, out, name, sink) ?? hasAuthPass;
          break;
        case 'unicast_src_ip':
        case 'mcast_src_ip':
          if (w[0] && isIPv4(w[0])) {
            out.unicast_src_ip = w[0];
            if (k.keyword === 'mcast_src_ip') this.find(k, 'note', 'the source address of the adverts: unicast_src_ip in Baton', sink);
          } else this.find(k, 'decision', 'not an IPv4 address; left out', sink);
          break;
        case 'unicast_peer':
          for (const p of k.block ?? []) {
            if (isIPv4(p.keyword)) {
              unicastPeers.push(p.keyword);
              if (p.args.length > 0) this.find(p, 'note', `peer options (${words(p).join(' ')}) are not kept; Baton checks TTL 255 on every advert (RFC 5798 §5.1.1.3)`, sink);
            } else this.find(p, 'decision', 'not an IPv4 peer address; left out', sink);
          }
          break;
        case 'virtual_ipaddress':
        case 'virtual_ipaddress_excluded':
          for (const v of k.block ?? []) this.vip(v, k.keyword, out, vips, sink);
          if (k.keyword === 'virtual_ipaddress_excluded' && (k.block ?? []).length > 0) {
            this.find(k, 'decision', 'Baton has no excluded addresses: they are added to virtual_ips and so are named in the adverts, which keepalived peers log as an address mismatch', sink);
          }
          break;
        case 'track_interface':
          for (const t of k.block ?? []) {
            const tw = words(t);
            const weight = tw[0] === 'weight' ? Number(tw[1]) : 0;
            if (tw[0] === 'weight' && !(Number.isInteger(weight) && weight >= -253 && weight <= 253)) {
              this.find(t, 'decision', 'weight must be -253..253; the interface is tracked without a weight (down = FAULT)', sink);
              trackInterfaces.push(t.keyword);
            } else if (tw[0] === 'weight') {
              trackInterfaces.push(weight === 0 ? t.keyword : { name: t.keyword, weight });
              if (tw.length > 2) this.find(t, 'decision', `unknown option ${tw.slice(2).join(' ')}`, sink);
            } else {
              trackInterfaces.push(t.keyword);
              if (tw.length > 0) this.find(t, 'decision', `unknown option ${tw.join(' ')}`, sink);
            }
          }
          break;
        case 'track_script':
          for (const t of k.block ?? []) {
            const ts = this.trackScript(t, sink);
            if (ts) trackScripts.push(ts);
          }
          break;
        case 'notify':
        case 'notify_master':
        case 'notify_backup':
        case 'notify_fault':
        case 'notify_stop': {
          const text = w.join(' ');
          const argv = this.commandOf(k, text, sink);
          if (!argv) break;
          if (k.keyword === 'notify') notify.push(argv);
          else (notifyOn[k.keyword] ??= []).push(argv);
          break;
        }
        case 'garp_master_delay': {
          const n = this.numberArg(k, sink, 0, 1000);
          if (n !== undefined) garp.delay = secondsToDuration(n);
          break;
        }
        case 'garp_master_repeat': {
          const n = this.numberArg(k, sink, 0, 100);
          if (n !== undefined) garp.repeat = n;
          break;
        }
        case 'garp_interval': {
          const n = this.numberArg(k, sink, 0, 10);
          if (n !== undefined) garp.interval = secondsToDuration(n);
          break;
        }
        case 'garp_master_refresh': {
          const n = this.numberArg(k, sink, 0, 86400);
          if (n !== undefined) garp.refresh = secondsToDuration(n);
          break;
        }
        default: {
          const known = INSTANCE_UNMAPPED[k.keyword];
          if (known) this.find(k, known[0], known[1], sink);
          else this.unknown(k, 'vrrp_instance', sink);
        }
      }
    }
    // Defaults that differ between keepalived and Baton are written out.
    if (out.priority === undefined) out.priority = 100;
    out.version = version;
    const advertS = typeof out.advert_interval === 'number' ? out.advert_interval : 1;
    if (version === 2 && !Number.isInteger(advertS)) {
      const rounded = Math.max(1, Math.round(advertS));
      this.find(s, 'decision', `VRRPv2 adverts carry whole seconds (RFC 3768 §5.3.7): advert_int ${advertS} becomes ${rounded}s`, sink);
      out.advert_interval = `${rounded}s`;
    } else out.advert_interval = secondsToDuration(advertS);
    if (version === 3 && hasAuthPass) {
      this.find(hasAuthPass, 'decision', 'VRRPv3 has no authentication (RFC 5798 §9); keepalived ignores it with version 3 and so does Baton', sink);
      this.dropEnv(out.auth_pass_env);
      delete out.auth_pass_env;
    }
    if (stateHint) {
      const st = (stateHint.args[0]?.text ?? '').toUpperCase();
      const msg =
        st === 'MASTER'
          ? 'a start hint only: Baton starts as backup and becomes master after the master-down interval (RFC 5798 §6.4.2) unless a higher priority advertises; priority decides'
          : 'Baton starts every instance as backup';
      this.find(stateHint, 'note', msg, sink);
    }
    if (nopreempt && stateHint && (stateHint.args[0]?.text ?? '').toUpperCase() === 'MASTER') {
      this.find(nopreempt, 'note', 'keepalived honours nopreempt only with state BACKUP; Baton honours it always', sink);
    }
    if (unicastPeers.length > 0) out.unicast_peers = unicastPeers;
    if (Object.keys(garp).length > 0) out.garp = garp;
    if (trackInterfaces.length > 0 || trackScripts.length > 0) {
      const track: Obj = {};
      if (trackInterfaces.length > 0) track.interfaces = trackInterfaces;
      if (trackScripts.length > 0) track.scripts = trackScripts;
      out.track = track;
    }
    if (notify.length > 0) out.notify = notify;
    for (const [key, list] of Object.entries(notifyOn)) out[key] = list;
    const missing = ['interface', 'router_id'].filter((key) => out[key] === undefined);
    if (vips.length === 0) missing.push('virtual_ipaddress');
    const header = [`vrrp_instance ${name} (${this.where(s)})`];
    if (missing.length > 0) {
      this.find(s, 'decision', `left out: Baton needs ${missing.join(', ')} and the block has none`);
      this.dropEnv(out.auth_pass_env);
      this.pushHeaderLines([`vrrp_instance ${name} (${this.where(s)}) left out: it has no ${missing.join(', ')}`, ...sink]);
      return undefined;
    }
    out.virtual_ips = vips;
    // Keep the keys in the order of the reference (docs/config.md).
    const ordered: Obj = {};
    for (const key of ['name', 'interface', 'router_id', 'priority', 'version', 'advert_interval', 'preempt', 'preempt_delay', 'auth_pass_env', 'unicast_peers', 'unicast_src_ip', 'virtual_ips', 'garp', 'track', 'notify', 'notify_master', 'notify_backup', 'notify_fault', 'notify_stop']) {
      if (out[key] !== undefined) ordered[key] = out[key];
    }
    this.comments.push({ path: ['vrrp', index], before: [...header, ...sink] });
    return ordered;
  }

  authentication(k: Statement, out: Obj, name: string, sink: string[]): Statement | undefined {
    let type = '';
    let pass: Statement | undefined;
    for (const a of k.block ?? []) {
      if (a.keyword === 'auth_type') type = (a.args[0]?.text ?? '').toUpperCase();
      else if (a.keyword === 'auth_pass') pass = a;
      else this.unknown(a, 'authentication', sink);
    }
    if (type === 'AH') {
      this.find(k, 'decision', 'auth_type AH (IPsec AH, RFC 2402) is not implemented by Baton: peers using AH will not accept its adverts; switch the pair to PASS or to no authentication first', sink);
      return undefined;
    }
    if (type !== 'PASS') {
      this.find(k, 'decision', `auth_type ${type || '(missing)'}: keepalived knows PASS and AH; left out`, sink);
      return undefined;
    }
    if (!pass) {
      this.find(k, 'decision', 'auth_type PASS without auth_pass; left out', sink);
      return undefined;
    }
    const env = `BATON_AUTH_PASS_${envSuffix(name)}`;
    out.auth_pass_env = env;
    const value = pass.args[0]?.text ?? '';
    this.env.push({ name: env, why: `the auth_pass of vrrp_instance ${name}${value.length > 8 ? ' (its first 8 characters: keepalived sends no more)' : ''}`, pos: pass });
    sink.push(`note: ${this.where(pass)} auth_pass -- set ${env} to this password where Baton runs (it is not copied here)`);
    return k;
  }

  vip(v: Statement, block: string, out: Obj, vips: string[], sink: string[]): void {
    const address = v.keyword;
    const slash = address.indexOf('/');
    const ip = slash < 0 ? address : address.slice(0, slash);
    if (!isIPv4(ip)) {
      this.find(v, 'decision', `${block}: Baton manages IPv4 virtual addresses only; left out`, sink);
      return;
    }
    const vip = slash < 0 ? `${ip}/32` : address;
    if (vips.some((x) => x.split('/')[0] === ip)) {
      this.find(v, 'note', `${ip} is listed already; kept once`, sink);
      return;
    }
    vips.push(vip);
    const opts = words(v);
    const extras: string[] = [];
    for (let i = 0; i < opts.length; i++) {
      const o = opts[i]!;
      const val = opts[i + 1];
      if (o === 'dev' && val !== undefined) {
        i++;
        if (out.interface !== undefined && val !== out.interface) {
          this.find(v, 'decision', `Baton adds the VIPs on the instance interface ${String(out.interface)}, not on ${val}`, sink);
        }
      } else if ((o === 'label' || o === 'brd' || o === 'scope' || o === 'broadcast') && val !== undefined) {
        i++;
        extras.push(`${o} ${val}`);
      } else extras.push(o);
    }
    if (extras.length > 0) {
      this.find(v, 'note', `${extras.join(', ')}: Baton adds the address with the kernel's defaults (no label, computed broadcast, scope global)`, sink);
    }
  }

  trackScript(t: Statement, sink: string[]): Obj | undefined {
    const name = t.keyword;
    const def = this.scripts.get(name);
    if (!def) {
      this.find(t, 'decision', `no vrrp_script "${name}" is defined; keepalived ignores this entry too`, sink);
      return undefined;
    }
    this.usedScripts.add(name);
    const o: Obj = {};
    let interval = 1;
    let timeout: number | undefined;
    let weight = 0;
    let command: string[] | undefined;
    for (const k of def.block ?? []) {
      switch (k.keyword) {
        case 'script':
          command = this.commandOf(k, words(k).join(' '), sink);
          break;
        case 'interval':
          interval = this.numberArg(k, sink, 0.001, 86400) ?? interval;
          break;
        case 'timeout':
          timeout = this.numberArg(k, sink, 0.001, 86400);
          break;
        case 'rise': {
          const n = this.numberArg(k, sink, 1, 1000);
          if (n !== undefined) o.rise = n;
          break;
        }
        case 'fall': {
          const n = this.numberArg(k, sink, 1, 1000);
          if (n !== undefined) o.fall = n;
          break;
        }
        case 'weight': {
          weight = this.numberArg(k, sink, -253, 253) ?? weight;
          if (k.args[1]?.text === 'reverse') this.find(k, 'decision', 'weight ... reverse is not supported: the sign of the weight decides', sink);
          break;
        }
        case 'user':
          this.find(k, 'note', 'Baton runs track scripts as its own user', sink);
          break;
        case 'init_fail':
          this.find(k, 'note', 'a Baton track script starts as succeeded until its first result', sink);
          break;
        default:
          this.unknown(k, 'vrrp_script', sink);
      }
    }
    const tw = words(t);
    if (tw[0] === 'weight' && tw[1] !== undefined) {
      const n = Number(tw[1]);
      if (Number.isInteger(n) && n >= -253 && n <= 253) weight = n;
      else this.find(t, 'decision', 'weight must be -253..253; the script\'s own weight is kept', sink);
      if (tw[2] === 'reverse') this.find(t, 'decision', 'weight ... reverse is not supported', sink);
    } else if (tw.length > 0) this.find(t, 'decision', `unknown option ${tw.join(' ')}`, sink);
    if (!command) {
      this.find(t, 'decision', `vrrp_script "${name}" (${this.where(def)}) has no usable script; left out`, sink);
      return undefined;
    }
    const timeoutS = timeout ?? interval;
    return {
      command,
      interval: secondsToDuration(interval),
      timeout: secondsToDuration(timeoutS),
      ...(o.rise !== undefined ? { rise: o.rise } : {}),
      ...(o.fall !== undefined ? { fall: o.fall } : {}),
      weight,
    };
  }

  syncGroup(g: Statement, vrrp: Obj[], index: number): { group: Obj; comment: string[] } | undefined {
    const sink: string[] = [];
    const name = safeName(g.args[0]?.text ?? `G${index + 1}`, `G${index + 1}`);
    const out: Obj = { name };
    const members: string[] = [];
    const emitted = new Set(vrrp.map((v) => String(v.name)));
    for (const k of g.block ?? []) {
      switch (k.keyword) {
        case 'group':
          for (const m of k.block ?? []) {
            if (emitted.has(m.keyword)) members.push(m.keyword);
            else this.find(m, 'decision', `vrrp_instance ${m.keyword} is not in the output (undefined or left out), so it is not in the group`, sink);
          }
          break;
        case 'notify':
        case 'notify_master':
        case 'notify_backup':
        case 'notify_fault':
        case 'notify_stop': {
          const argv = this.commandOf(k, words(k).join(' '), sink);
          if (argv) out[k.keyword] = [...((out[k.keyword] as string[][] | undefined) ?? []), argv];
          break;
        }
        case 'smtp_alert':
          this.find(k, 'decision', 'Baton sends no e-mail; use a notify script', sink);
          break;
        case 'global_tracking':
        case 'sync_group_tracking_weight':
          this.find(k, 'decision', 'Baton puts every member in FAULT when one is; tracking weights stay with each instance', sink);
          break;
        default:
          this.unknown(k, 'vrrp_sync_group', sink);
      }
    }
    const header = [`vrrp_sync_group ${g.args[0]?.text ?? ''} (${this.where(g)})`];
    if (members.length < 2) {
      this.find(g, 'decision', 'left out: a sync group needs two instances of the output');
      this.pushHeaderLines([`${header[0]} left out: fewer than two of its instances are in the output`, ...sink]);
      return undefined;
    }
    const ordered: Obj = { name, instances: members };
    for (const key of ['notify', 'notify_master', 'notify_backup', 'notify_fault', 'notify_stop']) if (out[key] !== undefined) ordered[key] = out[key];
    return { group: ordered, comment: [...header, ...sink] };
  }

  /**
   * The address:port members of the virtual_server_group a `virtual_server
   * group NAME` names; ranges (`10.0.0.3-10 80`) are expanded; firewall
   * marks and anything else are findings.
   */
  groupListens(s: Statement): { ip: string; port: number }[] {
    const name = s.args[1]?.text ?? '';
    const group = this.vsGroups.get(name);
    if (!group) {
      this.find(s, 'decision', `no virtual_server_group "${name}" is defined; left out`);
      return [];
    }
    this.usedVsGroups.add(name);
    const out: { ip: string; port: number }[] = [];
    for (const m of group.block ?? []) {
      const port = Number(m.args[0]?.text);
      const range = /^(\d+\.\d+\.\d+\.)(\d+)-(\d+)$/.exec(m.keyword);
      const okPort = Number.isInteger(port) && port >= 1 && port <= 65535 && m.args.length === 1;
      if (okPort && isIPv4(m.keyword)) out.push({ ip: m.keyword, port });
      else if (okPort && range && Number(range[3]) >= Number(range[2]) && Number(range[3]) <= 255 && isIPv4(`${range[1]}${range[2]}`)) {
        for (let last = Number(range[2]); last <= Number(range[3]); last++) out.push({ ip: `${range[1]}${last}`, port });
      } else {
        this.find(m, 'decision', `${m.keyword === 'fwmark' ? 'a firewall mark' : 'not an IPv4 address and port'}: Baton listens on an address and port; this member is left out`);
      }
    }
    const seen = new Set<string>();
    return out.filter((l) => {
      const k = `${l.ip}:${l.port}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
  }

  virtualServer(s: Statement, index: number, member?: { ip: string; port: number }): Obj | undefined {
    const sink: string[] = [];
    const [ip, portText] = member ? [member.ip, String(member.port)] : words(s);
    const label = member
      ? `virtual_server ${words(s).join(' ')} (${this.where(s)}), member ${member.ip} ${member.port}`
      : `virtual_server ${words(s).join(' ')} (${this.where(s)})`;
    const port = Number(portText);
    if (ip === 'fwmark' || !ip || !isIPv4(ip) || !Number.isInteger(port) || port < 1 || port > 65535) {
      this.find(s, 'decision', 'Baton listens on an IPv4 address and port; a firewall-mark or IPv6 virtual server is left out');
      return undefined;
    }
    const out: Obj = { name: `vs_${ip}_${port}`, listen: `${ip}:${port}` };
    const servers: Obj[] = [];
    const sorry: Obj[] = [];
    let protocol = 'TCP';
    let delayLoop = 60;
    let persistence = false;
    const checks: { check: Obj; server: string; pos: Statement }[] = [];
    let lbKind = 'NAT';
    let alpha = false;
    for (const k of s.block ?? []) {
      const w = words(k);
      switch (k.keyword) {
        case 'lb_algo':
        case 'lvs_sched': {
          const algo = VS_ALGO[w[0] ?? ''];
          if (algo) {
            out.balance = algo;
            if (w[0] === 'wrr' || w[0] === 'wlc') this.find(k, 'note', `${w[0]}: Baton's ${algo} honours the server weights`, sink);
            if (w[0] === 'mh') this.find(k, 'note', "Baton's source balancing hashes the client address (no Maglev table)", sink);
          } else this.find(k, 'decision', `scheduler ${w[0] ?? '(none)'} has no Baton equivalent; roundrobin is used`, sink);
          break;
        }
        case 'lb_kind':
        case 'lvs_method':
          lbKind = (w[0] ?? '').toUpperCase();
          break;
        case 'protocol':
          protocol = (w[0] ?? '').toUpperCase();
          break;
        case 'delay_loop':
          delayLoop = this.numberArg(k, sink, 0.001, 86400) ?? delayLoop;
          break;
        case 'persistence_timeout':
          persistence = true;
          this.find(k, 'note', 'persistence becomes balance: source (the same client address goes to the same server while it is up), without a timeout', sink);
          break;
        case 'persistence_granularity':
          this.find(k, 'note', 'source balancing hashes the whole client address', sink);
          break;
        case 'real_server': {
          const r = this.realServer(k, sink, checks);
          if (r) servers.push(r);
          break;
        }
        case 'sorry_server': {
          const [sip, sport] = w;
          if (sip && isIPv4(sip) && Number(sport) > 0) {
            sorry.push({ name: `sorry_${sip}_${sport}`, address: `${sip}:${sport}`, backup: true });
            this.find(k, 'note', 'the sorry server becomes a backup server: it takes clients only while no real server is up', sink);
          } else this.find(k, 'decision', 'expected sorry_server IP PORT; left out', sink);
          break;
        }
        case 'sorry_server_inhibit':
          this.find(k, 'note', 'a backup server takes no clients while a real server is up', sink);
          break;
        case 'virtualhost':
          this.find(k, 'decision', 'Baton http checks send the server address as Host; a virtualhost is not sent', sink);
          break;
        case 'alpha':
          this.find(k, 'note', 'servers start down until their checks pass (health.initial: down)', sink);
          alpha = true;
          break;
        case 'omega':
        case 'quorum':
        case 'quorum_up':
        case 'quorum_down':
        case 'hysteresis':
          this.find(k, 'decision', 'Baton has no quorum on a service; track the service from a vrrp instance (track.services) to fail over when it has no up server', sink);
          break;
        case 'ha_suspend':
          this.find(k, 'note', 'Baton checks servers on every node, master or backup', sink);
          break;
        case 'ops':
        case 'one_packet_scheduler':
          this.find(k, 'note', 'one-packet scheduling applies to UDP, which Baton does not proxy', sink);
          break;
        case 'nopreempt':
          this.find(k, 'decision', 'nopreempt belongs in a vrrp_instance; keepalived ignores it in a virtual_server (with a warning). Put preempt: false on the instance if that was meant', sink);
          break;
        default:
          this.unknown(k, 'virtual_server', sink);
      }
    }
    servers.push(...sorry);
    const header = [label];
    if (protocol !== 'TCP') {
      this.find(s, 'decision', `protocol ${protocol}: Baton is a TCP proxy; this service is left out`);
      this.pushHeaderLines([`${label} left out: protocol ${protocol}`, ...sink]);
      return undefined;
    }
    if (servers.length === 0) {
      this.find(s, 'decision', 'no real_server; Baton needs at least one server, so the service is left out');
      this.pushHeaderLines([`${label} left out: no real_server`, ...sink]);
      return undefined;
    }
    if (lbKind === 'DR' || lbKind === 'TUN') {
      this.find(
        s,
        'decision',
        `lb_kind ${lbKind}: Baton is a TCP proxy, not a packet forwarder. The servers must listen on their own address (remove the VIP from their loopback/tunnel and the arp_ignore/arp_announce settings) and answers return through Baton. The client address reaches them through the PROXY protocol, not ${lbKind}: add send_proxy: v2 to this service once they accept it (MariaDB: proxy_protocol_networks); until then they see Baton's address`,
        sink,
      );
    } else if (lbKind === 'NAT') {
      this.find(s, 'note', 'lb_kind NAT: Baton proxies the connections; the servers no longer need this node as their gateway', sink);
    } else this.find(s, 'decision', `lb_kind ${lbKind || '(empty)'}: unknown forwarding method`, sink);
    this.find(s, 'note', `Baton listens on ${ip}:${port} on every node; a backup binds it before holding the VIP, which needs net.ipv4.ip_nonlocal_bind=1`, sink);
    if (persistence) out.balance = 'source';
    out.servers = servers;
    // One health block per service: keepalived checks each real server on its own.
    if (checks.length > 0) {
      const first = checks[0]!;
      const same = checks.every((c) => JSON.stringify(c.check) === JSON.stringify(first.check));
      const health: Obj = { ...first.check };
      if (!same) this.find(first.pos, 'decision', 'the real servers have different checks; Baton has one health check per service and uses the first', sink);
      if (checks.length < servers.filter((x) => !x.backup).length) {
        this.find(s, 'decision', 'some real servers have no checker (always up in keepalived); in Baton every server of the service gets the check', sink);
      }
      if (health.interval === undefined) health.interval = secondsToDuration(delayLoop);
      const iv = durS(String(health.interval));
      if (health.timeout !== undefined && durS(String(health.timeout)) > iv) {
        this.find(first.pos, 'note', `the check timeout ${String(health.timeout)} is longer than the interval; Baton allows that, but checks never overlap, so a hung server would be checked only every timeout: timeout is ${String(health.interval)}, so it goes down as fast as under keepalived`, sink);
        health.timeout = health.interval;
      }
      health.initial = alpha ? 'down' : 'up';
      if (!alpha) sink.push('note: keepalived counts a real server up until a check fails; health.initial: up keeps that');
      out.health = orderHealth(health);
    }
    this.comments.push({ path: ['services', index], before: [...header, ...sink] });
    return out;
  }

  realServer(k: Statement, sink: string[], checks: { check: Obj; server: string; pos: Statement }[]): Obj | undefined {
    const [ip, portText] = words(k);
    const port = Number(portText);
    if (!ip || !isIPv4(ip) || !Number.isInteger(port) || port < 1 || port > 65535) {
      this.find(k, 'decision', 'expected real_server IPv4 PORT; left out', sink);
      return undefined;
    }
    const server: Obj = { name: `rs_${ip}_${port}`, address: `${ip}:${port}` };
    let found = false;
    for (const r of k.block ?? []) {
      switch (r.keyword) {
        case 'weight': {
          const n = this.numberArg(r, sink, 0, 65535);
          if (n === undefined) break;
          if (n > 256) this.find(r, 'decision', `Baton weights are 0-256; ${n} becomes 256`, sink);
          server.weight = Math.min(256, n);
          break;
        }
        case 'inhibit_on_failure':
          this.find(r, 'note', 'a failed server takes no new clients and its open sessions are left to finish, as with inhibit_on_failure', sink);
          break;
        case 'TCP_CHECK':
        case 'HTTP_GET':
        case 'SSL_GET':
        case 'MISC_CHECK':
        case 'SMTP_CHECK':
        case 'DNS_CHECK':
        case 'UDP_CHECK':
        case 'PING_CHECK':
        case 'FILE_CHECK':
        case 'BFD_CHECK': {
          if (found) {
            this.find(r, 'decision', 'a second checker on one server: Baton runs one check per service; left out', sink);
            break;
          }
          const c = this.checker(r, ip, port, sink);
          if (c) {
            found = true;
            checks.push({ check: c, server: ip, pos: r });
          }
          break;
        }
        case 'notify_up':
        case 'notify_down':
          this.find(r, 'decision', 'Baton runs no script when a server changes state; it logs one line and exports baton_server_up', sink);
          break;
        case 'uthreshold': {
          // LVS sends a server no new connection while it has uthreshold of them; Baton's max_connections does the same and queues the rest.
          const n = this.numberArg(r, sink, 0, 1_000_000);
          if (n === undefined) break;
          if (!Number.isInteger(n)) {
            this.find(r, 'decision', 'uthreshold must be a whole number; left out', sink);
            break;
          }
          if (n === 0) {
            this.find(r, 'note', 'uthreshold 0 means no limit, as in LVS', sink);
            break;
          }
          server.max_connections = n;
          this.find(r, 'note', `max_connections: ${n}; a client past it waits in the service's queue (queue_timeout, default 5s) instead of going to another server or being refused`, sink);
          break;
        }
        case 'lthreshold':
          this.find(r, 'note', "Baton gives a freed slot to the next queued client at once; lthreshold's hysteresis has no equivalent", sink);
          break;
        default:
          this.unknown(r, 'real_server', sink);
      }
    }
    return server;
  }

  checker(c: Statement, ip: string, port: number, sink: string[]): Obj | undefined {
    const h: Obj = {};
    let retry: number | undefined;
    const kind = c.keyword;
    if (kind === 'TCP_CHECK') h.check = 'tcp';
    else if (kind === 'HTTP_GET' || kind === 'SSL_GET') {
      h.check = 'http';
      if (kind === 'SSL_GET') this.find(c, 'decision', 'Baton http checks speak plain HTTP, not TLS: point the check at a plain-HTTP port or use a script check', sink);
    } else if (kind === 'MISC_CHECK') h.check = 'script';
    else {
      h.check = 'tcp';
      this.find(c, 'decision', `${kind} has no Baton equivalent; a tcp check on the server port is used instead`, sink);
    }
    let urls = 0;
    for (const k of c.block ?? []) {
      const w = words(k);
      switch (k.keyword) {
        case 'connect_port': {
          const n = this.numberArg(k, sink, 1, 65535);
          if (n !== undefined && n !== port) h.port = n;
          break;
        }
        case 'connect_timeout': {
          const n = this.numberArg(k, sink, 0.001, 86400);
          if (n !== undefined) h.timeout = secondsToDuration(n);
          break;
        }
        case 'retry':
        case 'nb_get_retry': {
          const n = this.numberArg(k, sink, 0, 1000);
          if (n !== undefined) retry = n;
          break;
        }
        case 'delay_before_retry':
          this.find(k, 'note', 'Baton retries at the check interval, without a separate delay', sink);
          break;
        case 'delay_loop': {
          const n = this.numberArg(k, sink, 0.001, 86400);
          if (n !== undefined) h.interval = secondsToDuration(n);
          break;
        }
        case 'warmup':
          this.find(k, 'note', 'Baton starts checking at once', sink);
          break;
        case 'connect_ip':
        case 'bindto':
        case 'bind_port':
        case 'bind_if':
          this.find(k, 'decision', 'Baton checks the server address from the default source; this option is not kept', sink);
          break;
        case 'url':
          urls++;
          if (urls > 1) {
            this.find(k, 'decision', 'Baton checks one path; only the first url is kept', sink);
            break;
          }
          for (const u of k.block ?? []) {
            if (u.keyword === 'path' && u.args[0]) h.path = u.args[0].text.startsWith('/') ? u.args[0].text : `/${u.args[0].text}`;
            else if (u.keyword === 'status_code') {
              const n = Number(u.args[0]?.text);
              if (Number.isInteger(n) && n >= 100 && n <= 599) h.status = n;
              else this.find(u, 'decision', 'Baton expects one status code 100-599; the default 200 is used', sink);
            } else if (u.keyword === 'digest') this.find(u, 'decision', 'Baton checks the status (and optionally a body substring with expect), not an MD5 digest of the body', sink);
            else if (u.keyword === 'virtualhost') this.find(u, 'decision', 'a virtualhost is not sent', sink);
            else this.unknown(u, 'url', sink);
          }
          break;
        case 'misc_path': {
          const argv = this.commandOf(k, w.join(' '), sink);
          if (argv) h.command = this.serverIndependent(argv, ip, port, k, sink);
          break;
        }
        case 'misc_timeout': {
          const n = this.numberArg(k, sink, 0.001, 86400);
          if (n !== undefined) h.timeout = secondsToDuration(n);
          break;
        }
        case 'misc_dynamic':
          this.find(k, 'decision', "the exit code of a Baton script check means up (0) or down; it does not set the server's weight", sink);
          break;
        case 'user':
          this.find(k, 'note', 'Baton runs check scripts as its own user', sink);
          break;
        case 'virtualhost':
          this.find(k, 'decision', 'a virtualhost is not sent', sink);
          break;
        default:
          this.unknown(k, kind, sink);
      }
    }
    if (h.check === 'script' && !h.command) {
      this.find(c, 'decision', 'MISC_CHECK without a usable misc_path; left out', sink);
      return undefined;
    }
    // keepalived marks a server down after the first failure plus `retry` retries.
    h.fall = (retry ?? 1) + 1;
    h.rise = 1;
    return h;
  }

  /**
   * keepalived gives every real server its own misc_path, often with the
   * server's address as an argument; Baton has one command per service and
   * passes the address in BATON_SERVER_HOST / BATON_SERVER_PORT. When the
   * address (and port) are the only per-server parts, a small sh wrapper
   * puts them back where the script expects them.
   */
  serverIndependent(argv: string[], ip: string, port: number, k: Statement, sink: string[]): string[] {
    if (!argv.some((a) => a.includes(ip))) return argv;
    const q = (t: string): string => (t === '' ? '' : `'${t.replace(/'/g, `'\\''`)}'`);
    const quote = (a: string): string => {
      if (a === String(port)) return '"$BATON_SERVER_PORT"';
      return a.split(ip).map(q).join('"$BATON_SERVER_HOST"') || "''";
    };
    const script = `exec ${argv.map(quote).join(' ')}`;
    this.find(k, 'note', `the server address in the command becomes $BATON_SERVER_HOST${argv.includes(String(port)) ? ' (and the port $BATON_SERVER_PORT)' : ''}, through /bin/sh -c`, sink);
    this.commands.add('/bin/sh');
    return ['/bin/sh', '-c', script];
  }
}

function durS(d: string): number {
  if (d.endsWith('ms')) return Number(d.slice(0, -2)) / 1000;
  return Number(d.slice(0, -1));
}

function orderHealth(h: Obj): Obj {
  const out: Obj = {};
  for (const k of ['check', 'interval', 'timeout', 'rise', 'fall', 'initial', 'port', 'path', 'status', 'command']) if (h[k] !== undefined) out[k] = h[k];
  return out;
}

export interface MappedConfig extends MapResult {
  header: string[];
}

/** Maps a parsed keepalived.conf to a Baton config (plain data plus comments and findings). */
export function mapKeepalived(statements: Statement[], opts: MapOptions): MappedConfig {
  const m = new Mapper(opts);
  const result = m.run(statements);
  // A real server seen by several virtual servers keeps its name per service; nothing to merge.
  return { ...result, header: m.header() };
}

