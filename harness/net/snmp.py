"""The SNMP and netstat counters of ``/proc/net`` (what ``nstat`` shows), parsed."""

from __future__ import annotations


def parse_snmp(text: str, sep: str = ".") -> dict[str, int]:
    """``/proc/net/snmp`` and ``netstat`` (header line, value line per MIB) and ``snmp6``
    (name value lines) as {"Tcp.RetransSegs": n, "Ip6InReceives": n, ...} (``sep`` joins
    the MIB and the counter: "" gives nstat's ``TcpRetransSegs``)."""
    out: dict[str, int] = {}
    lines = text.splitlines()
    if lines and ":" not in lines[0].split()[0]:  # snmp6: one "name value" per line
        for line in lines:
            parts = line.split()
            if len(parts) == 2 and parts[1].lstrip("-").isdigit():
                out[parts[0]] = int(parts[1])
        return out
    for head, values in zip(lines[::2], lines[1::2]):
        names, nums = head.split(), values.split()
        if not names or names[0] != nums[0]:
            continue
        mib = names[0].rstrip(":")
        for n, v in zip(names[1:], nums[1:]):
            if v.lstrip("-").isdigit():
                out[f"{mib}{sep}{n}"] = int(v)
    return out
