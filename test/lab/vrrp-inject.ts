/**
 * Sends crafted VRRP packets from inside a lab namespace (run as
 * `ip netns exec NS node vrrp-inject.js '<json>'`): valid adverts (a
 * non-peer, a wrong password) and malformed ones (random bytes, truncated,
 * bad checksum, TTL 64), at a bounded rate for a bounded count.
 *
 * The IPv4 header is ours (IP_HDRINCL), so the TTL and the checksum can be
 * wrong on purpose. Prints one JSON line with what was sent, then exits.
 */
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { decodeAdvert, encodeAdvert, encodeIpPacket, type Advert, type ReceiveChecks } from '@baton/vrrp';
import { mutate, prng } from '@baton/vrrp/testing';

/**
 * 'mutated': seeded payload mutations (@baton/vrrp/testing) of `mutateBase`,
 * skipping the ones the codec accepts under `mutateChecks`: what is sent is
 * what a receiver with those checks must drop. The summary gives the reason
 * the codec predicts for each, to compare with the receiver's counters.
 */
export type InjectKind = 'advert' | 'random' | 'truncated' | 'bad-checksum' | 'ttl64' | 'mutated';

export interface InjectRequest {
  src: string;
  dst: string;
  kinds: InjectKind[];
  /** Packets in all, spread evenly over the kinds; at most 20,000. */
  count: number;
  ratePerSec: number;
  vrid: number;
  version: 2 | 3;
  priority: number;
  vips: string[];
  authPass?: string;
  advertIntervalMs?: number;
  /** 'mutated': the VRRP message (hex) the mutations start from. */
  mutateBase?: string;
  mutateSeed?: number;
  mutateChecks?: ReceiveChecks;
}

let mutator: (() => number) | undefined;
/** Predicted drop reason per 'mutated' packet sent. */
export const predicted: Record<string, number> = {};

function mutated(r: InjectRequest): Buffer {
  mutator ??= prng(r.mutateSeed ?? 1);
  const base = encodeIpPacket(Buffer.from(r.mutateBase ?? '', 'hex'), { srcAddr: r.src, dstAddr: r.dst });
  for (let k = 0; k < 1000; k++) {
    const m = mutate(base, mutator, { payloadOnly: true });
    const verdict = decodeAdvert(m.payload, { ...r.mutateChecks, srcAddr: r.src, dstAddr: r.dst });
    if (verdict.ok) continue;
    predicted[verdict.error] = (predicted[verdict.error] ?? 0) + 1;
    return encodeIpPacket(m.payload, { srcAddr: r.src, dstAddr: r.dst });
  }
  throw new Error('1000 mutations in a row were valid adverts');
}

interface RawSocket {
  setOption(level: number, option: number, value: number | Buffer, length?: number): void;
  send(buffer: Buffer, offset: number, length: number, address: string, cb: (err: Error | null) => void): void;
  close(): void;
}

function advertPayload(r: InjectRequest): Buffer {
  const interval = r.advertIntervalMs ?? 1000;
  const base = { vrid: r.vrid, priority: r.priority, addresses: r.vips };
  const advert: Advert =
    r.version === 2
      ? { version: 2, ...base, advertIntervalS: interval / 1000, authType: r.authPass ? 1 : 0 }
      : { version: 3, ...base, maxAdvertIntervalCs: interval / 10 };
  return encodeAdvert(advert, { srcAddr: r.src, dstAddr: r.dst, ...(r.authPass ? { authPass: r.authPass } : {}) });
}

export function craft(kind: InjectKind, r: InjectRequest, id: number): Buffer {
  const ip = (payload: Buffer, ttl = 255) => encodeIpPacket(payload, { srcAddr: r.src, dstAddr: r.dst, ttl, id });
  switch (kind) {
    case 'advert':
      return ip(advertPayload(r));
    case 'random':
      return ip(randomBytes(8 + (id % 40)));
    case 'truncated':
      return ip(advertPayload(r).subarray(0, 4));
    case 'bad-checksum': {
      const p = advertPayload(r);
      p[6] = (p[6] ?? 0) ^ 0xff;
      return ip(p);
    }
    case 'ttl64':
      return ip(advertPayload(r), 64);
    case 'mutated':
      return mutated(r);
  }
}

const SEND_WAIT_MS = 2000;

async function main(): Promise<void> {
  const r = JSON.parse(process.argv[2] ?? '{}') as InjectRequest;
  const count = Math.min(20_000, Math.max(0, r.count));
  const raw = createRequire(import.meta.url)('raw-socket') as { createSocket(o: { protocol: number }): RawSocket };
  const socket = raw.createSocket({ protocol: 112 });
  socket.setOption(1, 25 /* SO_BINDTODEVICE */, Buffer.from('eth0\0'), 5);
  socket.setOption(0, 3 /* IP_HDRINCL */, 1);
  socket.setOption(0, 34 /* IP_MULTICAST_LOOP */, 0);
  const sent: Record<string, number> = {};
  let errors = 0;
  const batch = Math.max(1, Math.round(r.ratePerSec / 100));
  const started = performance.now();
  for (let i = 0; i < count; ) {
    for (let j = 0; j < batch && i < count; j++, i++) {
      const kind = r.kinds[i % r.kinds.length] as InjectKind;
      const packet = craft(kind, r, (i % 0xfffe) + 1);
      // A send whose callback never comes (raw-socket queues a send the kernel
      // refused until the socket polls writable) counts as an error after
      // SEND_WAIT_MS, so the injector always ends and reports.
      await new Promise<void>((done) => {
        let settled = false;
        const timer = setTimeout(() => {
          settled = true;
          errors++;
          done();
        }, SEND_WAIT_MS);
        socket.send(packet, 0, packet.length, r.dst, (err) => {
          if (settled) return;
          clearTimeout(timer);
          if (err) errors++;
          else sent[kind] = (sent[kind] ?? 0) + 1;
          done();
        });
      });
    }
    // Pace to the rate: batch k is due at k × batch / rate seconds.
    const dueMs = (i / r.ratePerSec) * 1000 - (performance.now() - started);
    if (dueMs > 0) await new Promise((d) => setTimeout(d, dueMs));
  }
  socket.close();
  console.log(JSON.stringify({ sent, errors, ms: Math.round(performance.now() - started), predicted }));
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')) {
  // Keep the process alive until main() has printed its summary, whatever the raw socket's handles do.
  const keepAlive = setInterval(() => undefined, 1000);
  main().then(
    () => {
      clearInterval(keepAlive);
      // The summary is out (stdout to a pipe is synchronous on Linux); a raw socket's handle that outlives
      // close() must not keep the process, and its caller's timeout, waiting.
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
