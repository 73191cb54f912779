"""pcap files as tcpdump writes them, and a tcpdump that has started listening.

    for ts, frame, orig_len, linktype in packets(data): ...
    text = wait_listening(proc, deadline)   # "" once tcpdump listens, else why not
"""

from __future__ import annotations

import os
import select
import struct
import time
from typing import Iterator


def packets(data: bytes) -> Iterator[tuple[float, bytes, int, int]]:
    """(timestamp, captured bytes, original length, link type) of each packet of a pcap
    stream (either byte order, micro- or nanosecond timestamps); a truncated last packet ends
    it."""
    if len(data) < 24:
        return
    magic = struct.unpack_from("<I", data)[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    linktype = struct.unpack_from(endian + "I", data, 20)[0]
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack_from(endian + "IIII", data, off)
        if off + 16 + incl > len(data):
            return
        yield sec + frac / (1e9 if nano else 1e6), data[off + 16:off + 16 + incl], orig, linktype
        off += 16 + incl


def wait_listening(proc, deadline: float) -> str:
    """Read tcpdump's stderr until it says it listens (its socket is bound: packets from now
    on are captured): "" then; else what it said last (it exited, or ``deadline`` passed)."""
    buf = b""
    while b"listening on" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            return (buf.decode(errors="replace").strip().splitlines() or
                    ["tcpdump did not start"])[-1]
        ready, _, _ = select.select([proc.stderr], [], [], min(left, 0.5))
        if ready:
            buf += os.read(proc.stderr.fileno(), 4096)
    return ""
