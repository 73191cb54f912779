"""The evidence of every test, read around its call: what the failure looked like.

While a lab test's call runs, every link of the run's namespaces is captured into a bounded
ring (:mod:`harness.net.rings`); the captures are kept beside the records when the call
failed (``evidence.captures``: files, tcpdump's counts, a summary) and deleted when it passed.
``--capture-rings on|off|auto``: auto (the default) captures on the host and not inside
kernel-lab's emulated guests (see :func:`rings_on`); the bench compares on and off.

Before and after a lab test's call (a test that uses the ``run`` fixture, in a session whose
run has namespaces), the counters of every namespace of the run are read
(:func:`harness.net.evidence.counters`: SNMP/netstat MIBs, link and qdisc/class statistics,
``ethtool -S``, softnet).  When the call failed, what moved is kept on the attempt's first
record (``evidence.counters``, and ``evidence.rows``: the same flattened, largest first); when
it passed nothing is kept.  After every call, each record keeps the lab's state
(``state.lab``: MTU and offloads per link, the namespaces' TCP sysctls, the qdiscs' and
classes' statistics after the test).

In a session compared with a baseline (``--baseline NAME``, or a cell of ``kernel-lab nightly
--baseline NAME``, which passes ``--evidence-until-compare``) a passed call keeps the same
evidence as a failed one, marked ``pending``: a test that passes can still regress, and that is
known only after the comparison.  :func:`harness.results.pending.settle` then keeps the evidence
of what regressed and deletes the rest.

Every kept evidence has the topology at the end of the call (``evidence.topology``: the
netlink snapshot the report draws).

A reading that fails never changes a verdict: the record says why it is missing
(``evidence.problem``).
"""

from __future__ import annotations

import pytest

import os

from ..net import evidence
from ..net.rings import Captures
from ..net.snapshot import snapshot
from ..results.pending import PENDING
from ..results.records import safe_name
from .options import IN_GUEST, lab_of
from .session import session_state

EVIDENCE = pytest.StashKey[dict]()
LAB_STATE = pytest.StashKey[dict]()
ROWS = 60  # the flattened diff's largest moves kept beside the whole


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Each attempt starts with no evidence and no state."""
    item.stash[EVIDENCE] = {}
    item.stash[LAB_STATE] = {}


def _run(item):
    if getattr(item, "is_kernel_lab_cell", False) or "run" not in getattr(item, "fixturenames", ()):
        return None
    return session_state(item.config).run


def rings_on(config) -> bool:
    """--capture-rings: on, off, or auto (on, but off inside kernel-lab's guests: under TCG
    a tcpdump per link costs the lab's own traffic CPU it has little of; measured in a Debian
    6.1 guest, gre_mtu's fragment-loss test took 78 s with rings, 33 s without)."""
    mode = config.getoption("capture_rings", "auto") or "auto"
    return mode == "on" or (mode == "auto" and not IN_GUEST)


def until_compare(config) -> bool:
    """Keep a passed call's evidence until the run meets its baseline."""
    return bool(config.getoption("baseline", None)
                or config.getoption("evidence_until_compare", False))


def _capture_folder(item) -> str | None:
    rec = session_state(item.config).recorder
    if rec is None:
        return None
    attempt = max(int(getattr(item, "execution_count", 1) or 1), 1)
    name = safe_name(item.nodeid.split("::", 1)[-1]) + (f"-a{attempt}" if attempt > 1 else "")
    return os.path.join(rec.run_dir, safe_name(lab_of(item)), "captures", name)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    run = _run(item)
    before, problem, rings = None, "", None
    if run is not None:
        try:
            before = evidence.counters(run)
        except Exception as exc:  # noqa: BLE001 - evidence only; the test runs regardless
            problem = f"counters before the call: {exc}"
        folder = _capture_folder(item)
        if folder and rings_on(item.config):
            try:
                rings = Captures(run, folder)
                rings.start()
            except Exception as exc:  # noqa: BLE001
                problem = f"{problem}; capture: {exc}".lstrip("; ")
    failed = False
    try:
        return (yield)
    except BaseException as exc:
        failed = not isinstance(exc, pytest.skip.Exception)
        raise
    finally:
        if run is not None:
            _after(item, run, before, problem, failed, rings)


def _after(item, run, before, problem: str, failed: bool, rings) -> None:
    if rings is not None:
        rings.stop()
    try:
        item.stash[LAB_STATE] = evidence.state(run)
    except Exception as exc:  # noqa: BLE001
        item.stash[LAB_STATE] = {"problem": f"could not read the lab's state: {exc}"}
    pending = not failed and until_compare(item.config)
    if not failed and not pending:
        if rings is not None:
            rings.discard()
        return
    kept: dict = {"pending": PENDING} if pending else {}
    if rings is not None:
        rec = session_state(item.config).recorder
        # a pending ring is summarized only if it is kept (harness.results.pending)
        kept["captures"] = rings.kept(rec.run_dir, summarize=not pending)
        if rings.problem:
            problem = f"{problem}; {rings.problem}".lstrip("; ")
    if before is not None:
        try:
            changes = evidence.diff(before, evidence.counters(run))
            kept.update(counters=changes, rows=[list(r) for r in evidence.rows(changes, ROWS)])
        except Exception as exc:  # noqa: BLE001
            problem = f"counters after the call: {exc}"
    try:
        kept["topology"] = snapshot(run)
    except Exception as exc:  # noqa: BLE001
        problem = f"{problem}; topology: {exc}".lstrip("; ")
    if problem:
        kept["problem"] = problem
    item.stash[EVIDENCE] = kept


def evidence_of(item) -> dict | None:
    return item.stash.get(EVIDENCE, None)


def lab_state_of(item) -> dict | None:
    return item.stash.get(LAB_STATE, None)
