"""ping from a namespace, and the largest packet that crosses a path unfragmented."""

from __future__ import annotations

from ..core.tools import require_tool

ICMP_IP_HEADERS = 28  # IPv4 20 + ICMP 8


def ping(ns, address: str, payload: int = 56, df: bool = False, count: int = 1,
         timeout: float = 1.0) -> bool:
    """True when ``count`` echo requests of ``payload`` bytes all got replies."""
    argv = [require_tool("ping", "iputils-ping"), "-n", "-q", "-c", str(count), "-i", "0.05",
            "-W", str(timeout), "-s", str(payload)]
    if df:
        argv += ["-M", "do"]
    # ping ends itself after count x timeout; past that (plus slack) it is stopped
    res = ns.run_command(argv + [address], timeout=count * (timeout + 0.05) + 10, what="ping")
    return res.returncode == 0


def largest_unfragmented(ns, address: str, low: int = 576, high: int = 1500) -> int:
    """Largest IPv4 packet (bytes, headers included) that reaches ``address`` with DF set.

    Binary search over ping sizes; a too-big probe teaches the sender the path MTU (ICMP
    "fragmentation needed", or the tunnel's own check) and fails."""
    lo, hi = low - ICMP_IP_HEADERS, high - ICMP_IP_HEADERS
    if not ping(ns, address, lo, df=True, count=2):
        return 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        # twice: the first too-big probe may only teach the path MTU
        if ping(ns, address, mid, df=True, count=1) or ping(ns, address, mid, df=True, count=1):
            lo = mid
        else:
            hi = mid - 1
    return lo + ICMP_IP_HEADERS
