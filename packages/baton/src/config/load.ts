/**
 * Loads baton.yaml: YAML text -> validated, normalized BatonConfig, or every
 * error found, each with the line and column of the node at fault.
 *
 * Order: YAML syntax (stop there unless the only problems are duplicate keys,
 * which leave a usable document), then the schema and the cross-value rules
 * side by side, so one run reports everything. Bad input is never thrown:
 * the result is a value, and even an unreadable file is an error result.
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, isAlias, isCollection, parseDocument, visit, type Document, type YAMLError } from 'yaml';
import { describeError } from '@baton/core';
import { compareIssues, formatPath, type ConfigIssue, type PathIssue } from './issue.js';
import { locate, pathAtOffset } from './locate.js';
import { configErrorMap, unknownKeyMessage } from './messages.js';
import { checkRules } from './rules.js';
import { configSchema } from './schema.js';
import type { BatonConfig } from './types.js';

export type ConfigResult =
  | { ok: true; config: BatonConfig; warnings: ConfigIssue[] }
  | { ok: false; errors: ConfigIssue[]; warnings: ConfigIssue[] };

/** Bounds alias expansion so a hostile file ("billion laughs") cannot exhaust memory. */
const MAX_ALIAS_COUNT = 100;

function failure(source: string, message: string): ConfigResult {
  return { ok: false, errors: [{ path: '', line: 0, column: 0, message, source }], warnings: [] };
}

/**
 * Validates config text. `sourceName` is only used in issues (usually the
 * file path); `env` is where `*_env` secrets are looked up for warnings.
 */
export function loadConfigText(text: string, sourceName: string, env: NodeJS.ProcessEnv = process.env): ConfigResult {
  try {
    return load(text, sourceName, env);
  } catch (err) {
    // Unreachable for any input we know of; kept so a bug in validation is
    // still reported as a config error naming the file, not a crash.
    return failure(sourceName, `cannot validate: ${describeError(err)}`);
  }
}

/** Reads and validates a config file. Never rejects. */
export async function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Promise<ConfigResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return failure(path, `cannot read the config file: ${readErrorText(err)}`);
  }
  return loadConfigText(text, path, env);
}

function readErrorText(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return describeError(err);
}

function load(text: string, source: string, env: NodeJS.ProcessEnv): ConfigResult {
  const lineCounter = new LineCounter();
  // resolveKnownTags: false keeps !!binary, !!set, !!timestamp... as plain
  // strings (with a warning): the schema only knows maps, lists and scalars,
  // and a Buffer or Set would otherwise reach it as an "object".
  // merge: true honours `<<: *defaults`, the usual way to share a health block.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, resolveKnownTags: false, merge: true });

  const place = (issue: PathIssue): ConfigIssue => {
    const found = locate(doc, issue.path, issue.at);
    const pos = lineCounter.linePos(found.offset);
    return { path: formatPath(found.path), line: pos.line, column: pos.col, message: issue.message, source };
  };
  const fromYaml = (e: YAMLError): ConfigIssue => {
    const pos = lineCounter.linePos(e.pos[0]);
    // A duplicate key sits in a sound tree, so its path is exact. After a
    // syntax error the tree is whatever the parser salvaged and its key
    // names can be fragments of the broken line: give the position only.
    const path = e.code === 'DUPLICATE_KEY' ? pathAtOffset(doc, e.pos[0]) : [];
    return { path: formatPath(path), line: pos.line, column: pos.col, message: yamlMessage(e, path), source };
  };

  const lineOf = (offset: number): number => lineCounter.linePos(offset).line;
  const errors = firstPerLine(doc.errors, lineOf).map(fromYaml);
  const warnings = firstPerLine(doc.warnings, lineOf).map(fromYaml);
  const finish = (): ConfigResult => ({ ok: false, errors: errors.sort(compareIssues), warnings: warnings.sort(compareIssues) });

  // A duplicate key leaves a well-formed tree (the last value wins in toJS),
  // so validation can go on and report the rest of the file too.
  if (doc.errors.some((e) => e.code !== 'DUPLICATE_KEY')) return finish();

  // A key that is a mapping or a list would be stringified by toJS, with a
  // process warning on stderr; no key of ours is one.
  const badKeys = collectionKeys(doc);
  for (const offset of badKeys) {
    const pos = lineCounter.linePos(offset);
    errors.push({ path: '', line: pos.line, column: pos.col, message: 'a key must be a name, not a mapping or a list', source });
  }
  if (badKeys.length > 0) return finish();

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    errors.push({ path: '', line: 1, column: 1, message: `YAML: ${describeError(err)}`, source });
    return finish();
  }
  if (data === null || data === undefined) {
    errors.push({ path: '', line: 1, column: 1, message: 'the file has no settings; expected a mapping with services: and/or vrrp:', source });
    return finish();
  }

  const parsed = configSchema.safeParse(data, { error: configErrorMap });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) errors.push(place({ path: [...issue.path, key], at: 'key', message: unknownKeyMessage(key) }));
      } else {
        errors.push(place({ path: issue.path, message: issue.message }));
      }
    }
  }
  const rules = checkRules(data, env);
  errors.push(...rules.errors.map(place));
  warnings.push(...rules.warnings.map(place));

  if (errors.length > 0 || !parsed.success) return finish();
  return { ok: true, config: parsed.data, warnings: warnings.sort(compareIssues) };
}

/** Offsets of the keys that are (or alias) a mapping or a list. */
function collectionKeys(doc: Document): number[] {
  const out: number[] = [];
  visit(doc, {
    Pair(_, pair) {
      const key = isAlias(pair.key) ? pair.key.resolve(doc) : pair.key;
      if (isCollection(key)) out.push((pair.key as { range?: [number, number, number] }).range?.[0] ?? 0);
    },
  });
  return out;
}

/** One syntax error usually sets off more on the same line; the first is the one worth reading. */
function firstPerLine<T extends YAMLError>(list: readonly T[], lineOf: (offset: number) => number): T[] {
  const seen = new Set<number>();
  return list.filter((e) => {
    const key = lineOf(e.pos[0]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function yamlMessage(e: YAMLError, path: readonly PropertyKey[]): string {
  if (e.code === 'DUPLICATE_KEY') {
    const key = path[path.length - 1];
    return key === undefined ? 'duplicate key' : `duplicate key "${String(key)}"`;
  }
  // The yaml package's messages start with a capital; keep them in the style of the others.
  return `YAML: ${e.message.charAt(0).toLowerCase()}${e.message.slice(1)}`;
}

