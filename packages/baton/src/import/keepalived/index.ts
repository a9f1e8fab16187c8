/**
 * `baton import-keepalived`: keepalived.conf -> baton.yaml text, findings and
 * an exit code. 0: the output says everything the source said; 3: something
 * needs a person's decision (a DECIDE: line in the output); 1: the source
 * does not parse (the error names file and line).
 */
import { accessSync, constants } from 'node:fs';
import { dirname, relative } from 'node:path';
import { parseKeepalived, type SourceReader } from './parse.js';
import { mapKeepalived, type EnvNeed, type Finding } from './map.js';
import { emitBatonYaml } from './emit.js';

export const EXIT_COMPLETE = 0;
export const EXIT_PARSE_ERROR = 1;
export const EXIT_NEEDS_DECISION = 3;

export type ImportResult =
  | { ok: true; yaml: string; findings: Finding[]; env: EnvNeed[]; commands: string[]; files: string[]; exitCode: 0 | 3 }
  | { ok: false; error: string; exitCode: 1 };

/** The directories keepalived's default PATH covers, searched for a script named without a path. */
const STANDARD_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function resolveOnThisHost(name: string): string | undefined {
  if (name.includes('/')) return undefined;
  for (const dir of STANDARD_DIRS) {
    try {
      accessSync(`${dir}/${name}`, constants.X_OK);
      return `${dir}/${name}`;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface ImportOptions {
  source: SourceReader;
  resolveCommand?: (name: string) => string | undefined;
}

export function importKeepalived(path: string, opts: ImportOptions): ImportResult {
  const parsed = parseKeepalived(path, opts.source);
  const baseDir = dirname(path);
  const rel = (file: string): string => relative(baseDir, file) || file;
  if (!parsed.ok) {
    return { ok: false, error: `${rel(parsed.error.file)}:${parsed.error.line}: ${parsed.error.message}`, exitCode: EXIT_PARSE_ERROR };
  }
  const mapped = mapKeepalived(parsed.statements, { baseDir, resolveCommand: opts.resolveCommand ?? resolveOnThisHost });
  for (const n of parsed.notices) {
    const f: Finding = { ...n, level: 'decision', statement: 'include', message: `${n.message}; keepalived goes on without it` };
    mapped.findings.push(f);
    mapped.header.push(`DECIDE: ${rel(n.file)}:${n.line} ${f.message}`);
  }
  mapped.findings.sort((a, b) => (a.file === b.file ? a.line - b.line : parsed.files.indexOf(a.file) - parsed.files.indexOf(b.file)));
  const yaml = emitBatonYaml(mapped, rel(path));
  const exitCode = mapped.findings.some((f) => f.level === 'decision') ? EXIT_NEEDS_DECISION : EXIT_COMPLETE;
  return { ok: true, yaml, findings: mapped.findings, env: mapped.env, commands: mapped.commands, files: parsed.files, exitCode };
}

/** The stderr summary: one line per finding, then the counts and what to do. */
export function formatSummary(result: Extract<ImportResult, { ok: true }>, baseDir: string): string {
  const rel = (file: string): string => relative(baseDir, file) || file;
  const lines = result.findings.map((f) => `${rel(f.file)}:${f.line}: ${f.level === 'decision' ? 'decide' : 'note'}: ${f.statement}: ${f.message}`);
  const decisions = result.findings.filter((f) => f.level === 'decision').length;
  const notes = result.findings.length - decisions;
  lines.push(`${decisions} need(s) a decision, ${notes} note(s)`);
  for (const e of result.env) lines.push(`set ${e.name}: ${e.why}`);
  if (result.commands.length > 0) lines.push(`commands the config runs (must exist where Baton runs): ${result.commands.join(' ')}`);
  return lines.join('\n') + '\n';
}
