"""Packet sizes seen on a device, from a short tcpdump capture (pcap parsed here)."""

from __future__ import annotations

import struct
import subprocess
import time

from .traffic import require_tool


def packet_lengths(ns, device: str, seconds: float = 1.0, count: int = 500) -> list[int]:
    """Original lengths of up to ``count`` packets sent or received on ``device``."""
    argv = [require_tool("tcpdump", "tcpdump"), "-i", device, "-nn", "-s", "96", "-c", str(count),
            "-U", "-w", "-", "-Q", "out"]
    proc = ns.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        time.sleep(seconds)
        if proc.poll() is None:
            proc.terminate()
        data, _ = proc.communicate(timeout=10)
    finally:
        ns.run.forget_process(proc.pid)
    return parse_pcap(data)


def parse_pcap(data: bytes) -> list[int]:
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
