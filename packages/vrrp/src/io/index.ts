/**
 * The Linux adapters of the VRRP ports (ports.ts): raw protocol-112 socket,
 * VIPs over rtnetlink, gratuitous ARP over AF_PACKET, link and script
 * tracking, notify scripts. Everything here does I/O; the pure pieces they
 * contain (frame and header builders, hysteresis) are exported for tests.
 *
 * The list is explicit so that protocol constants private to an adapter
 * never clash with the codec's exports from the package root.
 */
export { openRawTransport, reopenDelayMs, REOPEN_MAX_MS, REOPEN_MIN_MS, type RawTransport, type RawTransportOptions } from './raw-transport.js';
export { createNetlinkVipManager, vipLifetimeSeconds, type NetlinkVipManager, type NetlinkVipOptions } from './netlink-vips.js';
export { buildGarpFrame, parseMac, openGarpSender, GARP_FRAME_BYTES, type GarpSenderOptions, type LinuxGarpSender } from './garp.js';
export { openLinkWatch, linkIsUp, type LinkChange, type LinkWatch, type LinkWatchOptions } from './link-watch.js';
export {
  startTrackScript,
  recordScriptResult,
  scriptEffect,
  scriptSucceeded,
  INITIAL_SCRIPT_STATE,
  type ScriptStatus,
  type ScriptHysteresis,
  type ScriptTrackState,
  type TrackScript,
  type TrackScriptOptions,
} from './track-script.js';
export {
  createScriptNotifier,
  notifyArgv,
  notifyStateName,
  type NotifyScript,
  type NotifyStateName,
  type ScriptNotifier,
  type ScriptNotifierOptions,
} from './notify.js';
export { listLinks, netlinkErrno, parseIpv4Prefix, type Ipv4Prefix, type LinkInfo } from './netlink-util.js';
