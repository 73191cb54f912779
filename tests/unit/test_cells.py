"""The kernel x lab cells: shards that cover every cell once, longest first, load marked."""

import json
import random

import pytest
from harness.core.errors import HarnessError
from harness.orchestrate import cells as cellmod
from harness.orchestrate.cells import (CellSpec, KernelResult, cells_of, conditions, longest_first,
                                      summary_table,
                                       parse_shard, previous_durations, shard)

KERNELS = ["running", "debian:bookworm", "debian:trixie", "debian:sid", "/boot/vmlinuz-x"]
LABS = ["ingress_ifb", "gre_mtu", "ovs_gre", "netlink_kinds", "_example"]


@pytest.mark.parametrize("n", range(1, 9))
def test_n_shards_cover_every_cell_exactly_once(n):
    cells = cells_of(KERNELS, LABS)
    shards = [shard(cells, i, n) for i in range(1, n + 1)]
    ran = [c for s in shards for c in s]
    assert sorted(ran, key=lambda c: c.id) == sorted(cells, key=lambda c: c.id)
    assert len(set(ran)) == len(ran)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_a_shard_is_the_same_on_every_machine_whatever_the_order_given():
    cells = cells_of(KERNELS, LABS)
    shuffled = cells[:]
    random.Random(7).shuffle(shuffled)
    assert shard(cells, 2, 3) == shard(shuffled, 2, 3)


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "a/b", "", "1", "1/2/3", "-1/2"])
def test_a_shard_that_is_not_I_of_N_is_refused(text):
    with pytest.raises(HarnessError, match="--shard takes I/N"):
        parse_shard(text)


def test_parse_shard():
    assert parse_shard("2/4") == (2, 4) and parse_shard(" 1 / 1 ") == (1, 1)


def test_longest_first_and_unknown_cells_before_known_ones():
    a, b, c = CellSpec("running", "a"), CellSpec("running", "b"), CellSpec("debian:sid", "c")
    assert longest_first([a, b, c], {a.id: 10.0, b.id: 300.0}) == [c, b, a]


def test_previous_durations_come_from_the_newest_run_that_had_the_cell(tmp_path):
    import os
    import time

    for run, seconds in (("old", 100.0), ("new", 7.0)):
        folder = tmp_path / run / "ingress_ifb" / "6.1.0"
        folder.mkdir(parents=True)
        (folder / "cell.json").write_text(json.dumps({"cell": "ingress_ifb@x", "seconds": seconds}))
        stamp = time.time() - (1000 if run == "old" else 0)
        os.utime(tmp_path / run, (stamp, stamp))
    assert previous_durations(str(tmp_path)) == {"ingress_ifb@x": 7.0}


def test_oversubscribed_when_the_cells_want_more_cpus_than_the_host_has(monkeypatch):
    monkeypatch.setattr(cellmod.os, "cpu_count", lambda: 4)
    assert conditions(1)["oversubscribed"] is False
    assert conditions(2)["oversubscribed"] is False  # 2 cells x 2 CPUs on 4
    assert conditions(3) == {"jobs": 3, "host_cpus": 4, "cpus_per_job": cellmod.CPUS_PER_CELL,
                             "oversubscribed": True}


def test_a_kernel_that_stopped_every_lab_says_so_once():
    k = KernelResult("debian:potato", errors=["a: unknown suite", "b: unknown suite",
                                              "c: boot timed out"])
    assert k.error == "unknown suite (a, b); boot timed out (c)"
    assert k.verdict == "INFRA"


def test_a_cell_that_exited_non_zero_fails_its_kernel_even_with_every_test_passed():
    k = KernelResult("running", per_lab={"a": {"passed": 3, "failed": 0, "skipped": 0}}, rcs=[0, 1])
    assert k.verdict == "FAIL"
    k.rcs = [0, 0]
    assert k.verdict == "PASS"


class FakeWorker:
    """What xdist's scheduler sees of a worker: the item indices it was sent, in order."""

    def __init__(self, name):
        self.gateway = type("G", (), {"id": name})()
        self.sent, self.shutting_down = [], False

    def send_runtest_some(self, indices):
        self.sent += indices

    def shutdown(self):
        self.shutting_down = True


class FakeConfig:
    def __init__(self, workers):
        self.workers = workers

    def getvalue(self, name):
        return {"tx": [f"{self.workers}*popen"]}[name]

    def getoption(self, name):
        return {"maxschedchunk": None}[name]


def first_cells(order: list[CellSpec], workers: int) -> list[CellSpec]:
    """The cell each worker starts with, by pytest-xdist's own load scheduler."""
    from xdist.scheduler.load import LoadScheduling

    sched = LoadScheduling(FakeConfig(workers))
    nodes = [FakeWorker(f"gw{i}") for i in range(workers)]
    for node in nodes:
        sched.add_node(node)
    for node in nodes:
        sched.add_node_collection(node, [c.id for c in order])
    sched.schedule()
    return [order[node.sent[0]] for node in nodes]


@pytest.mark.parametrize("n, workers", [(4, 2), (5, 2), (16, 2), (40, 2), (9, 3), (3, 2)])
def test_each_worker_starts_on_one_of_the_longest_cells(n, workers):
    cells = [CellSpec("k", f"lab{i:02d}") for i in range(n)]
    durations = {c.id: float(100 - i) for i, c in enumerate(cells)}  # lab00 the longest
    order = longest_first(cells, durations)
    started = first_cells(cellmod.dealt(order, workers), workers)
    assert started == order[:workers]
    if n >= 2 * workers:  # plain longest-first order would not have done it
        assert first_cells(order, workers) != order[:workers]


def test_a_kernel_where_nothing_ran_or_everything_skipped_verified_nothing():
    """Old code: 0 passed, 0 failed, 0 skipped read as PASS (seen through merge), and so did a
    kernel whose every test skipped."""
    none = KernelResult("running", per_lab={"a": {"passed": 0, "failed": 0, "skipped": 0}},
                        rcs=[0])
    assert none.verdict == "NOTHING RAN" and none.failed_night
    skipped = KernelResult("running", per_lab={"a": {"passed": 0, "failed": 0, "skipped": 4}},
                           rcs=[0])
    assert skipped.verdict == "ALL SKIPPED" and skipped.failed_night
    skipped.skip_expected = True  # kernel-lab nightly --expect-skip running
    assert skipped.verdict == "ALL SKIPPED (expected)" and not skipped.failed_night
    some = KernelResult("running", per_lab={"a": {"passed": 1, "failed": 0, "skipped": 4}},
                        rcs=[0])
    assert some.verdict == "PASS"


def test_a_test_that_passed_on_retry_makes_its_kernel_flaky_with_the_failed_attempt():
    """Old code: a failed attempt that passed on retry read as PASS."""
    def rec(attempt, verdict, reason=""):
        return {"lab": "a", "name": "htb 10mbit", "test_id": "labs/a/test_a.py::t",
                "measurement": 0, "attempt": attempt, "verdict": verdict, "reason": reason,
                "derived": {"counter_error": 0.001}}

    k = KernelResult("running", per_lab={"a": {"passed": 1, "failed": 0, "skipped": 0}},
                     rcs=[0], records=[rec(1, "failed", "counter +7.0 % above the rate"),
                                       rec(2, "flaky")])
    assert k.verdict == "FLAKY" and not k.failed_night
    assert k.flaky == ["a::htb 10mbit: labs/a/test_a.py::t attempt 1 failed: "
                       "counter +7.0 % above the rate"]
    text = summary_table([k])
    assert "FLAKY" in text and "attempt 1 failed: counter +7.0 %" in text


def test_a_cell_run_with_repeat_names_the_tests_as_pytest_repeat_does():
    """Found by the first real bisect (figure mode): a cell given --repeat 3 passed the
    planning session's node ids, which pytest-repeat renames, and its session found none."""
    from harness.orchestrate.cells import repeated

    ids = ["labs/x/test_x.py::test_a[100mbit-iperf3-htb]", "labs/x/test_x.py::test_b"]
    assert repeated(ids, 2) == ["labs/x/test_x.py::test_a[100mbit-iperf3-htb-1-2]",
                                "labs/x/test_x.py::test_a[100mbit-iperf3-htb-2-2]",
                                "labs/x/test_x.py::test_b[1-2]", "labs/x/test_x.py::test_b[2-2]"]
    assert repeated(ids, 1) == ids
