/**
 * Ports: the small interfaces the VRRP router consumes. The router (router.ts)
 * is a thin shell over the pure state machine; every side effect goes through
 * one of these. Real Linux adapters live in `io/` (raw socket, netlink,
 * AF_PACKET ARP); tests use in-memory fakes (lan.ts).
 *
 * Contract shared by every port:
 * - Methods never throw. A synchronous method that fails logs/counts the
 *   failure itself; an async method may reject, and the router catches and
 *   logs the rejection (it never becomes an unhandled rejection).
 * - Methods are called from the router's event handlers in protocol order;
 *   an adapter must not reorder calls (e.g. a VIP add and a later remove).
 * - No port reads configuration of its own about VRRP timing: when and how
 *   often to call is the router's decision, driven by its injected Clock.
 */
import type { DropReason, VrrpState } from './types.js';

/**
 * Sends VRRP advertisements. The router passes the VRRP payload only
 * (8-byte header, addresses, v2 auth data), already checksummed for the
 * given destination (the v3 checksum covers a pseudo-header with the source
 * and destination addresses, RFC 5798 §5.2.8, so the router encodes one
 * payload per destination).
 *
 * The adapter adds the IPv4 header: protocol 112, TTL 255 (RFC 3768 §5.2.3,
 * RFC 5798 §5.1.1.3), TOS 0xC0 (keepalived's default, network control), the
 * source address = the router's `primaryAddr`, destination `dstAddr`: the
 * multicast group 224.0.0.18 (RFC 5798 §5.1.1.2) or one unicast peer.
 * When `dstAddr` is multicast it sends on the configured interface with
 * multicast loop off.
 */
export interface AdvertTransport {
  /**
   * Send one advert. Never throws; a failed send is the adapter's to log.
   * `done`, when given, is called exactly once (possibly synchronously):
   * true once the kernel took the packet, false when it was not sent. The
   * router counts an advert as sent only on true.
   */
  send(payload: Buffer, dstAddr: string, done?: (sent: boolean) => void): void;
  /**
   * Optional: tells when the transport can no longer send nor receive (its
   * socket failed: `up` false) and when it can again (`up` true, after a
   * reopen). A router subscribes at construction and holds its instance in
   * FAULT (reason 'transport') while the transport is down, so a deaf node
   * neither takes over as backup nor claims to advertise as master.
   * Returns a function that unsubscribes.
   */
  onStatus?(listener: (status: TransportStatus) => void): () => void;
}

export interface TransportStatus {
  up: boolean;
  /** Why it went down, for the log. */
  error?: string;
}

/**
 * Where received packets come from. Not consumed by the router itself: the
 * daemon subscribes and forwards each packet to `Router.handlePacket()`.
 * One raw socket (protocol 112) per interface may serve several routers;
 * use `peekVrid()` from codec.ts to demultiplex before handing a packet over.
 */
export interface PacketSource {
  /**
   * Register the handler for every received IPv4 packet, IPv4 header
   * included (as a raw socket delivers it: the TTL is byte 8).
   * Returns a function that unregisters it.
   */
  onPacket(handler: (ipPacket: Buffer) => void): () => void;
  /** Stop receiving and release the socket. Idempotent. */
  close(): void;
}

/**
 * Owns the virtual IP addresses of one VRRP instance on its interface
 * (the addresses and interface are given to the adapter at construction).
 *
 * - `add()` puts every VIP on the interface; an address already present is
 *   not an error (idempotent), so a restart over a stale VIP is safe.
 * - `remove()` deletes every VIP; an address already absent is not an error.
 * - Calls are issued in order and may overlap in time (a remove issued while
 *   an add is still pending); the adapter must apply them in call order, e.g.
 *   by chaining on an internal promise.
 * - Rejecting means "some address could not be changed"; the router logs it
 *   and carries on (the protocol state does not roll back).
 */
export interface VipManager {
  add(): Promise<void>;
  remove(): Promise<void>;
}

/**
 * Sends gratuitous ARP for the VIPs (RFC 5798 §6.4.1 (2), RFC 3768 §6.4.1).
 * One call = one gratuitous ARP request per VIP, from the interface's (or
 * the virtual, if configured) MAC. Repeats, the spacing between them, the
 * second burst (keepalived's garp_master_delay) and the periodic refresh are
 * timed by the router and come as separate calls. Never throws.
 */
export interface GarpSender {
  send(): void;
}

/** One state change, as reported to the notifier. */
export interface StateChange {
  /** The instance name (keepalived's vrrp_instance name, e.g. VI_1). */
  instance: string;
  from: VrrpState;
  to: VrrpState;
  /** Why, e.g. 'master-down-timer', 'higher-priority-advert', 'shutdown', 'fault:eth0'. */
  reason: string;
  /** Effective priority at the time of the change. */
  priority: number;
  /** Clock time of the change (monotonic ms). */
  atMs: number;
}

/**
 * Told about every state change, in the order they happen. A script-running
 * adapter must run them one after another (keepalived's notify FIFO order),
 * never in parallel, so "BACKUP" is never seen after the later "MASTER".
 * Never throws.
 */
export interface Notifier {
  notify(change: StateChange): void;
}

/**
 * Counters of one router; the daemon maps them onto the `baton_vrrp_*`
 * metrics (labels: instance and the given value). Never throws.
 */
export interface VrrpStats {
  advertSent(): void;
  advertReceived(): void;
  packetDropped(reason: DropReason): void;
  /** A processed advert whose address list differs from ours (not a drop: it is also counted as received). */
  addressMismatch(): void;
  transition(to: VrrpState): void;
}

/** Ports that do nothing, for defaults and tests. */
export const nullNotifier: Notifier = { notify() {} };
export const nullStats: VrrpStats = {
  advertSent() {},
  advertReceived() {},
  packetDropped() {},
  addressMismatch() {},
  transition() {},
};
