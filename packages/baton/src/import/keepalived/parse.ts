/**
 * A reader for keepalived.conf: text -> a tree of statements, each with the
 * file and line it came from. It knows keepalived's grammar, not its
 * keywords: the mapper (map.ts) decides what a statement means.
 *
 * The grammar, as keepalived 2.x reads it:
 * - a statement is a line: a keyword and its arguments, split on white space;
 *   a double-quoted string is one argument (quotes removed, spaces kept);
 * - `#` or `!` outside quotes starts a comment that runs to the end of line;
 * - `{` opens the block of the statement before it, on the same line
 *   (`vrrp_instance VI_1 {`, `VI_1{`) or alone on the next one; `}` closes it;
 *   the text between braces on one line is a statement of its own, so
 *   `virtual_ipaddress { 10.0.0.1 }` is a block holding one statement;
 * - `include PATTERN` (a glob, relative to the including file's directory)
 *   splices the matching files, sorted, where it stands;
 * - `$NAME=value` defines a parameter, and `$NAME` / `${NAME}` later on a
 *   line is replaced by its value before the line is split.
 *
 * Invariants: the reader is pure — files come through the injected
 * `SourceReader` — and never throws on input; an unbalanced brace, an
 * unterminated quote, an unreadable or self-including file is an error value
 * naming the file and line. Includes nest at most MAX_INCLUDE_DEPTH deep.
 */
import { dirname, isAbsolute, join } from 'node:path';

export interface SourcePos {
  file: string;
  line: number;
}

export interface Token extends SourcePos {
  text: string;
  /** Written in double quotes: never a brace, never a comment. */
  quoted: boolean;
}

export interface Statement extends SourcePos {
  /** As written (keepalived's keywords are case-sensitive). */
  keyword: string;
  args: Token[];
  /** Present when the statement opened a block (even an empty one). */
  block?: Statement[];
}

export interface ParseNotice extends SourcePos {
  message: string;
}

export interface ParseError extends SourcePos {
  message: string;
}

export type ParseResult =
  | { ok: true; statements: Statement[]; files: string[]; notices: ParseNotice[] }
  | { ok: false; error: ParseError };

/** Where the reader gets files from: the real file system in the CLI, a map in unit tests. */
export interface SourceReader {
  /** The file's text, or why it cannot be read. */
  read(path: string): { ok: true; text: string } | { ok: false; error: string };
  /** Names (not paths) of the entries of a directory; [] when it cannot be listed. */
  list(dir: string): string[];
}

export const MAX_INCLUDE_DEPTH = 16;

interface Line {
  tokens: Token[];
  pos: SourcePos;
}

type LineResult = { ok: true; lines: Line[] } | { ok: false; error: ParseError };

/** Splits one line (after parameter substitution) into tokens; braces are tokens of their own. */
export function tokenizeLine(text: string, pos: SourcePos): { ok: true; tokens: Token[] } | { ok: false; error: ParseError } {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
      i++;
      continue;
    }
    if (c === '#' || c === '!') break;
    if (c === '{' || c === '}') {
      tokens.push({ text: c, quoted: false, ...pos });
      i++;
      continue;
    }
    if (c === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) return { ok: false, error: { ...pos, message: 'unterminated quoted string' } };
      tokens.push({ text: text.slice(i + 1, end), quoted: true, ...pos });
      i = end + 1;
      continue;
    }
    let j = i;
    while (j < text.length && !' \t\r\f\v{}"#!'.includes(text[j]!)) j++;
    tokens.push({ text: text.slice(i, j), quoted: false, ...pos });
    i = j;
  }
  return { ok: true, tokens };
}

const PARAM_DEF = /^\s*\$([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/;
const PARAM_USE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/** Turns `*`, `?` and `[...]` of one path segment into a regular expression. */
function segmentRegex(segment: string): RegExp {
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = segment.indexOf(']', i + 1);
      if (end < 0) out += '\\[';
      else {
        const body = segment.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\');
        out += `[${body}]`;
        i = end;
      }
    } else out += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

const hasGlob = (s: string): boolean => /[*?[]/.test(s);

/** Expands a glob pattern segment by segment (no `**`), sorted like glob(3). */
export function expandGlob(pattern: string, reader: SourceReader): string[] {
  if (!hasGlob(pattern)) return [pattern];
  const absolute = pattern.startsWith('/');
  const segments = pattern.split('/').filter((s) => s !== '');
  let paths = [absolute ? '/' : '.'];
  for (const segment of segments) {
    const next: string[] = [];
    for (const base of paths) {
      if (!hasGlob(segment)) {
        next.push(join(base, segment));
        continue;
      }
      const re = segmentRegex(segment);
      // Like glob(3) without GLOB_PERIOD: a leading dot must be matched explicitly.
      for (const name of reader.list(base).sort()) {
        if (name.startsWith('.') && !segment.startsWith('.')) continue;
        if (re.test(name)) next.push(join(base, name));
      }
    }
    paths = next;
  }
  return paths;
}

class Reader {
  readonly files: string[] = [];
  readonly notices: ParseNotice[] = [];
  private readonly params = new Map<string, string>();

  constructor(private readonly source: SourceReader) {}

  /** All lines of a file, includes spliced in. */
  lines(path: string, from: SourcePos | undefined, stack: string[]): LineResult {
    if (stack.includes(path)) {
      return { ok: false, error: { ...(from ?? { file: path, line: 0 }), message: `include loop: ${[...stack, path].join(' -> ')}` } };
    }
    if (stack.length >= MAX_INCLUDE_DEPTH) {
      return { ok: false, error: { ...(from ?? { file: path, line: 0 }), message: `includes nest deeper than ${MAX_INCLUDE_DEPTH}` } };
    }
    const read = this.source.read(path);
    if (!read.ok) return { ok: false, error: { ...(from ?? { file: path, line: 0 }), message: `cannot read ${path}: ${read.error}` } };
    if (!this.files.includes(path)) this.files.push(path);
    const out: Line[] = [];
    const raw = read.text.split('\n');
    for (let n = 0; n < raw.length; n++) {
      const pos = { file: path, line: n + 1 };
      let text = raw[n]!;
      // A definition may continue on the next lines with a trailing backslash.
      const def = PARAM_DEF.exec(text);
      if (def) {
        let value = def[2]!;
        while (value.endsWith('\\') && n + 1 < raw.length) value = value.slice(0, -1) + '\n' + raw[++n]!;
        this.params.set(def[1]!, value.trim());
        continue;
      }
      if (text.includes('$')) {
        text = text.replace(PARAM_USE, (whole, braced: string | undefined, bare: string | undefined) => {
          const value = this.params.get((braced ?? bare)!);
          return value === undefined ? whole : value;
        });
      }
      const tokenized = tokenizeLine(text, pos);
      if (!tokenized.ok) return tokenized;
      const tokens = tokenized.tokens;
      if (tokens.length === 0) continue;
      if (tokens[0]!.text === 'include' && !tokens[0]!.quoted) {
        const included = this.include(tokens, pos, [...stack, path]);
        if (!included.ok) return included;
        out.push(...included.lines);
        continue;
      }
      out.push({ tokens, pos });
    }
    return { ok: true, lines: out };
  }

  private include(tokens: Token[], pos: SourcePos, stack: string[]): LineResult {
    const pattern = tokens[1];
    if (!pattern || pattern.text === '{' || pattern.text === '}') return { ok: false, error: { ...pos, message: 'include needs a file name or pattern' } };
    if (tokens.length > 2) return { ok: false, error: { ...pos, message: `include takes one file name or pattern, got ${tokens.length - 1} words` } };
    const full = isAbsolute(pattern.text) ? pattern.text : join(dirname(pos.file), pattern.text);
    const matches = expandGlob(full, this.source);
    if (hasGlob(full) && matches.length === 0) {
      // keepalived logs this and goes on; so does the import, but says so.
      this.notices.push({ ...pos, message: `include ${pattern.text}: no file matches` });
      return { ok: true, lines: [] };
    }
    const out: Line[] = [];
    for (const file of matches) {
      const r = this.lines(file, pos, stack);
      if (!r.ok) return r;
      out.push(...r.lines);
    }
    return { ok: true, lines: out };
  }
}

/** Builds the statement tree from lines of tokens. */
function buildTree(lines: Line[]): { ok: true; statements: Statement[] } | { ok: false; error: ParseError } {
  const root: Statement[] = [];
  // Each level: its statement list and the statement that opened it (for errors).
  const stack: { list: Statement[]; opener?: Statement }[] = [{ list: root }];
  for (const line of lines) {
    let current: Statement | undefined;
    for (const token of line.tokens) {
      const level = stack[stack.length - 1]!;
      if (!token.quoted && token.text === '{') {
        // The block belongs to the statement on this line, or to the last one
        // of the enclosing list when the brace stands alone on its line.
        const owner = current ?? level.list[level.list.length - 1];
        if (!owner || owner.block !== undefined) return { ok: false, error: { ...token, message: 'unexpected "{": no statement before it to open a block for' } };
        owner.block = [];
        stack.push({ list: owner.block, opener: owner });
        current = undefined;
        continue;
      }
      if (!token.quoted && token.text === '}') {
        if (stack.length === 1) return { ok: false, error: { ...token, message: 'unexpected "}": no block is open' } };
        stack.pop();
        current = undefined;
        continue;
      }
      if (current) current.args.push(token);
      else {
        current = { keyword: token.text, args: [], file: token.file, line: token.line };
        level.list.push(current);
      }
    }
  }
  if (stack.length > 1) {
    const opener = stack[stack.length - 1]!.opener!;
    return { ok: false, error: { file: opener.file, line: opener.line, message: `the block of "${opener.keyword}" is never closed (missing "}")` } };
  }
  return { ok: true, statements: root };
}

/** Reads a keepalived.conf and everything it includes. */
export function parseKeepalived(path: string, source: SourceReader): ParseResult {
  const reader = new Reader(source);
  const lines = reader.lines(path, undefined, []);
  if (!lines.ok) return lines;
  const tree = buildTree(lines.lines);
  if (!tree.ok) return tree;
  return { ok: true, statements: tree.statements, files: reader.files, notices: reader.notices };
}

/**
 * Splits a keepalived script string into argv the way keepalived 2.x does
 * before execve: white space separates words, single or double quotes group
 * them, a backslash escapes the next character.
 */
export function splitCommand(text: string): { ok: true; argv: string[] } | { ok: false; error: string } {
  const argv: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) word += text[++i]!;
      else word += c;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[++i]!;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) argv.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) return { ok: false, error: `unterminated ${quote} quote` };
  if (inWord) argv.push(word);
  return { ok: true, argv };
}
