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
    "shaper-rate-ignored": "every rate limiter (HTB, TBF, HFSC, CAKE, fq, netem rate, police) "
                           "is configured at 30 Gbit/s whatever rate was asked (a shaper that "
                           "does not shape)",
    "shaper-10pct-fast": "every rate limiter is configured 10 % above the asked rate",
    "shaper-2pct-fast": "every rate limiter is configured 2 % above the asked rate (a "
                        "regression inside the selftests' +-5 %)",
    "shaper-2pct-slow": "every rate limiter is configured 2 % below the asked rate",
    "policer-burst-zero": "police actions get a bucket of 0 bytes",
    "borrow-ceil-ignored": "HTB classes get their rate as their ceil (no borrowing)",
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


def _actions(kw: dict) -> list[dict]:
    acts = kw.get("action") or []
    return list(acts) if isinstance(acts, list) else [acts]


#: the keyword of each limiter's rate, and how big "ignored" is in its unit
_BITS = "bits"


def _rate_keys(command: str, kind: str | None, kw: dict) -> list[tuple]:
    """Where the call sets a limiter's rate: (container, key, unit) triples (bytes/s unless
    ``_BITS``)."""
    if command == "add-class" and kind == "htb":
        return [(kw, k, None) for k in ("rate", "ceil") if k in kw]
    if command == "add-class" and kind == "hfsc":  # curves may be one dict: each once
        curves = {id(kw[c]): kw[c] for c in ("rsc", "fsc", "usc") if c in kw}
        return [(curve, "m2", None) for curve in curves.values()]
    if command == "add" and kind in ("tbf", "netem"):
        return [(kw, "rate", None)] if "rate" in kw else []
    if command == "add" and kind == "fq":
        return [(kw, "maxrate", None)] if "maxrate" in kw else []
    if command == "add" and kind == "cake":
        return [(kw, "bandwidth", _BITS)] if isinstance(kw.get("bandwidth"), int) else []
    if command == "add-filter":
        return [(a, "rate", None) for a in _actions(kw) if a.get("kind") == "police"]
    return []


def _scale(kw: dict, where: list[tuple], change) -> None:
    """Apply ``change(value, ignored)`` to each rate, in copies of the nested dicts (the
    caller's arguments are never changed)."""
    for i, (container, key, unit) in enumerate(where):
        big = RATE_IGNORED_BYTES * 8 if unit == _BITS else RATE_IGNORED_BYTES
        if container is kw:
            kw[key] = change(kw[key], big)
            continue
        copy = dict(container, **{key: change(container[key], big)})
        for name in ("rsc", "fsc", "usc"):  # an HFSC curve
            if kw.get(name) is container:
                kw[name] = copy
        if "action" in kw:  # a police action
            kw["action"] = [copy if a is container else a for a in _actions(kw)]
        where[i] = (copy, key, unit)


def apply(channel: str, command: str, kind: str | None, kw: dict) -> dict | None:
    """The call as the active faults break it: its keyword arguments (a copy when changed), or
    None when the call must not happen at all.  ``channel``: ``link``, ``tc``, ``vsctl`` (``kw``:
    ``{"args": [...]}``) or ``nft`` (``{"percent": p}``)."""
    if not _active:
        return kw
    kw = dict(kw)
    if channel == "tc":
        rates = _rate_keys(command, kind, kw)
        if "shaper-rate-ignored" in _active:
            _scale(kw, rates, lambda v, big: big)
        for fault, factor in SHAPER_FACTORS.items():
            if fault in _active:
                _scale(kw, rates, lambda v, big, f=factor: int(v * f))
        if command == "add-class" and kind == "htb" and "borrow-ceil-ignored" in _active and \
                kw.get("ceil", 0) > kw.get("rate", 0):
            kw["ceil"] = kw["rate"]
            kw["cburst"] = kw.get("burst", kw.get("cburst"))
        if command == "add-filter" and "policer-burst-zero" in _active:
            kw["action"] = [dict(a, burst=0) if a.get("kind") == "police" else a
                            for a in _actions(kw)]
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
