"""Packet sizes seen on a device, from a tcpdump capture (pcap parsed here).

    with Capture(ns, "kl3fa9-tun") as cap:     # returns once tcpdump listens
        ... traffic ...
    cap.lengths                                 # original length of each packet sent
"""

from __future__ import annotations

import subprocess
import time

from ..core.errors import HarnessError
from ..core.tools import require_tool
from ..net.pcap import packets, wait_listening


class Capture:
    def __init__(self, ns, device: str, count: int = 2000, direction: str = "out"):
        self.ns, self.device = ns, device
        self.argv = [require_tool("tcpdump", "tcpdump"), "-i", device, "-nn", "-s", "96",
                     "-c", str(count), "-U", "-w", "-", "-Q", direction]
        self.lengths: list[int] = []

    def __enter__(self):
        self.proc = self.ns.popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err = wait_listening(self.proc, time.monotonic() + 60)
        if err:
            self.ns.run.stop(self.proc)
            raise HarnessError(f"tcpdump on {self.device} did not start: {err[-200:]}")
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
        data, _ = self.ns.run.finish(self.proc, 30, "tcpdump")
        self.lengths = parse_pcap(data)
        return False


def parse_pcap(data: bytes) -> list[int]:
    """Original packet lengths from a pcap stream."""
    return [orig for _, _, orig, _ in packets(data)]
