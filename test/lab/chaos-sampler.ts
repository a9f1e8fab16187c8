/**
 * The chaos run's writer sampler (run in the lab's `cli` namespace as
 * `node chaos-sampler.js '<json>'`): one polling loop per Baton node asks
 * its /api/status for the `write` service's writer and the VRRP state, and
 * every `periodMs` one line `{"at":…,"w":{"lb1":"db1",…},"s":{"lb1":"master",…}}`
 * gives each node's latest answer.
 *
 * Why one loop per node: a node that is partitioned away does not refuse,
 * it does not answer at all; polled together, it would stretch every sample
 * to the fetch timeout. Here it only makes its own answer old, and an answer
 * older than `staleMs` is printed as "-" (not answering), like a refusal.
 *
 * Bounded: it exits after `durationMs` or when its stdin ends.
 */

export interface ChaosSamplerRequest {
  /** Node name -> admin base URL. */
  nodes: Record<string, string>;
  periodMs: number;
  staleMs: number;
  durationMs: number;
}

interface Latest {
  at: number;
  writer: string;
  state: string;
}

const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const r = JSON.parse(process.argv[2] ?? '{}') as ChaosSamplerRequest;
  const end = now() + r.durationMs;
  let stop = false;
  process.stdin.on('end', () => (stop = true));
  process.stdin.resume();
  const running = () => !stop && now() < end;
  const latest = new Map<string, Latest>();

  const poll = async (node: string, base: string) => {
    while (running()) {
      const at = now();
      try {
        const res = await fetch(`${base}/api/status`, { signal: AbortSignal.timeout(Math.max(50, r.staleMs - 20)) });
        const j = (await res.json()) as { services: Array<{ name: string; writer: string | null }>; vrrp: Array<{ state: string }> };
        const w = j.services.find((s) => s.name === 'write');
        latest.set(node, { at, writer: w?.writer ?? 'none', state: j.vrrp[0]?.state ?? '-' });
      } catch {
        latest.set(node, { at, writer: '-', state: '-' });
        // A refusal comes back at once: do not spin on a stopped node.
      }
      await sleep(Math.max(0, r.periodMs - (now() - at)));
    }
  };
  const loops = Object.entries(r.nodes).map(([node, base]) => poll(node, base));

  while (running()) {
    const at = now();
    const w: Record<string, string> = {};
    const s: Record<string, string> = {};
    for (const node of Object.keys(r.nodes)) {
      const l = latest.get(node);
      const fresh = l !== undefined && at - l.at < r.staleMs;
      w[node] = fresh ? l.writer : '-';
      s[node] = fresh ? l.state : '-';
    }
    console.log(JSON.stringify({ at, w, s }));
    await sleep(Math.max(0, r.periodMs - (now() - at)));
  }
  stop = true;
  await Promise.all(loops);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
