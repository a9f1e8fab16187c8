/**
 * Interface tracking (`track.interfaces`): is each watched link up? Learned
 * from rtnetlink notifications (group RTNLGRP_LINK), not by polling, so a
 * link going down is seen within milliseconds and costs nothing while
 * nothing happens.
 *
 * Invariants:
 * - "Up" means IFF_UP and IFF_RUNNING, as keepalived's IF_ISUP: an interface
 *   administratively down, or up without carrier, is down. A watched
 *   interface that does not exist (or is deleted) is down.
 * - The initial state comes from a dump taken after subscribing, so no change
 *   between the two is missed; if notifications arrive while that dump is in
 *   flight, the state is dumped once more, since their order relative to the
 *   dump is unknown.
 * - onChange is called only when a watched interface's `up` flips, in the
 *   order the kernel reported the changes, never for the initial state (read
 *   it with isUp()). A throwing onChange is logged and ignored.
 * - If the kernel drops notifications (ENOBUFS on a burst), the state is
 *   re-read with a dump and any differences are reported as changes.
 */
import { describeError, silentLogger, type Logger } from '@baton/core';
import { rt, type RtNetlinkSocket } from 'netlink';
import { listLinks, openRtNetlink } from './netlink-util.js';

const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;

export interface LinkChange {
  name: string;
  up: boolean;
  /** False when the interface was deleted (or never existed). */
  exists: boolean;
}

export interface LinkWatchOptions {
  interfaces: readonly string[];
  onChange: (change: LinkChange) => void;
  logger?: Logger;
}

export interface LinkWatch {
  /** Current state of a watched interface (false for unknown names). */
  isUp(name: string): boolean;
  /** Every watched interface and whether it is up. */
  snapshot(): Record<string, boolean>;
  /** Unsubscribes and closes the netlink socket. Idempotent. */
  close(): void;
}

/** The state the kernel reports for one link: up iff IFF_UP and IFF_RUNNING. */
export function linkIsUp(flags: { up?: boolean; running?: boolean } | undefined): boolean {
  return flags?.up === true && flags.running === true;
}

/**
 * Subscribes to link notifications and dumps the current state. Rejects only
 * when rtnetlink itself cannot be opened or dumped.
 */
export async function openLinkWatch(options: LinkWatchOptions): Promise<LinkWatch> {
  const logger = options.logger ?? silentLogger;
  const watched = new Set(options.interfaces);
  const state = new Map<string, LinkChange>();
  for (const name of watched) state.set(name, { name, up: false, exists: false });

  const nl: RtNetlinkSocket = openRtNetlink();
  let closed = false;
  let dumping = false;
  let notifiedDuringDump = false;

  const apply = (next: LinkChange, report: boolean) => {
    const prev = state.get(next.name);
    if (!prev) return;
    state.set(next.name, next);
    if (report && prev.up !== next.up) {
      try {
        options.onChange({ ...next });
      } catch (err) {
        logger.warn('link change handler threw', { interface: next.name, error: describeError(err) });
      }
    }
  };

  /** Reads every link; `report` says whether differences are changes to report. */
  const resync = async (report: boolean): Promise<void> => {
    dumping = true;
    notifiedDuringDump = false;
    try {
      const links = await listLinks(nl);
      if (closed) return;
      const seen = new Set<string>();
      for (const l of links) {
        if (!watched.has(l.name)) continue;
        seen.add(l.name);
        apply({ name: l.name, up: l.adminUp && l.running, exists: true }, report);
      }
      for (const name of watched) if (!seen.has(name)) apply({ name, up: false, exists: false }, report);
    } finally {
      dumping = false;
    }
  };

  nl.socket.on('message', (msgs) => {
    if (closed) return;
    for (const m of msgs) {
      if (m.type !== RTM_NEWLINK && m.type !== RTM_DELLINK) continue;
      let parsed: rt.Message;
      try {
        parsed = rt.parseMessage(m.type, m.data);
      } catch {
        continue;
      }
      if (parsed.kind !== 'link') continue;
      const name = parsed.attrs.ifname;
      if (name === undefined || !watched.has(name)) continue;
      if (dumping) notifiedDuringDump = true;
      if (m.type === RTM_DELLINK) apply({ name, up: false, exists: false }, !dumping);
      else apply({ name, up: linkIsUp(parsed.data.flags), exists: true }, !dumping);
    }
  });
  nl.socket.on('error', (err) => {
    if (closed) return;
    logger.warn('link notifications lost; re-reading link state', { error: describeError(err) });
    resync(true).catch((e: unknown) => logger.error('link state re-read failed', { error: describeError(e) }));
  });

  // A subscription must keep the process alive like any listening socket.
  nl.socket.ref(true);
  nl.addMembership(rt.MulticastGroups.LINK);
  try {
    await resync(false);
    if (notifiedDuringDump) await resync(false);
  } catch (err) {
    closed = true;
    nl.socket.close();
    throw err;
  }

  return {
    isUp: (name) => state.get(name)?.up ?? false,
    snapshot: () => Object.fromEntries([...state.values()].map((s) => [s.name, s.up])),
    close() {
      if (closed) return;
      closed = true;
      nl.socket.close();
    },
  };
}
