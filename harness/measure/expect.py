"""What a shaper should let through: expected goodput from rate, MTU and headers.

Shapers count whole frames.  HTB and TBF charge a packet its length at the device, which on an
ifb fed by mirred from an Ethernet device includes the 14-byte Ethernet header: a 1500-byte MTU
TCP segment with timestamps carries 1448 payload bytes in a 1514-byte frame, so 100 Mbit/s of
shaping delivers 100 x 1448/1514 = 95.64 Mbit/s of goodput.
"""

from __future__ import annotations

ETH_HLEN = 14
IPV4_HLEN, IPV6_HLEN = 20, 40
TCP_HLEN, TCP_TIMESTAMPS = 20, 12


def tcp_payload(mtu: int, ipv6: bool = False, timestamps: bool = True) -> int:
    """TCP payload bytes of a full-sized segment (the MSS in use)."""
    return mtu - (IPV6_HLEN if ipv6 else IPV4_HLEN) - TCP_HLEN - (TCP_TIMESTAMPS if timestamps else 0)


def frame_bytes(mtu: int) -> int:
    """Bytes a shaper charges for a full-sized packet on an Ethernet-like device."""
    return mtu + ETH_HLEN


def expected_goodput(rate_bps: float, mtu: int = 1500, ipv6: bool = False,
                     timestamps: bool = True) -> float:
    """TCP goodput a shaper of ``rate_bps`` lets through at ``mtu``: rate x payload / frame."""
    return rate_bps * tcp_payload(mtu, ipv6, timestamps) / frame_bytes(mtu)


def error(measured: float, expected: float) -> float:
    """Relative error, e.g. -0.012 for 1.2 % below."""
    return measured / expected - 1.0
