"""A record's recipe replayed where the lab ran, and compared with what the lab built.

``state.recipe`` (the ip/tc commands equal to what the lab built over netlink) is replayed with
iproute2 in fresh namespaces of the run, the kernel's state read back (``harness.net.snapshot``)
and compared with the lab's own build at the end of its test (``state.topology``), with what
differs between two builds of the same lab taken out (``recipe.comparable``).  OVS is built
with ovs-vsctl against a private daemon, not netlink: its records are left out.

    rebuilt(rec["state"]["recipe"], rec["state"]["topology"]["prefix"], run)  # comparable
    replay_records(records, run)  # one per test function: [{"test_id", "equal", ...}]
"""

from __future__ import annotations

import json

from ..core import netns
from ..core.errors import HarnessError
from .recipe import comparable, replay
from .snapshot import snapshot

REPLAY_FILE = "replay.json"  # a run's replays (``pytest --replay-recipes``)


def rebuilt(recipe: list[str], old_prefix: str, run) -> dict:
    """The recipe replayed in fresh namespaces of ``run``, read back (comparable), and removed
    again."""
    before = set(run.namespaces)
    try:
        ran = replay(recipe, old_prefix, run)
        if not ran or any(old_prefix in line for line in ran):
            raise HarnessError("the recipe ran nothing, or left a name of the lab's own run")
        mine = [n for n in run.namespaces if n not in before]
        again = snapshot(run)
        again["namespaces"] = [ns for ns in again["namespaces"] if ns["name"] in mine]
        return comparable(again)
    finally:
        for name in [n for n in run.namespaces if n not in before]:
            netns.remove(name)
            run.forget_namespace(name)


def replayable(rec: dict) -> bool:
    topo = rec.get("state", {}).get("topology")
    return bool(rec.get("state", {}).get("recipe") and topo
                and not any("ovs" in ns for ns in topo["namespaces"]))


def differences(a: dict, b: dict, limit: int = 5) -> list[str]:
    """Where two comparable snapshots differ, as a few ``namespace: part`` lines."""
    out = []
    left = {ns["name"]: ns for ns in a["namespaces"]}
    right = {ns["name"]: ns for ns in b["namespaces"]}
    for name in sorted(set(left) | set(right)):
        if name not in left or name not in right:
            out.append(f"{name}: only in {'the replay' if name in left else 'the lab'}")
            continue
        for part in ("links", "qdiscs", "classes", "filters"):
            if left[name][part] != right[name][part]:
                out.append(f"{name}: {part}" + _entries(left[name][part], right[name][part]))
    return out[:limit]


def _entries(replayed: list, built: list, width: int = 400) -> str:
    """What only one side has, each entry as JSON (cut at ``width``): what to look at."""
    mine = [json.dumps(e, sort_keys=True) for e in replayed]
    theirs = [json.dumps(e, sort_keys=True) for e in built]
    only = [(side, e) for side, rows, other in (("replay only", mine, theirs),
                                                 ("lab only", theirs, mine))
            for e in rows if e not in other]
    return "".join(f"; {side}: {e[:width]}" for side, e in only[:4])


def replay_records(records: list[dict], run) -> list[dict]:
    """Each test function's first replayable record (its attempt that passed, if one did),
    replayed and compared: ``equal``, or ``differences``, or the ``error`` that stopped it."""
    chosen: dict[str, dict] = {}
    for rec in sorted(records, key=lambda r: (r.get("verdict") != "passed", r["test_id"])):
        function = rec["test_id"].split("[")[0]
        if replayable(rec) and function not in chosen:
            chosen[function] = rec
    out = []
    for function, rec in sorted(chosen.items()):
        state = rec["state"]
        row = {"test_id": rec["test_id"], "lab": rec["lab"], "lines": len(state["recipe"])}
        try:
            again = rebuilt(state["recipe"], state["topology"]["prefix"], run)
        except HarnessError as exc:
            row.update(equal=False, error=str(exc)[:300])
        else:
            lab = comparable(state["topology"])
            row.update(equal=again == lab, differences=differences(again, lab))
        out.append(row)
    return out
