/**
 * Writer agreement between Baton nodes, as pure functions: which of two
 * decisions wins, and what writer this node names for a service given its
 * own view of the servers, its role and the best decision it knows.
 *
 * The rule (docs/operations.md, "One writer for the whole cluster"):
 * - The node that is VRRP master of the instance tracking the service
 *   (vrrp[].track.services) decides; so does any node for a service no
 *   instance tracks, and a node that heard no peer within its startup wait.
 *   Deciding means: run chooseWriter() from the writer currently agreed on,
 *   and make a new decision (epoch + 1) only when the writer changes to
 *   another server. So a VRRP failover by itself changes nothing: the new
 *   master keeps the writer. No server up is never decided: the node names
 *   none and keeps the known decision (see agree()).
 * - With three or more nodes, a node decides only while it hears a majority
 *   of them (the subsystem turns its role to 'adopt' otherwise).
 * - Every other node adopts the winning decision's writer while that server
 *   is up by its own checks, and names no writer otherwise (it never falls
 *   back to a choice of its own, which is how two masters would get writes).
 * - Between two decisions, the higher epoch wins; on equal epochs the higher
 *   decider priority, then the lower node name (so every node, whatever it
 *   heard first, ends with the same decision).
 */
import { chooseWriter, type WriterCandidate } from '../writer.js';
import type { WriterConfig } from '../config/types.js';
import type { Decision } from './codec.js';

export type { Decision } from './codec.js';

/** True when `a` wins over `b`. */
export function beats(a: Decision, b: Decision | undefined): boolean {
  if (b === undefined) return true;
  if (a.epoch !== b.epoch) return a.epoch > b.epoch;
  if (a.priority !== b.priority) return a.priority > b.priority;
  return a.decidedBy < b.decidedBy;
}

export function sameDecision(a: Decision | undefined, b: Decision | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.service === b.service && a.writer === b.writer && a.epoch === b.epoch && a.decidedBy === b.decidedBy && a.priority === b.priority && a.reason === b.reason;
}

export interface AgreementCandidate extends WriterCandidate {
  /** No verdict of its checks yet (still in its initial state). */
  pending?: boolean;
}

export interface AgreementInput {
  service: string;
  writer: WriterConfig;
  /** In config order, with this node's view of their health. */
  candidates: readonly AgreementCandidate[];
  role: 'decide' | 'adopt';
  node: string;
  /** This node's VRRP priority for the service's instance (0 without one). */
  priority: number;
}

export interface AgreementOutcome {
  /** The writer this node names now. */
  writer: string | null;
  /** The decision now in force (a new one when `made`). */
  decision: Decision | undefined;
  /** This node made a new decision (to be kept and told to the peers). */
  made: boolean;
  /** Why this node names this writer, for `baton status --why`. */
  why: string;
}

function changeReason(current: string | null, next: string, candidates: readonly AgreementCandidate[], failback: boolean): string {
  if (current === null) return `${next} first up`;
  const c = candidates.find((x) => x.name === current);
  if (!c) return `${current} removed from the config`;
  if (!c.up) return `${current} down`;
  return failback ? `failback to ${next}` : `${next} preferred`;
}

export function agree(input: AgreementInput, known: Decision | undefined): AgreementOutcome {
  const byName = new Map(input.candidates.map((c) => [c.name, c]));
  const current = known?.writer ?? null;
  const currentUp = current !== null && byName.get(current)?.up === true;

  if (input.role === 'adopt') {
    if (!known) return { writer: null, decision: undefined, made: false, why: 'waiting for the deciding node' };
    if (current === null) return { writer: null, decision: known, made: false, why: `${known.decidedBy} decided no writer` };
    if (!currentUp) return { writer: null, decision: known, made: false, why: `${known.decidedBy} decided ${current}, which is not up here` };
    return { writer: current, decision: known, made: false, why: `adopted from ${known.decidedBy}` };
  }

  // Deciding. While a server has no verdict yet, a new decision could be
  // undone by the next one: keep the agreed writer if it is up, else wait.
  if (input.candidates.some((c) => c.pending)) {
    return currentUp
      ? { writer: current, decision: known, made: false, why: 'kept while other servers have their first checks' }
      : { writer: null, decision: known, made: false, why: 'waiting for the first checks' };
  }
  const next = chooseWriter(input.writer, input.candidates, currentUp ? current : null);
  if (known && next === current) {
    return { writer: next, decision: known, made: false, why: known.decidedBy === input.node ? `decided here: ${known.reason}` : `kept from ${known.decidedBy}` };
  }
  // No server up here: name none, but decide nothing. A node that sees no
  // server is most likely the one cut off (a partition, its own link), and a
  // "no writer" decision would carry a higher epoch than the rest of the
  // cluster's: when it heals, the first server this node sees up would then
  // become everyone's writer though the agreed one never failed. Kept, the
  // known decision still holds once its writer is back up.
  if (next === null) {
    return { writer: null, decision: known, made: false, why: known ? `no server up here; keeping ${current ?? 'no writer'} from ${known.decidedBy} until one is` : 'no server up' };
  }
  const decision: Decision = {
    service: input.service,
    writer: next,
    epoch: (known?.epoch ?? 0) + 1,
    decidedBy: input.node,
    reason: changeReason(current, next, input.candidates, input.writer.failback),
    priority: input.priority,
  };
  return { writer: next, decision, made: true, why: `decided here: ${decision.reason}` };
}

/** A decision made by an operator (`baton writer switch`): always a new epoch. */
export function switchDecision(service: string, to: string, known: Decision | undefined, node: string, priority: number): Decision {
  return { service, writer: to, epoch: (known?.epoch ?? 0) + 1, decidedBy: node, reason: 'switch', priority };
}
