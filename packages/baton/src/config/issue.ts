/**
 * Config errors and warnings as values. Every issue names the file, the line
 * and column of the offending YAML node, and the key path in the file's own
 * spelling (`services[1].listen`), so `baton check` output reads like a
 * compiler's and an editor can jump to it.
 */

export interface ConfigIssue {
  /** Key path as written in the file, e.g. "services[1].listen"; "" for the file as a whole. */
  path: string;
  /** 1-based; 0 when the issue has no position (the file could not be read). */
  line: number;
  /** 1-based; 0 when the issue has no position. */
  column: number;
  message: string;
  /** The file name (or other source name) the text came from. */
  source: string;
}

/** An issue before it is placed: the raw key path, and whether to point at the key or its value. */
export interface PathIssue {
  path: readonly PropertyKey[];
  message: string;
  /** 'key' points at the key itself (unknown or misplaced keys); default the value. */
  at?: 'key' | 'value';
}

/** ["services", 1, "listen"] -> "services[1].listen". */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

/** `FILE:LINE:COL: path: message`, leaving out the parts an issue does not have. */
export function formatConfigIssue(issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${issue.source}:${issue.line}:${issue.column}` : issue.source;
  return issue.path ? `${where}: ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`;
}

/** Orders issues as they appear in the file; issues without a position come first. */
export function compareIssues(a: ConfigIssue, b: ConfigIssue): number {
  return a.line - b.line || a.column - b.column;
}
