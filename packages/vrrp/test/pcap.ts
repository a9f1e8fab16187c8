/**
 * Test helper: a tiny reader for classic pcap files (the keepalived captures
 * in packages/vrrp/test/fixtures/vectors), Ethernet link type only. Returns frames numbered
 * from 1, as tshark numbers them.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The captures, read from the source tree: this module runs compiled as
 * packages/vrrp/dist/test/pcap.js, and tsc does not copy fixtures to dist,
 * so the path climbs out of dist/test into test/fixtures/vectors.
 */
export const VECTORS_DIR = fileURLToPath(new URL('../../test/fixtures/vectors/', import.meta.url));

export interface PcapFrame {
  /** 1-based, as tshark numbers frames. */
  number: number;
  /** Capture time in microseconds since the epoch. */
  timeUs: number;
  data: Buffer;
}

export function readPcap(path: string): PcapFrame[] {
  const file = readFileSync(path);
  const magic = file.readUInt32LE(0);
  let little: boolean;
  let nanos = false;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) little = true;
  else if (file.readUInt32BE(0) === 0xa1b2c3d4 || file.readUInt32BE(0) === 0xa1b23c4d) little = false;
  else throw new Error(`${path}: not a classic pcap file`);
  const u32 = (at: number) => (little ? file.readUInt32LE(at) : file.readUInt32BE(at));
  if ((u32(0) & 0xffff) === 0x3c4d) nanos = true;
  const linkType = u32(20);
  if (linkType !== 1) throw new Error(`${path}: link type ${linkType}, want Ethernet (1)`);
  const frames: PcapFrame[] = [];
  for (let at = 24, n = 1; at + 16 <= file.length; n++) {
    const sec = u32(at);
    const frac = u32(at + 4);
    const incl = u32(at + 8);
    const data = file.subarray(at + 16, at + 16 + incl);
    frames.push({ number: n, timeUs: sec * 1e6 + (nanos ? Math.floor(frac / 1000) : frac), data });
    at += 16 + incl;
  }
  return frames;
}

/** The IPv4 packet (Ethernet header of 14 bytes removed) of each frame carrying IP protocol 112. */
export function vrrpPackets(frames: PcapFrame[]): Array<PcapFrame & { ip: Buffer }> {
  return frames
    .filter((f) => f.data.length >= 34 && f.data.readUInt16BE(12) === 0x0800 && f.data[14 + 9] === 112)
    .map((f) => ({ ...f, ip: f.data.subarray(14) }));
}

export const V2_CAPTURE = 'keepalived-vrrpv2-advint1.pcap';
export const V3_CAPTURE = 'keepalived-vrrpv3-advint0.1.pcap';
