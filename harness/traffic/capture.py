"""Packet sizes seen on a device, from a tcpdump capture (pcap parsed here).

    with Capture(ns, "kl3fa9-tun") as cap:     # returns once tcpdump listens
        ... traffic ...
    cap.lengths                                 # original length of each packet sent
"""

from __future__ import annotations

import os
import select
import struct
import subprocess
import time

from ..core.errors import HarnessError
from ..core.tools import require_tool


class Capture:
    def __init__(self, ns, device: str, count: int = 2000, direction: str = "out"):
        self.ns, self.device = ns, device
        self.argv = [require_tool("tcpdump", "tcpdump"), "-i", device, "-nn", "-s", "96",
                     "-c", str(count), "-U", "-w", "-", "-Q", direction]
        self.lengths: list[int] = []

    def __enter__(self):
        self.proc = self.ns.popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        err = b""
        while b"listening on" not in err:  # tcpdump says so once its socket is bound
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.ns.run.stop(self.proc)
                raise HarnessError(f"tcpdump on {self.device} did not start: {err.decode()[-200:]}")
            ready, _, _ = select.select([self.proc.stderr], [], [], 0.5)
            if ready:
                err += os.read(self.proc.stderr.fileno(), 4096)
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
        data, _ = self.ns.run.finish(self.proc, 30, "tcpdump")
        self.lengths = parse_pcap(data)
        return False


def parse_pcap(data: bytes) -> list[int]:
    """Original packet lengths from a pcap stream."""
    if len(data) < 24:
        return []
    magic = struct.unpack_from("<I", data)[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    lengths, off = [], 24
    while off + 16 <= len(data):
        _, _, incl, orig = struct.unpack_from(endian + "IIII", data, off)
        off += 16 + incl
        if off > len(data):
            break
        lengths.append(orig)
    return lengths
