#!/usr/bin/env node
/**
 * The `baton` command line. `main()` only composes: commands parse their
 * options and call library code, which never reads flags itself.
 */
import { Command } from 'commander';
import { createLineLogger } from '@baton/core';
import { formatConfigIssue, loadConfigFile } from './config/index.js';
import { runDaemon } from './daemon.js';

const defaultConfig = () => process.env.BATON_CONFIG ?? '/etc/baton/baton.yaml';

export function buildProgram(): Command {
  const program = new Command();
  program.name('baton').description('Layer-4 TCP load balancer with built-in VRRP failover').version('0.1.0');

  program
    .command('start')
    .description('run the daemon')
    .option('-c, --config <file>', 'config file (default: $BATON_CONFIG or /etc/baton/baton.yaml)')
    .action(async (opts: { config?: string }) => {
      const configPath = opts.config ?? defaultConfig();
      // The log level is only known after the config is read; start at info.
      const logger = createLineLogger({ level: process.env.BATON_LOG_LEVEL === 'debug' ? 'debug' : 'info' });
      const code = await runDaemon({ configPath, logger });
      process.exit(code);
    });

  program
    .command('check')
    .description('validate a config file; exit 1 with every error, its key path and line')
    .option('-c, --config <file>', 'config file (default: $BATON_CONFIG or /etc/baton/baton.yaml)')
    .action(async (opts: { config?: string }) => {
      const configPath = opts.config ?? defaultConfig();
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

  return program;
}

await buildProgram().parseAsync(process.argv);
