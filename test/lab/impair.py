#!/usr/bin/env python3
"""Loss and delay on one lab link, in user space, for kernels without netem.

Run inside the lab's bridge namespace as
    impair.py IF_A IF_B LOSS_PCT DELAY_MS JITTER_MS SEED MAX_SECONDS
it copies every Ethernet frame received on IF_A to IF_B and back (two
AF_PACKET sockets), dropping each with probability LOSS_PCT/100 and holding
the others DELAY_MS +- JITTER_MS, in order per direction (no reordering), as
`tc qdisc ... netem loss L% delay D J` on both sides of the link would.

The chaos run puts it between a node's veth end and the bridge for the
length of a fault: the node's port leaves the bridge, this relay joins them
through a second veth pair, and the heal undoes both.

Frames from a veth carry no TCP/UDP checksum yet (the sending stack left it
to an offload that a veth never does); a frame relayed as it came would be
dropped by its receiver, so the relay fills it in (IPv4 TCP and UDP).

Bounded: it exits after MAX_SECONDS, on SIGTERM, or when its stdin ends;
on exit it prints one JSON line with what it relayed and dropped.
"""
import errno
import heapq
import json
import random
import select
import signal
import socket
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def fill_l4_checksum(frame: bytes) -> bytes:
    """The frame with its IPv4 TCP or UDP checksum computed; anything else as it is."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return frame
    ihl = (frame[14] & 0x0F) * 4
    end = 14 + int.from_bytes(frame[16:18], "big")
    proto = frame[23]
    if int.from_bytes(frame[20:22], "big") & 0x3FFF:
        return frame  # a fragment: the checksum spans fragments
    l4 = 14 + ihl
    at = l4 + (16 if proto == 6 else 6 if proto == 17 else -1000)
    if at < l4 or at + 2 > end or end > len(frame):
        return frame
    out = bytearray(frame)
    out[at:at + 2] = b"\0\0"
    pseudo = bytes(out[26:34]) + bytes([0, proto]) + (end - l4).to_bytes(2, "big")
    value = checksum(pseudo + bytes(out[l4:end]))
    if proto == 17 and value == 0:
        value = 0xFFFF
    out[at:at + 2] = value.to_bytes(2, "big")
    return bytes(out)


def main() -> None:
    if_a, if_b, loss, delay_ms, jitter_ms, seed, max_s = sys.argv[1:8]
    loss_p = float(loss) / 100.0
    delay = float(delay_ms) / 1000.0
    jitter = float(jitter_ms) / 1000.0
    rng = random.Random(int(seed))
    deadline = time.monotonic() + float(max_s)
    socks = {}
    for name in (if_a, if_b):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.bind((name, 0))
        s.setblocking(False)
        socks[name] = s
    other = {if_a: socks[if_b], if_b: socks[if_a]}
    print("ready", flush=True)
    # Per direction, the time the last frame leaves: a later frame never leaves before it.
    last_due = {if_a: 0.0, if_b: 0.0}
    queue = []  # (due, seq, out socket, frame)
    seq = 0
    stats = {"relayed": 0, "dropped": 0, "send_errors": 0}
    stopping = [False]
    signal.signal(signal.SIGTERM, lambda *_: stopping.__setitem__(0, True))
    watch = [socks[if_a], socks[if_b], sys.stdin]
    while not stopping[0] and time.monotonic() < deadline:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, out, frame = heapq.heappop(queue)
            try:
                out.send(frame)
                stats["relayed"] += 1
            except OSError as err:
                # A frame larger than the MTU (offloads) or a link going away: counted, not fatal.
                stats["send_errors"] += 1
                key = errno.errorcode.get(err.errno or 0, str(err.errno))
                stats[key] = stats.get(key, 0) + 1
        timeout = max(0.0, min(queue[0][0] - now, 0.2)) if queue else 0.2
        ready, _, _ = select.select(watch, [], [], timeout)
        for s in ready:
            if s is sys.stdin:
                if not sys.stdin.buffer.read1(4096):
                    stopping[0] = True
                continue
            name = next(n for n, x in socks.items() if x is s)
            while True:
                try:
                    frame, addr = s.recvfrom(65535)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue  # our own copy of a frame we sent
                if rng.random() < loss_p:
                    stats["dropped"] += 1
                    continue
                due = max(time.monotonic() + delay + rng.uniform(-jitter, jitter), last_due[name])
                last_due[name] = due
                seq += 1
                heapq.heappush(queue, (due, seq, other[name], fill_l4_checksum(frame)))
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
