/**
 * The chaos run's MySQL client (run in the lab's `cli` namespace as
 * `node chaos-client.js '<json>'`): through the VIP's write and read ports,
 * `long` sessions per port that run `SELECT 1` every 100 ms, and short
 * connections (connect, `SELECT 1`, close) at `shortPerSec` per port.
 *
 * Output, one JSON line each: every failure as
 * `{"t":"err","at":…,"end":…,"port":"write","kind":"long","code":"ECONNRESET"}`
 * (epoch ms of the failed attempt's start and of its failure), and at the end one
 * `{"t":"sum",…}` with the successes per port and kind.
 *
 * Invariants: bounded in time (`durationMs`, or its stdin ending) and in
 * count (`maxShort` short connections per port in all); every connect and
 * query has a timeout, so a black-holed VIP shows as a timeout, not a hang;
 * a failed session waits 100 ms before it reconnects.
 */
import { createConnection, type Connection } from 'mysql2/promise';

export interface ChaosClientRequest {
  vip: string;
  ports: Record<string, number>;
  user: string;
  password: string;
  durationMs: number;
  long: number;
  shortPerSec: number;
  maxShort: number;
}

const CONNECT_TIMEOUT_MS = 1000;
const QUERY_TIMEOUT_MS = 2000;
const LONG_EVERY_MS = 100;

const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function codeOf(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code === 'string') return e.code;
  const message = typeof e?.message === 'string' ? e.message : 'unknown';
  // mysql2's word for a query on a session the server side closed since the last one (it has no code).
  if (/closed state/.test(message)) return 'CONNECTION_CLOSED';
  return message.slice(0, 60);
}

async function main(): Promise<void> {
  const r = JSON.parse(process.argv[2] ?? '{}') as ChaosClientRequest;
  const end = now() + r.durationMs;
  let stop = false;
  process.stdin.on('end', () => (stop = true));
  process.stdin.resume();
  const running = () => !stop && now() < end;
  const ok: Record<string, number> = {};
  const count = (key: string) => (ok[key] = (ok[key] ?? 0) + 1);
  const fail = (at: number, port: string, kind: string, err: unknown) =>
    console.log(JSON.stringify({ t: 'err', at, end: now(), port, kind, code: codeOf(err) }));
  const connect = (port: number) =>
    createConnection({ host: r.vip, port, user: r.user, password: r.password, connectTimeout: CONNECT_TIMEOUT_MS });

  const long = async (name: string, port: number) => {
    let conn: Connection | undefined;
    while (running()) {
      const at = now();
      try {
        if (!conn) {
          conn = await connect(port);
          // A session dropped between queries shows on the next one; this keeps the event from being an unhandled error.
          conn.on('error', () => undefined);
        }
        await conn.query({ sql: 'SELECT 1', timeout: QUERY_TIMEOUT_MS });
        count(`${name}:long`);
        await sleep(Math.max(0, LONG_EVERY_MS - (now() - at)));
      } catch (err) {
        fail(at, name, 'long', err);
        conn?.destroy();
        conn = undefined;
        await sleep(LONG_EVERY_MS);
      }
    }
    await conn?.end().catch(() => conn?.destroy());
  };

  const short = async (name: string, port: number) => {
    const at = now();
    let conn: Connection | undefined;
    try {
      conn = await connect(port);
      conn.on('error', () => undefined);
      await conn.query({ sql: 'SELECT 1', timeout: QUERY_TIMEOUT_MS });
      await conn.end();
      count(`${name}:short`);
    } catch (err) {
      fail(at, name, 'short', err);
      conn?.destroy();
    }
  };

  const tasks: Promise<void>[] = [];
  for (const [name, port] of Object.entries(r.ports)) {
    for (let i = 0; i < r.long; i++) tasks.push(long(name, port));
    tasks.push(
      (async () => {
        const inflight = new Set<Promise<void>>();
        const every = 1000 / Math.max(0.1, r.shortPerSec);
        for (let n = 0; n < r.maxShort && running(); n++) {
          const p = short(name, port);
          inflight.add(p);
          void p.finally(() => inflight.delete(p));
          await sleep(every);
        }
        await Promise.all([...inflight]);
      })(),
    );
  }
  await Promise.all(tasks);
  console.log(JSON.stringify({ t: 'sum', ok }));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
