/**
 * Maps between key paths and places in the YAML text. Validation works on
 * plain values, which have lost their positions; these helpers walk the
 * parsed YAML document to find where a path was written (for a schema error)
 * or which path a text offset lies in (for a YAML syntax error).
 *
 * A missing key is reported at its parent, the nearest node that exists.
 */
import { isAlias, isMap, isNode, isScalar, isSeq, type Document } from 'yaml';

export interface Located {
  /** Offset into the text of the node to report. */
  offset: number;
  /** The path to print: the full path, cut short where it would descend into a scalar. */
  path: readonly PropertyKey[];
}

function start(node: unknown): number | undefined {
  return isNode(node) && node.range ? node.range[0] : undefined;
}

function contains(node: unknown, offset: number): boolean {
  return isNode(node) && !!node.range && offset >= node.range[0] && offset < node.range[2];
}

function keyName(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return typeof key === 'string' ? key : undefined;
}

/** Finds where `path` was written. `at: 'key'` points at the last key itself rather than its value. */
export function locate(doc: Document, path: readonly PropertyKey[], at: 'key' | 'value' = 'value'): Located {
  let node: unknown = doc.contents;
  let offset = start(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (isAlias(node)) node = node.resolve(doc);
    let next: unknown;
    if (isMap(node)) {
      const pair = node.items.find((p) => keyName(p.key) === String(seg));
      if (!pair) break;
      const keyOffset = start(pair.key);
      if (i === path.length - 1 && at === 'key' && keyOffset !== undefined) return { offset: keyOffset, path };
      next = pair.value;
      // `key:` with nothing after it has no value node worth pointing at; the key is the place.
      const valueOffset = start(next);
      offset = valueOffset ?? keyOffset ?? offset;
      if (valueOffset === undefined) break;
    } else if (isSeq(node)) {
      next = typeof seg === 'number' ? node.items[seg] : undefined;
      const itemOffset = start(next);
      if (itemOffset === undefined) break;
      offset = itemOffset;
    } else {
      // A scalar has no children: the rest of the path (e.g. argv[0] of a
      // notify entry written as a plain path) is an artefact of normalizing.
      return { offset, path: path.slice(0, i) };
    }
    node = next;
  }
  return { offset, path };
}

/** The key path of the innermost node that contains `offset`; [] when it lies outside every collection. */
export function pathAtOffset(doc: Document, offset: number): PropertyKey[] {
  const path: PropertyKey[] = [];
  let node: unknown = doc.contents;
  for (;;) {
    if (isAlias(node)) return path;
    let next: unknown;
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = keyName(pair.key);
        if (key === undefined) continue;
        if (contains(pair.key, offset)) return [...path, key];
        if (contains(pair.value, offset)) {
          path.push(key);
          next = pair.value;
          break;
        }
      }
    } else if (isSeq(node)) {
      const index = node.items.findIndex((item) => contains(item, offset));
      if (index >= 0) {
        path.push(index);
        next = node.items[index];
      }
    }
    if (next === undefined) return path;
    node = next;
  }
}
