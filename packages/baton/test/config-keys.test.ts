/**
 * A YAML key that is a mapping or a list (`? [a, b]`, `{ complex: x }: 1`,
 * found by the config fuzz test): an error naming its line, like any other
 * config error, and no process warning on stderr outside the log format.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { loadConfigText } from '../src/config/index.js';

for (const [name, text, line] of [
  ['a flow list key', 'node: n\nservices:\n  ? [a, b]\n  : 1\n', 3],
  ['a flow mapping key', 'node: n\n{ complex: read }: 1\n', 2],
  ['an alias to a mapping as key', 'x: &m { a: 1 }\ny:\n  *m : 2\n', 3],
] as const) {
  test(`config: ${name} is an error on its line, with no process warning`, async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const r = loadConfigText(text, 'keys.yaml', {});
      await tick();
      await tick();
      assert.equal(r.ok, false);
      if (r.ok) return;
      const e = r.errors.find((x) => /key/.test(x.message) && /mapping or a list/.test(x.message));
      assert.ok(e, JSON.stringify(r.errors));
      assert.equal(e.line, line);
      assert.deepEqual(warnings.map((w) => w.message), []);
    } finally {
      process.off('warning', onWarning);
    }
  });
}
