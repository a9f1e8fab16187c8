/**
 * The soak in CI: benchmarks/soak.mjs for 3 minutes at its low, fixed rate
 * (keep-alive requests, new connections and bulk through a real `baton
 * start`), with the same assertions as the benchmark: RSS growth after
 * warm-up at most 5 %, fds back to the pre-load baseline, zero errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './helpers/baton.js';

test('soak: 3 minutes of mixed load; RSS flat after warm-up, fds back to baseline, zero errors', { timeout: 5 * 60_000 }, async (t) => {
  const { runSoak } = (await import(pathToFileURL(join(repoRoot, 'benchmarks/soak.mjs')).href)) as {
    runSoak(o: { minutes: number; rate: string; log: (l: string) => void }): Promise<{ ok: boolean; failures: string[]; rssGrowthPct: number; counts: unknown }>;
  };
  const s = await runSoak({ minutes: 3, rate: 'low', log: (l) => t.diagnostic(l) });
  assert.deepEqual(s.failures, []);
  assert.equal(s.ok, true);
});
