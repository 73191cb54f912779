"""Parsing and validation of what users type: rates, MTUs, addresses.

Rates use tc's bit units (``10kbit``, ``100mbit``, ``1gbit``) or a plain number of bits per
second.  Byte-based or spaced spellings ("10 Mbps") are refused: ``mbps`` means megabytes per
second to tc and megabits to most people, so we make the user say which.
"""

from __future__ import annotations

import ipaddress
import re

from .errors import HarnessError

_RATE_UNITS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9, "tbit": 10**12}
_RATE_RE = re.compile(r"^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit|tbit)?$", re.IGNORECASE)

#: The only ranges the harness ever addresses (RFC 2544 benchmarking, RFC 3849 documentation).
ALLOWED_NETWORKS = (ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("2001:db8::/32"))

MTU_MIN, MTU_MAX = 68, 65535


def parse_rate(value) -> int:
    """Return a rate in bits per second from ``"100mbit"``, ``"1.5gbit"`` or an int.

    >>> parse_rate("100mbit")
    100000000
    """
    if isinstance(value, bool):
        raise HarnessError(f"bad rate {value!r}: expected e.g. 100mbit")
    if isinstance(value, (int, float)):
        bits = float(value)
    else:
        m = _RATE_RE.match(str(value).strip())
        if not m or str(value) != str(value).strip():
            raise HarnessError(
                f"bad rate {value!r}: expected a number followed by kbit, mbit or gbit (e.g. 100mbit)"
            )
        bits = float(m.group(1)) * _RATE_UNITS[(m.group(2) or "bit").lower()]
    if bits <= 0 or bits != bits:
        raise HarnessError(f"bad rate {value!r}: must be greater than zero")
    if bits >= 2**32 * 8 * 1000:
        raise HarnessError(f"bad rate {value!r}: too large")
    if int(bits) < 1:
        raise HarnessError(f"bad rate {value!r}: rounds to 0 bit/s")
    return int(bits)


def format_rate(bits_per_second: float) -> str:
    """Human form of a rate, e.g. ``95.64 Mbit/s``."""
    for unit, scale in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if bits_per_second >= scale:
            return f"{bits_per_second / scale:.2f} {unit}"
    return f"{bits_per_second:.0f} bit/s"


def rate_label(bits_per_second: int) -> str:
    """tc spelling of a rate, e.g. ``100mbit``."""
    for unit, scale in (("gbit", 10**9), ("mbit", 10**6), ("kbit", 10**3)):
        if bits_per_second % scale == 0:
            return f"{bits_per_second // scale}{unit}"
    return f"{bits_per_second}bit"


def check_mtu(mtu) -> int:
    try:
        value = int(mtu)
    except (TypeError, ValueError):
        raise HarnessError(f"bad MTU {mtu!r}: expected a whole number of bytes") from None
    if not MTU_MIN <= value <= MTU_MAX:
        raise HarnessError(f"bad MTU {mtu!r}: must be between {MTU_MIN} and {MTU_MAX}")
    return value


def check_address(address: str) -> str:
    """Refuse any address outside 198.18.0.0/15 and 2001:db8::/32."""
    try:
        addr = ipaddress.ip_interface(address).ip
    except ValueError:
        raise HarnessError(f"bad address {address!r}") from None
    if not any(addr in net for net in ALLOWED_NETWORKS):
        raise HarnessError(
            f"address {address} is outside the allowed ranges 198.18.0.0/15 and 2001:db8::/32"
        )
    return address
