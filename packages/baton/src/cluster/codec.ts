/**
 * The wire format of the messages Baton nodes exchange about their writer
 * decisions, and its authentication. Pure: the clock and the replay memory
 * are passed in, nothing here does I/O.
 *
 * A datagram is   "BTC1" | HMAC-SHA256(secret, "BTC1" | body) (32 bytes) | body
 * where body is UTF-8 JSON {node, sent_at, nonce, kind, decisions, re?}; `re`,
 * in an answer to a query, is the query's nonce (older nodes leave it out
 * and ignore it).
 *
 * Invariants:
 * - decodeMessage never throws: every rejection is a value with a reason,
 *   and each reason is a label of baton_cluster_messages_dropped_total.
 * - The MAC is checked (in constant time) before the body is parsed, so an
 *   unauthenticated sender never reaches the JSON parser.
 * - Replay: a message is accepted only when its sent_at is within
 *   MAX_SKEW_MS of the receiver's clock and its (node, nonce) was not seen
 *   in the last 2 × MAX_SKEW_MS; a captured message replayed later is
 *   "stale", replayed at once it is "replay". The memory is bounded.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const MAGIC = Buffer.from('BTC1', 'ascii');
const MAC_LEN = 32;
/** Far above what a few dozen services need; a UDP datagram stays unfragmented-ish and bounded. */
export const MAX_MESSAGE_BYTES = 60_000;
/** Clocks of nodes that run VRRP together are NTP-synced; 30 s tolerates a bad one without widening replay much. */
export const MAX_SKEW_MS = 30_000;
const MAX_NONCES = 50_000;

/** One writer service's decision, as every node names it. */
export interface Decision {
  service: string;
  /** The server that takes the writes, or null for none. */
  writer: string | null;
  /** Grows by one with every new decision for the service, cluster-wide. */
  epoch: number;
  /** The node that made the decision. */
  decidedBy: string;
  /** Why, in words ("db1 down", "first up", "switch" …). */
  reason: string;
  /** The decider's VRRP priority when it decided: breaks epoch ties. */
  priority: number;
}

export type MessageKind = 'state' | 'query';

export interface ClusterMessage {
  /** The sender's node name. */
  node: string;
  /** Sender's clock, epoch milliseconds. */
  sentAt: number;
  /** 16 hex digits, fresh for every message. */
  nonce: string;
  /** state: here are my decisions; query: the same, and answer me with yours now. */
  kind: MessageKind;
  decisions: Decision[];
  /** In an answer to a query: that query's nonce (so the asker knows the answer is fresh). */
  re?: string;
}

export type DropReason = 'too-short' | 'too-large' | 'bad-magic' | 'bad-mac' | 'bad-json' | 'bad-shape' | 'stale' | 'replay' | 'own';
export const DROP_REASONS: readonly DropReason[] = ['too-short', 'too-large', 'bad-magic', 'bad-mac', 'bad-json', 'bad-shape', 'stale', 'replay', 'own'];

export type DecodeResult = { ok: true; message: ClusterMessage } | { ok: false; reason: DropReason; detail: string };

export function newNonce(): string {
  return randomBytes(8).toString('hex');
}

function mac(secret: string | Buffer, body: Buffer): Buffer {
  return createHmac('sha256', secret).update(MAGIC).update(body).digest();
}

export function encodeMessage(secret: string | Buffer, message: ClusterMessage): Buffer {
  const body = Buffer.from(
    JSON.stringify({
      node: message.node,
      sent_at: message.sentAt,
      nonce: message.nonce,
      kind: message.kind,
      decisions: message.decisions.map((d) => ({
        service: d.service,
        writer: d.writer,
        epoch: d.epoch,
        decided_by: d.decidedBy,
        reason: d.reason,
        priority: d.priority,
      })),
      ...(message.re !== undefined ? { re: message.re } : {}),
    }),
    'utf8',
  );
  return Buffer.concat([MAGIC, mac(secret, body), body]);
}

/** Remembers (node, nonce) pairs for the replay window. */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();

  /** True when the pair is new (and now remembered), false when it was seen within the window. */
  admit(node: string, nonce: string, now: number): boolean {
    const key = `${node}\0${nonce}`;
    const until = this.seen.get(key);
    if (until !== undefined && until > now) return false;
    this.prune(now);
    this.seen.set(key, now + 2 * MAX_SKEW_MS);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  private prune(now: number): void {
    // Map order is insertion order, which is expiry order: stop at the first live entry.
    for (const [key, until] of this.seen) {
      if (until > now && this.seen.size < MAX_NONCES) break;
      this.seen.delete(key);
    }
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const isName = (v: unknown): v is string => typeof v === 'string' && NAME.test(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function decision(raw: unknown): Decision | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const r = raw as Record<string, unknown>;
  if (!isName(r.service) || !(r.writer === null || isName(r.writer)) || !isCount(r.epoch) || !isName(r.decided_by)) return undefined;
  if (typeof r.reason !== 'string' || r.reason.length > 200 || !isCount(r.priority) || r.priority > 255) return undefined;
  return { service: r.service, writer: r.writer, epoch: r.epoch, decidedBy: r.decided_by, reason: r.reason, priority: r.priority };
}

/**
 * Checks and parses one datagram. `self` is the receiver's node name (its own
 * messages, looped back by a misconfigured peer list, are dropped as "own").
 */
export function decodeMessage(secret: string | Buffer, data: Buffer, now: number, guard: ReplayGuard, self: string): DecodeResult {
  if (data.length < MAGIC.length + MAC_LEN + 2) return { ok: false, reason: 'too-short', detail: `${data.length} bytes` };
  if (data.length > MAX_MESSAGE_BYTES) return { ok: false, reason: 'too-large', detail: `${data.length} bytes` };
  if (!data.subarray(0, MAGIC.length).equals(MAGIC)) return { ok: false, reason: 'bad-magic', detail: 'not a Baton cluster message' };
  const body = data.subarray(MAGIC.length + MAC_LEN);
  const got = data.subarray(MAGIC.length, MAGIC.length + MAC_LEN);
  if (!timingSafeEqual(got, mac(secret, body))) return { ok: false, reason: 'bad-mac', detail: 'the MAC does not match (wrong secret or altered message)' };
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, reason: 'bad-json', detail: 'the body is not JSON' };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, reason: 'bad-shape', detail: 'the body is not an object' };
  const r = raw as Record<string, unknown>;
  if (!isName(r.node) || typeof r.sent_at !== 'number' || !Number.isFinite(r.sent_at) || typeof r.nonce !== 'string' || !/^[0-9a-f]{16}$/.test(r.nonce)) {
    return { ok: false, reason: 'bad-shape', detail: 'node, sent_at or nonce missing or malformed' };
  }
  if (r.kind !== 'state' && r.kind !== 'query') return { ok: false, reason: 'bad-shape', detail: 'kind must be state or query' };
  if (!Array.isArray(r.decisions) || r.decisions.length > 1000) return { ok: false, reason: 'bad-shape', detail: 'decisions must be a list' };
  const decisions: Decision[] = [];
  for (const d of r.decisions) {
    const parsed = decision(d);
    if (!parsed) return { ok: false, reason: 'bad-shape', detail: 'a decision is malformed' };
    decisions.push(parsed);
  }
  if (r.re !== undefined && (typeof r.re !== 'string' || !/^[0-9a-f]{16}$/.test(r.re))) return { ok: false, reason: 'bad-shape', detail: 're must be a nonce' };
  if (r.node === self) return { ok: false, reason: 'own', detail: 'a message from this node itself' };
  if (Math.abs(now - r.sent_at) > MAX_SKEW_MS) {
    return { ok: false, reason: 'stale', detail: `sent ${Math.round(now - r.sent_at)} ms from now (more than ${MAX_SKEW_MS} ms)` };
  }
  if (!guard.admit(r.node, r.nonce, now)) return { ok: false, reason: 'replay', detail: `nonce ${r.nonce} from ${r.node} seen before` };
  return { ok: true, message: { node: r.node, sentAt: r.sent_at, nonce: r.nonce, kind: r.kind, decisions, ...(typeof r.re === 'string' ? { re: r.re } : {}) } };
}
