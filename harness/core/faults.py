"""Fault injection: break one kernel-facing step on purpose, to prove a lab fails when the
kernel behaviour it tests is broken.

A fault is switched on only by the opt-in pytest plugin ``harness.plugin.faults``:

    pytest -p harness.plugin.faults --inject-fault shaper-10pct-fast labs/ingress_ifb

Nothing else sets it: a normal run (``make lab``, ``pytest labs/...``) never loads that plugin,
the plugin refuses an unknown name, every record of a run with a fault says which
(``fault_injected``), and such a run never exits 0 (a run in which nothing failed is reported
as "the lab did not notice").  The code at each step asks :func:`active` whether its fault is
on; with no fault that is one set lookup.
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
