"""Traffic generators.  Each returns a :class:`TrafficResult`, whatever the tool."""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field

from ..errors import HarnessError


@dataclass
class TrafficResult:
    tool: str  # iperf3 | netperf
    protocol: str  # tcp | udp
    seconds: float  # measured duration
    goodput_bps: float  # payload bits per second delivered to the receiver
    sent_bytes: int = 0
    received_bytes: int = 0
    retransmits: int | None = None
    datagrams_sent: int | None = None
    datagrams_lost: int | None = None
    intervals_bps: list = field(default_factory=list)  # raw per-interval samples
    tool_version: str = ""
    raw: dict = field(default_factory=dict)

    @property
    def datagram_loss(self) -> float | None:
        if not self.datagrams_sent:
            return None
        return (self.datagrams_lost or 0) / self.datagrams_sent

    def as_record(self) -> dict:
        d = asdict(self)
        d["datagram_loss"] = self.datagram_loss
        return d


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if not path:
        raise HarnessError(f"{name} not found: install the Debian package {package} (make lab does)")
    return path


def _listening(ns, port: int, proto: str) -> bool:
    want = f":{port:04X} "
    listen_state = "0A" if proto == "tcp" else "07"
    for fn in (f"/proc/thread-self/net/{proto}", f"/proc/thread-self/net/{proto}6"):
        for line in ns.read(fn).splitlines()[1:]:
            cols = line.split()
            if want in cols[1] + " " and cols[3] == listen_state:
                return True
    return False


def wait_listening(ns, port: int, proc=None, proto: str = "tcp", timeout: float = 10.0) -> None:
    """Wait until a socket listens on ``port`` in ``ns`` (read from the kernel's socket table)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _listening(ns, port, proto):
            return
        if proc is not None and proc.poll() is not None:
            raise HarnessError(f"server for port {port} in {ns.name} exited early ({proc.returncode})")
        time.sleep(0.01)
    raise HarnessError(f"nothing listens on {proto} port {port} in {ns.name} after {timeout}s")
