"""The recipe a record keeps (``state.recipe``: the ip/tc commands equal to what the lab built
over netlink) is the lab: replayed with iproute2 in fresh namespaces, the kernel then reports
the same links, addresses, MTUs, qdiscs, classes (rate, ceil, buffers, quantum), filters (keys,
classid) and actions as the lab's own build at the end of its test (``state.topology``, the
snapshot code's reading).  Every lab that builds over netlink and runs on this kernel is
replayed, one test per test function (the one whose topology the record keeps); OVS (built
with ovs-vsctl against a private daemon) is not netlink and is left out."""

import json
import os
import sys

from harness.core.procs import run_unwinding
from harness.net.recipe import comparable, replay
from harness.net.recipe_replay import rebuilt, replayable
from harness.results.records import load_records

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LABS = ["labs/_example", "labs/ingress_ifb", "labs/gre_mtu", "labs/netlink_kinds",
        "labs/rate_limiters"]


def test_every_recorded_recipe_rebuilds_the_same_lab(tmp_path, run):
    r = run_unwinding([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *LABS,
                       "--rates", "100mbit", "--replay-recipes", "--results", str(tmp_path),
                       "--run-id", "labs"],
                      cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:]
    records, problems = load_records(str(tmp_path / "labs"))
    assert not problems
    built = [rec for rec in records if replayable(rec)]
    # --replay-recipes did the same at the end of the session, one test per test function
    replays = json.loads((tmp_path / "labs" / "replay.json").read_text())
    assert {row["test_id"].split("[")[0] for row in replays} == \
        {rec["test_id"].split("[")[0] for rec in built}
    assert all(row["equal"] for row in replays), [row for row in replays if not row["equal"]]
    labs = {rec["lab"] for rec in built}
    assert {"_example", "ingress_ifb", "gre_mtu", "netlink_kinds", "rate_limiters"} <= labs, labs
    assert len(built) >= 8
    for rec in built:
        again = rebuilt(rec["state"]["recipe"], rec["state"]["topology"]["prefix"], run)
        assert again == comparable(rec["state"]["topology"]), rec["test_id"]
    # the comparison sees a parameter: one HTB class's burst changed is a different lab
    htb = next(rec for rec in built if any(" htb rate " in line for line in rec["state"]["recipe"]))
    changed = [line.replace(" burst ", " burst 1", 1) if " htb rate " in line else line
               for line in htb["state"]["recipe"]]
    assert rebuilt(changed, htb["state"]["topology"]["prefix"], run) != \
        comparable(htb["state"]["topology"])


def test_a_recipe_that_leaves_the_run_is_refused(run):
    from harness.core.errors import HarnessError

    for line in ("ip link add x type dummy",  # the root namespace
                 "ip -n otherns link add x type dummy",  # not the run's
                 "ip netns exec klzzzz-a sh -c true",  # not a tool a recipe uses
                 "rm -rf /"):
        try:
            replay([line], "klzzzz-", run)
        except HarnessError as exc:
            assert "not replayable" in str(exc)
        else:
            raise AssertionError(f"replayed: {line}")
