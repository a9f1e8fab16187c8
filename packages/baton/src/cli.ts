#!/usr/bin/env node
/**
 * The `baton` command line. `main()` only composes: commands parse their
 * options and call library code, which never reads flags itself. The daemon
 * and the config loader are imported by the commands that use them, so
 * `baton status` and `baton server` start in a fraction of the time.
 */
import { Argument, Command, CommanderError, InvalidArgumentError } from 'commander';
import { createLineLogger, isLogLevel, parseDuration } from '@baton/core';
import { adminClientFrom, type AdminClient, type AdminStateName } from './cli/admin-client.js';
import { formatStatus } from './cli/status.js';
import { formatWhy } from './cli/why.js';

const defaultConfig = () => process.env.BATON_CONFIG ?? '/etc/baton/baton.yaml';

/** Exit codes of the admin commands: 0 ok, 1 the daemon or the network said no, 2 the command line is wrong. */
const EXIT_RUNTIME = 1;
const EXIT_USAGE = 2;

const ADMIN_OPTION_HELP = 'admin API address (default: $BATON_ADMIN or http://127.0.0.1:9900)';

/** Same rule as the config's service and server names. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** `SERVICE/SERVER`, checked before anything is sent. */
function parseServerRef(value: string): { service: string; server: string } {
  const parts = value.split('/');
  if (parts.length !== 2 || !parts[0] || !parts[1]) {
    throw new InvalidArgumentError('expected SERVICE/SERVER, e.g. read/db1.');
  }
  const [service, server] = parts as [string, string];
  for (const [what, name] of [['service', service], ['server', server]] as const) {
    if (!NAME.test(name)) {
      throw new InvalidArgumentError(`${what} name ${JSON.stringify(name)} is not valid (1-63 letters, digits, "_", "." or "-").`);
    }
  }
  return { service, server };
}

/** Usage errors of the admin commands exit 2 (help and version still exit 0). */
function usageExit(err: CommanderError): never {
  throw new CommanderError(err.exitCode === 0 ? 0 : EXIT_USAGE, err.code, err.message);
}

/** The client for `--admin` / $BATON_ADMIN; a malformed address is a usage error. */
function adminClient(flag: string | undefined): AdminClient | undefined {
  const client = adminClientFrom(flag);
  if (client.ok) return client.value;
  process.stderr.write(`error: ${client.error.message}\n`);
  process.exitCode = EXIT_USAGE;
  return undefined;
}

function fail(message: string): void {
  process.stderr.write(`error: ${message}\n`);
  process.exitCode = EXIT_RUNTIME;
}

export function buildProgram(): Command {
  const program = new Command();
  program.name('baton').description('Layer-4 TCP load balancer with built-in VRRP failover').version('0.1.0');

  program
    .command('start')
    .description('run the daemon')
    .option('-c, --config <file>', 'config file (default: $BATON_CONFIG or /etc/baton/baton.yaml)')
    .action(async (opts: { config?: string }) => {
      const configPath = opts.config ?? defaultConfig();
      // The config's log_level is only known once the file is read: until then
      // $BATON_LOG_LEVEL (or info); the daemon sets the config's level on start and reload.
      const envLevel = process.env.BATON_LOG_LEVEL;
      const logger = createLineLogger({ level: isLogLevel(envLevel) ? envLevel : 'info' });
      const { runDaemon } = await import('./daemon.js');
      const code = await runDaemon({ configPath, logger, setLogLevel: (level) => logger.setLevel(level) });
      process.exit(code);
    });

  program
    .command('check')
    .description('validate a config file; exit 1 with every error, its key path and line')
    .option('-c, --config <file>', 'config file (default: $BATON_CONFIG or /etc/baton/baton.yaml)')
    .action(async (opts: { config?: string }) => {
      const configPath = opts.config ?? defaultConfig();
      const { formatConfigIssue, loadConfigFile } = await import('./config/index.js');
      const result = await loadConfigFile(configPath);
      for (const w of result.warnings) process.stderr.write(`warning: ${formatConfigIssue(w)}\n`);
      if (!result.ok) {
        for (const e of result.errors) process.stderr.write(`${formatConfigIssue(e)}\n`);
        process.stderr.write(`${result.errors.length} error(s) in ${configPath}\n`);
        process.exitCode = 1;
        return;
      }
      const c = result.config;
      process.stdout.write(
        `${configPath}: ok (${c.services.length} service(s), ${c.services.reduce((n, s) => n + s.servers.length, 0)} server(s), ${c.vrrp.length} VRRP instance(s))\n`,
      );
    });

  program
    .command('status')
    .description('VRRP state, VIPs, services, servers and connections of a running daemon')
    .option('--admin <url>', ADMIN_OPTION_HELP)
    .option('--json', "print the admin API's JSON as is")
    .option('--why', 'also the reasons: adverts heard, master-down arithmetic, check counters, writer decisions')
    .exitOverride(usageExit)
    .action(async (opts: { admin?: string; json?: boolean; why?: boolean }) => {
      const client = adminClient(opts.admin);
      if (!client) return;
      const r = await client.status({ why: opts.why === true });
      if (!r.ok) return fail(r.error.message);
      if (opts.json) process.stdout.write(`${JSON.stringify(r.value.raw, null, 2)}\n`);
      else process.stdout.write(formatStatus(r.value.status) + (opts.why ? formatWhy(r.value.status) : ''));
    });

  program
    .command('server')
    .description('drain a server (no new clients), put it in maintenance (clients closed) or make it ready again')
    .addArgument(new Argument('<action>', 'drain: no new clients; maint: clients closed; ready: back under health checks').choices(['drain', 'ready', 'maint']))
    .addArgument(new Argument('<SERVICE/SERVER>', 'the service and the server, e.g. read/db1').argParser(parseServerRef))
    .option('--admin <url>', ADMIN_OPTION_HELP)
    .exitOverride(usageExit)
    .action(async (action: AdminStateName, ref: { service: string; server: string }, opts: { admin?: string }) => {
      const client = adminClient(opts.admin);
      if (!client) return;
      const r = await client.setServerState(ref.service, ref.server, action);
      if (!r.ok) return fail(r.error.message);
      process.stdout.write(`${r.value.service}/${r.value.server}: ${r.value.admin} (state ${r.value.state})\n`);
    });

  const writer = program.command('writer').description('the writer of a writer service');
  writer
    .command('switch')
    .description('hand the writer over to another server: hold new clients, let sessions on the old writer finish, then name the new one on every node')
    .argument('<SERVICE>', 'the writer service, e.g. write')
    .option('--to <SERVER>', 'the new writer (default: the first other server that is up)')
    .option('--drain <duration>', 'how long sessions on the old writer may finish before they are closed', '30s')
    .option('--hold <duration>', 'how long new clients are held (paused, not refused) meanwhile; 0: they go to the new writer at once', '5s')
    .option('--admin <url>', ADMIN_OPTION_HELP)
    .exitOverride(usageExit)
    .action(async (service: string, opts: { to?: string; drain: string; hold: string; admin?: string }) => {
      for (const [what, name] of [['service', service], ['server', opts.to]] as const) {
        if (name !== undefined && !NAME.test(name)) {
          process.stderr.write(`error: ${what} name ${JSON.stringify(name)} is not valid (1-63 letters, digits, "_", "." or "-")\n`);
          process.exitCode = EXIT_USAGE;
          return;
        }
      }
      const drain = parseDuration(opts.drain);
      const hold = parseDuration(opts.hold);
      if (!drain.ok || !hold.ok) {
        process.stderr.write(`error: ${!drain.ok ? `--drain: ${drain.error}` : `--hold: ${(hold as { error: string }).error}`}\n`);
        process.exitCode = EXIT_USAGE;
        return;
      }
      const client = adminClient(opts.admin);
      if (!client) return;
      const r = await client.switchWriter(service, { ...(opts.to !== undefined ? { to: opts.to } : {}), drainMs: drain.ms, holdMs: hold.ms });
      if (!r.ok) return fail(r.error.message);
      process.stdout.write(`${service}: switching the writer ${r.value.from ?? 'none'} -> ${r.value.to} (drain ${opts.drain}, hold ${opts.hold})\n`);
      // Follow it to the end: the daemon bounds it by drain and hold.
      const until = Date.now() + drain.ms + hold.ms + 15_000;
      while (Date.now() < until) {
        await new Promise((res) => setTimeout(res, 200));
        const st = await client.status();
        if (!st.ok) continue;
        const sw = st.value.status.services.find((s) => s.name === service)?.switch;
        if (!sw || sw.running) continue;
        if (sw.phase === 'done') {
          process.stdout.write(`${service}: writer ${sw.to} (${sw.held} held client(s) released, ${sw.closed} session(s) on ${sw.from ?? 'none'} closed, ${sw.elapsed_s}s)\n`);
          return;
        }
        return fail(`${service}: switch aborted: ${sw.error ?? 'unknown reason'}`);
      }
      fail(`${service}: the switch did not finish in time; see baton status`);
    });

  program
    .command('import-keepalived')
    .description('turn a keepalived.conf into a Baton config; exit 0 complete, 3 something needs a decision, 1 parse error')
    .argument('<file>', 'the keepalived.conf (its includes are read too)')
    .option('-o, --output <file>', 'write the Baton config here instead of stdout')
    .action(async (file: string, opts: { output?: string }) => {
      const { runImportKeepalived } = await import('./import/keepalived/cli.js');
      process.exitCode = runImportKeepalived(file, opts.output);
    });

  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  // Only the admin commands throw these (exitOverride); commander has already printed the message.
  if (!(err instanceof CommanderError)) throw err;
  process.exitCode = err.exitCode;
}
