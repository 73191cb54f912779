"""Fault injection: break one kernel-facing step on purpose, to prove a lab fails when the
kernel behaviour it tests is broken.

A fault is switched on only by the opt-in pytest plugin ``harness.plugin.faults``:

    pytest -p harness.plugin.faults --inject-fault shaper-10pct-fast labs/ingress_ifb

Nothing else sets it: a normal run (``make lab``, ``pytest labs/...``) never loads that plugin,
the plugin refuses an unknown name, every record of a run with a fault says which
(``fault_injected``), and such a run never exits 0 (a run in which nothing failed is reported
as "the lab did not notice").

One seam: the builders know nothing of faults.  What reaches the kernel passes through
:func:`apply` (netlink ``link`` and ``tc`` calls, in harness.net.recipe's wrapper of every
namespace's socket; ``ovs-vsctl``; the nftables loss rule), which rewrites or drops the call a
fault breaks.  With no fault it returns the call untouched after one set test.
"""

from __future__ import annotations

from .errors import HarnessError

#: every fault the harness knows: name -> the step it breaks
FAULTS = {
    "shaper-rate-ignored": "HTB/TBF are configured at 30 Gbit/s whatever rate was asked (a "
                           "shaper that does not shape)",
    "shaper-10pct-fast": "HTB/TBF are configured 10 % above the asked rate",
    "shaper-2pct-fast": "HTB/TBF are configured 2 % above the asked rate (a regression inside "
                        "the selftests' +-5 %)",
    "shaper-2pct-slow": "HTB/TBF are configured 2 % below the asked rate",
    "loss-12pct": "the random-loss impairment drops 12 % where the lab asked (and predicts) 10 %",
    "ingress-no-redirect": "the ingress u32 filter is installed without its mirred redirect",
    "loss-rule-missing": "the random-loss impairment (netem or nftables) is not installed",
    "tunnel-mtu-not-lowered": "tunnels keep MTU 1500 whatever inner MTU the test asks for",
    "ovs-gre-port-missing": "the OVS GRE port is not added to the bridge",
    "bridge-port-missing": "links are not made ports of their Linux bridge (Link.join)",
}

_active: set[str] = set()


def inject(name: str) -> None:
    """Switch fault ``name`` on (the faults plugin alone calls this)."""
    if name not in FAULTS:
        raise HarnessError(f"unknown fault {name!r}: one of {', '.join(sorted(FAULTS))}")
    _active.add(name)


def clear() -> None:
    _active.clear()


def active(name: str) -> bool:
    """Is fault ``name`` injected in this process?"""
    if name not in FAULTS:
        raise KeyError(name)
    return name in _active


def injected() -> list[str]:
    return sorted(_active)


SHAPER_FACTORS = {"shaper-10pct-fast": 1.10, "shaper-2pct-fast": 1.02, "shaper-2pct-slow": 0.98}
RATE_IGNORED_BYTES = 30 * 10**9 // 8  # far above anything a veth carries; fits tc's 32 bits
INGRESS = 0xFFFF0000
TUNNELS = ("gre", "gretap", "vxlan")


def apply(channel: str, command: str, kind: str | None, kw: dict) -> dict | None:
    """The call as the active faults break it: its keyword arguments (a copy when changed), or
    None when the call must not happen at all.  ``channel``: ``link``, ``tc``, ``vsctl`` (``kw``:
    ``{"args": [...]}``) or ``nft`` (``{"percent": p}``)."""
    if not _active:
        return kw
    kw = dict(kw)
    if channel == "tc":
        shaper = (command == "add-class" and kind == "htb") or (command == "add" and kind == "tbf")
        if shaper and "shaper-rate-ignored" in _active:
            kw.update({k: RATE_IGNORED_BYTES for k in ("rate", "ceil") if k in kw})
        for fault, factor in SHAPER_FACTORS.items():
            if shaper and fault in _active:
                kw.update({k: int(kw[k] * factor) for k in ("rate", "ceil") if k in kw})
        if command == "add-filter" and kw.get("parent") == INGRESS and \
                "ingress-no-redirect" in _active:
            kw.pop("action", None)
        if kind == "netem":
            if "loss-rule-missing" in _active:
                return None
            if "loss-12pct" in _active and "loss" in kw:
                kw["loss"] = round(kw["loss"] * 1.2, 6)
    elif channel == "link":
        if command == "add" and kind in TUNNELS and "tunnel-mtu-not-lowered" in _active:
            kw["mtu"] = max(kw.get("mtu", 1500), 1500)
        if command == "set" and "master" in kw and "bridge-port-missing" in _active:
            kw.pop("master")
            if set(kw) <= {"index"}:
                return None
    elif channel == "vsctl":
        if "ovs-gre-port-missing" in _active and "add-port" in kw["args"] and \
                "type=gre" in kw["args"]:
            return None
    elif channel == "nft":
        if "loss-rule-missing" in _active:
            return None
        if "loss-12pct" in _active:
            kw["percent"] = round(kw["percent"] * 1.2, 6)
    return kw
