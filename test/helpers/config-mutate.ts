/**
 * Seeded mutations of YAML config text, for the config fuzz tests. Each
 * mutation is one edit a hand or a tool could make by mistake, and says what
 * it did: delete, duplicate or swap lines, shift a line's indentation,
 * replace a value with an edge value of another type, rename a key, insert
 * random bytes, cut the file short.
 */
import { pick, randBytes, randInt } from './fuzz.js';

export interface ConfigMutation {
  text: string;
  detail: string;
}

const VALUES = [
  '-1', '0', '1', '65536', '99999999999999999999', '1e309', '.nan', '0x10', '""', "''", 'null', '~', '[]', '{}', '[1, 2]', '{ a: 1 }',
  'true', 'no', 'abc', '10s10', '-5s', '1h1h', '0ms', '2147483648ms', '127.0.0.1', '127.0.0.1:0', '300.1.1.1:80', '[::1]:80', ':80',
  '999.999.999.999/33', "'*'", '&a x', '*nope', '!!binary AAAA', '!!js/function x', '"\\u0000"', '|', '>-', '"' + 'x'.repeat(5000) + '"',
];
const KEYS = ['name', 'listen', 'servers', 'services', 'vrrp', 'admin', 'health', 'balance', 'writer', 'priority', 'router_id', 'x', '<<', '"a b"', '? complex'];

export function mutateConfig(text: string, rand: () => number): ConfigMutation {
  const lines = text.split('\n');
  const content = lines.map((l, i) => [l, i] as const).filter(([l]) => l.trim() !== '' && !l.trim().startsWith('#'));
  const target = content.length > 0 ? pick(rand, content)[1] : 0;
  const kind = randInt(rand, 0, 8);
  switch (kind) {
    case 0:
      lines.splice(target, 1);
      return { text: lines.join('\n'), detail: `line ${target + 1} deleted` };
    case 1:
      lines.splice(target, 0, lines[target] ?? '');
      return { text: lines.join('\n'), detail: `line ${target + 1} duplicated` };
    case 2: {
      const other = pick(rand, content.length > 0 ? content : [['', 0] as const])[1];
      [lines[target], lines[other]] = [lines[other] ?? '', lines[target] ?? ''];
      return { text: lines.join('\n'), detail: `lines ${target + 1} and ${other + 1} swapped` };
    }
    case 3: {
      const shift = pick(rand, [-4, -2, -1, 1, 2, 4]);
      const line = lines[target] ?? '';
      lines[target] = shift > 0 ? ' '.repeat(shift) + line : line.replace(new RegExp(`^ {0,${-shift}}`), '');
      return { text: lines.join('\n'), detail: `line ${target + 1} indented by ${shift}` };
    }
    case 4:
    case 5: {
      // A value: after "key:" or "- ", or inside a flow mapping "{ k: v, ... }".
      const line = lines[target] ?? '';
      const value = pick(rand, VALUES);
      const flow = [...line.matchAll(/([A-Za-z_]+): ([^,}]+)/g)];
      if (flow.length > 0) {
        const m = pick(rand, flow);
        const at = (m.index ?? 0) + m[1]!.length + 2;
        lines[target] = line.slice(0, at) + value + line.slice(at + m[2]!.length);
        return { text: lines.join('\n'), detail: `line ${target + 1}: ${m[1]} = ${value.slice(0, 30)}` };
      }
      lines[target] = line.replace(/(:|- )\s*.*$/, `$1 ${value}`);
      return { text: lines.join('\n'), detail: `line ${target + 1}: value ${value.slice(0, 30)}` };
    }
    case 6: {
      const line = lines[target] ?? '';
      const key = pick(rand, KEYS);
      lines[target] = line.replace(/[A-Za-z_]+(?=:)/, key);
      return { text: lines.join('\n'), detail: `line ${target + 1}: key renamed ${key}` };
    }
    case 7: {
      const at = randInt(rand, 0, text.length);
      const junk = randBytes(rand, randInt(rand, 1, 16)).toString('latin1');
      return { text: text.slice(0, at) + junk + text.slice(at), detail: `${junk.length} random bytes at ${at}` };
    }
    default: {
      const at = randInt(rand, 0, text.length);
      return { text: text.slice(0, at), detail: `cut at ${at} of ${text.length}` };
    }
  }
}
