/**
 * What other packages' tests may use from this one (`@baton/vrrp/testing`):
 * the capture reader and the seeded packet mutator.
 */
export { readPcap, vrrpPackets, VECTORS_DIR, V2_CAPTURE, V3_CAPTURE, type PcapFrame } from './pcap.js';
export { mutate, prng, fixVrrpChecksum, type Mutation, type MutationKind } from './mutate.js';
