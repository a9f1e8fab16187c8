/**
 * The file-system side of the keepalived reader: the `SourceReader` the CLI
 * hands to parseKeepalived. Kept apart so the reader itself stays pure.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { SourceReader } from './parse.js';

export const fileSystemReader: SourceReader = {
  read(path) {
    try {
      return { ok: true, text: readFileSync(path, 'utf8') };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : String(err);
      return { ok: false, error: why };
    }
  },
  list(dir) {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  },
};

/** A reader over an in-memory map of path -> text (tests, and imports from stdin). */
export function memoryReader(files: Record<string, string>): SourceReader {
  return {
    read(path) {
      const text = files[path];
      return text === undefined ? { ok: false, error: 'no such file' } : { ok: true, text };
    },
    list(dir) {
      const prefix = dir.endsWith('/') ? dir : `${dir}/`;
      const names = new Set<string>();
      for (const p of Object.keys(files)) if (p.startsWith(prefix)) names.add(p.slice(prefix.length).split('/')[0]!);
      return [...names];
    },
  };
}
