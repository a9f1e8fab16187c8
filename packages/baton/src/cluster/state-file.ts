/**
 * The state file: the writer decisions this node knows, kept across
 * restarts so that `failback: false` and the cluster's agreed writer
 * survive a restart of a lone node.
 *
 * Invariants:
 * - Written atomically: a temp file in the same directory, fsync'ed, then
 *   renamed over the old one, so a crash leaves the old or the new file,
 *   never half of one.
 * - Reading never throws: a missing file is an empty state, an unreadable
 *   or malformed one is an error value (the daemon logs it and starts with
 *   no decisions rather than refusing to start).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { describeError } from '@baton/core';
import type { Decision } from './codec.js';

const VERSION = 1;

export type StateRead = { ok: true; decisions: Decision[]; missing: boolean } | { ok: false; error: string };

function parseDecision(raw: unknown): Decision | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  const int = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  if (typeof r.service !== 'string' || !(r.writer === null || typeof r.writer === 'string') || !int(r.epoch)) return undefined;
  if (typeof r.decided_by !== 'string' || typeof r.reason !== 'string' || !int(r.priority)) return undefined;
  return { service: r.service, writer: r.writer as string | null, epoch: r.epoch as number, decidedBy: r.decided_by, reason: r.reason, priority: r.priority as number };
}

export function readStateFile(path: string): StateRead {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return { ok: true, decisions: [], missing: true };
    return { ok: false, error: `cannot read ${path}: ${describeError(err)}` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, error: `${path} is not JSON` };
  }
  const r = raw as Record<string, unknown> | null;
  if (typeof r !== 'object' || r === null || r.version !== VERSION || !Array.isArray(r.decisions)) {
    return { ok: false, error: `${path} is not a version ${VERSION} Baton state file` };
  }
  const decisions: Decision[] = [];
  for (const d of r.decisions) {
    const parsed = parseDecision(d);
    if (!parsed) return { ok: false, error: `${path} holds a malformed decision` };
    decisions.push(parsed);
  }
  return { ok: true, decisions, missing: false };
}

/** Replaces the file with these decisions; throws on I/O errors (the caller logs them). */
export function writeStateFile(path: string, node: string, decisions: readonly Decision[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  const body = JSON.stringify(
    {
      version: VERSION,
      node,
      decisions: decisions.map((d) => ({ service: d.service, writer: d.writer, epoch: d.epoch, decided_by: d.decidedBy, reason: d.reason, priority: d.priority })),
    },
    null,
    2,
  );
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, body + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
