"""A process that owns a tap and answers like a tiny host: ARP requests and ICMP echo requests
for its address.  Counts what it read and wrote; prints the counts as JSON when stopped.

    python -m harness.net.tap_peer NAMESPACE TAP ADDRESS MAC
"""

from __future__ import annotations

import ipaddress
import json
import os
import select
import signal
import struct
import sys

from ..core import netns
from . import frames
from .tap import attach


def reply(frame: bytes, me_ip: bytes, me_mac: bytes) -> bytes | None:
    f = frames.parse(frame)
    if f["type"] == frames.ETH_P_ARP and f.get("op") == 1 and f.get("tpa") == me_ip:
        arp = struct.pack("!HHBBH", 1, frames.ETH_P_IP, 6, 4, 2) + me_mac + me_ip + f["sha"] + f["spa"]
        return frames.ethernet(f["src"], me_mac, frames.ETH_P_ARP, arp)
    if f.get("proto") == 1 and f.get("icmp_type") == 8 and f.get("ip_dst") == me_ip:
        ip = frame[14:]
        ihl = f["ihl"]
        icmp = bytearray(ip[ihl:struct.unpack("!H", ip[2:4])[0]])
        icmp[0] = 0  # echo reply
        icmp[2:4] = b"\0\0"  # checksum computed over a zero field
        icmp[2:4] = struct.pack("!H", frames.checksum(bytes(icmp)))
        src = str(ipaddress.ip_address(f["ip_dst"]))
        dst = str(ipaddress.ip_address(f["ip_src"]))
        return frames.ethernet(f["src"], me_mac, frames.ETH_P_IP,
                               frames.ipv4(src, dst, 1, bytes(icmp), df=False))
    return None


def main(argv: list[str]) -> int:
    ns, tap, address, mac = argv
    netns.enter(ns)
    fd = attach(tap)
    me_ip, me_mac = ipaddress.ip_address(address).packed, frames.mac_bytes(mac)
    counts = {"read": 0, "written": 0, "arp_replies": 0, "echo_replies": 0}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("ready", flush=True)
    while not stop:
        try:
            ready, _, _ = select.select([fd], [], [], 0.2)
        except InterruptedError:
            continue
        if not ready:
            continue
        frame = os.read(fd, 65536)
        counts["read"] += 1
        out = reply(frame, me_ip, me_mac)
        if out is not None:
            os.write(fd, out)
            counts["written"] += 1
            counts["arp_replies" if out[12:14] == b"\x08\x06" else "echo_replies"] += 1
    print(json.dumps(counts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
