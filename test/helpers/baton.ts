/**
 * Runs the real daemon (`baton start -c FILE`) for end-to-end tests: writes
 * the YAML to a temp dir, waits for `baton started`, keeps every log line,
 * and stops it by PID (SIGTERM, then SIGKILL) at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs, { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { freePort } from './ports.js';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const cliPath = join(repoRoot, 'packages/baton/dist/src/cli.js');

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface BatonProcess {
  pid: number;
  configPath: string;
  /** Base URL of the admin API, e.g. http://127.0.0.1:40123 */
  adminUrl: string;
  logs: string[];
  /** Resolves with the first log line (from now or earlier, after `from`) matching `re`. */
  waitForLog(re: RegExp, timeoutMs?: number, from?: number): Promise<string>;
  /** Replaces the config file (for SIGHUP tests). */
  writeConfig(yaml: string): void;
  signal(sig: NodeJS.Signals): void;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<number | NodeJS.Signals>;
  /** SIGTERM, wait up to `ms`, then SIGKILL; removes the temp dir. */
  stop(ms?: number): Promise<number | NodeJS.Signals>;
}

/**
 * `waitFor`: the log line that says the daemon is up (default `baton started`);
 * null: wait for the admin API to answer instead (a `log_level` above info logs no such line).
 */
export async function startBaton(yaml: string, options: { env?: Record<string, string>; waitFor?: RegExp | null } = {}): Promise<BatonProcess> {
  // Every daemon gets its own admin port: the default 127.0.0.1:9900 would collide between tests.
  const parsed = (parse(yaml) ?? {}) as { admin?: { listen?: string } };
  let adminListen = parsed.admin?.listen;
  if (adminListen === undefined) {
    if (parsed.admin !== undefined) throw new Error('startBaton: give admin.listen explicitly when the config has an admin section');
    adminListen = `127.0.0.1:${await freePort()}`;
    yaml = `${yaml.replace(/\n*$/, '\n')}admin: { listen: ${adminListen} }\n`;
  }
  const dir = mkdtempSync(join(tmpdir(), 'baton-e2e-'));
  const configPath = join(dir, 'baton.yaml');
  writeFileSync(configPath, yaml);
  const child = spawn(process.execPath, [cliPath, 'start', '-c', configPath], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const logs: string[] = [];
  const waiters = new Set<{ re: RegExp; from: number; resolve: (line: string) => void }>();
  let buf = '';
  const onText = (text: string) => {
    buf += text;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      logs.push(line);
      if (process.env.BATON_TEST_LOGS) process.stderr.write(`[baton ${child.pid}] ${line}\n`);
      for (const w of waiters) {
        if (logs.length - 1 >= w.from && w.re.test(line)) {
          waiters.delete(w);
          w.resolve(line);
        }
      }
    }
  };
  child.stdout!.setEncoding('utf8').on('data', onText);
  child.stderr!.setEncoding('utf8').on('data', onText);
  const exited = new Promise<number | NodeJS.Signals>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? -1);
    }),
  );
  const waitForLog = (re: RegExp, timeoutMs = 10_000, from = 0) => {
    const found = logs.slice(from).find((l) => re.test(l));
    if (found) return Promise.resolve(found);
    return new Promise<string>((resolve, reject) => {
      const w = { re, from, resolve };
      waiters.add(w);
      const timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`no log line matching ${re} within ${timeoutMs} ms; last lines:\n${logs.slice(-15).join('\n')}`));
      }, timeoutMs);
      const done = w.resolve;
      w.resolve = (line) => {
        clearTimeout(timer);
        done(line);
      };
      void exited.then(() => {
        if (waiters.has(w)) {
          waiters.delete(w);
          clearTimeout(timer);
          reject(new Error(`baton exited before logging ${re}; last lines:\n${logs.slice(-15).join('\n')}`));
        }
      });
    });
  };
  const proc: BatonProcess = {
    pid: child.pid!,
    configPath,
    adminUrl: `http://${adminListen}`,
    logs,
    waitForLog,
    // A new config without an admin section keeps this daemon's admin port.
    writeConfig: (text) => writeFileSync(configPath, /^admin:/m.test(text) ? text : `${text.replace(/\n*$/, '\n')}admin: { listen: ${adminListen} }\n`),
    signal: (sig) => void child.kill(sig),
    exited,
    async stop(ms = 5000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), ms);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
      return exited;
    },
  };
  try {
    if (options.waitFor === null) await waitForAdmin(proc, 15_000);
    else await waitForLog(options.waitFor ?? /baton started/, 15_000);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return proc;
}

/** Polls the admin API until it answers; the daemon starts it last, once every service listens. */
async function waitForAdmin(proc: BatonProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void proc.exited.then(() => (exited = true));
  while (Date.now() < deadline && !exited) {
    try {
      const res = await fetch(`${proc.adminUrl}/api/status`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the admin API at ${proc.adminUrl} did not answer within ${timeoutMs} ms${exited ? ' (baton exited)' : ''}; last lines:\n${proc.logs.slice(-15).join('\n')}`);
}

/** Resident set size of a process in bytes, from /proc. */
export function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

