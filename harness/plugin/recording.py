"""The ``record`` fixture, and writing one record per measurement and attempt.

A lab calls ``record(...)`` *before* it asserts or skips: the plugin writes the records after
the test's teardown, with the verdict the test got, its reason, the attempt (1, or more under
``--retries``: every attempt keeps its own file), the kernel's splats, and any injected fault.
A test that recorded nothing but hit a kernel splat gets a ``kernel health`` record, so the
splat reaches the report; a test that asks for ``record`` and failed before its first call gets
one named "<test> (failed before its first record)", so its failure, evidence and topology
reach the report's failure view too.
"""

from __future__ import annotations

import datetime as _dt

import pytest

from ..core import faults
from ..core.errors import HarnessError
from ..core.figures import check_derived
from .evidence import evidence_of, lab_state_of
from .health import SPLATS, lost_of, splats_of
from .options import lab_of  # noqa: F401 - lab_of: cells and kconfig import it here
from .session import started

RECORDS = pytest.StashKey[list]()
TOPOLOGY = pytest.StashKey[dict]()
RECIPE = pytest.StashKey[list]()
NICS = pytest.StashKey[list]()
STARTED = pytest.StashKey[str]()
OUTCOME = pytest.StashKey[str]()
REASON = pytest.StashKey[str]()


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


@pytest.fixture
def record(request, run):
    """Name: record. Scope: function. Depends: run (whose recorder writes the records). Adds
    one measurement record; call it before asserting or skipping (the verdict is filled in
    after the test).

        record("htb 100mbit", params={...}, samples={...}, derived={...}, tolerance=0.05)
    """
    entries = request.node.stash[RECORDS]

    def add(name="", params=None, samples=None, derived=None, tolerance=None, state=None):
        """``samples`` may hold what the harness measured as it is (a TrafficResult, a counter
        window, a TCP transfer: anything with ``as_record()``); it is kept as data."""
        samples = as_data(samples or {})
        problems = check_derived(derived or {})
        if problems:  # a misspelled figure fails the test here, not a slide later
            raise HarnessError(f"record {name!r}: " + "; ".join(problems))
        entries.append({"name": name, "params": params or {}, "samples": samples or {},
                        "derived": derived or {}, "tolerance": tolerance, "state": state or {}})

    return add


def as_data(value):
    """``value`` with every object that has ``as_record()`` replaced by that record."""
    if hasattr(value, "as_record"):
        return value.as_record()
    if isinstance(value, dict):
        return {k: as_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_data(v) for v in value]
    return value


def attempt_of(item) -> int:
    """1 for the first run of a test, 2 for its first retry (pytest-rerunfailures counts)."""
    return max(int(getattr(item, "execution_count", 1) or 1), 1)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Each attempt starts with no records, no splats, verdict passed."""
    item.stash[RECORDS] = []
    item.stash[SPLATS] = []
    item.stash[STARTED] = now()
    item.stash[OUTCOME] = "passed"
    item.stash[REASON] = ""


def note_phase(item, report) -> None:
    """Fold one phase's report into the attempt's verdict and reason."""
    if report.failed:
        if item.stash.get(OUTCOME, "passed") != "failed":
            item.stash[REASON] = _first_line(report)
        item.stash[OUTCOME] = "failed"
    elif report.skipped and item.stash.get(OUTCOME, "passed") == "passed":
        item.stash[OUTCOME] = "skipped"
        item.stash[REASON] = _first_line(report)


def _first_line(report) -> str:
    lr = report.longrepr
    if isinstance(lr, tuple) and len(lr) == 3:  # a skip: (path, line, "Skipped: reason")
        text = str(lr[2]).removeprefix("Skipped: ")
    else:
        crash = getattr(lr, "reprcrash", None)
        text = crash.message if crash is not None else str(lr or "")
    return text.strip().splitlines()[0][:500] if text.strip() else ""


def verdict_of(item) -> str:
    verdict = item.stash.get(OUTCOME, "passed")
    if verdict == "passed" and attempt_of(item) > 1:
        return "flaky"
    return verdict


def write_records(item) -> list[str]:
    """Write the attempt's records (after its teardown)."""
    st = started(item.config)
    rec = st.recorder if st is not None else None
    entries = list(item.stash.get(RECORDS, []))
    found = splats_of(item)
    lost = lost_of(item)
    failed_bare = verdict_of(item) == "failed" and "record" in getattr(item, "fixturenames", ())
    if rec is None or not (entries or found or lost or failed_bare):
        return []
    if not entries:  # a lab test that failed before it recorded is still seen; else a splat
        entries = [{"name": f"{item.name} (failed before its first record)" if failed_bare
                    else "kernel health"}]
    if NICS in item.stash:  # real NICs carried the test: every record says which
        entries = [dict(e, state={**e.get("state", {}), "nics": item.stash[NICS]})
                   for e in entries]
    lab_state = lab_state_of(item)
    if lab_state:  # MTU, offloads, TCP sysctls, qdisc statistics: the state behind each figure
        entries = [dict(e, state={**e.get("state", {}), "lab": lab_state}) for e in entries]
    if item.stash.get(RECIPE, None):  # what the test built, as the ip/tc commands equal to it
        entries[0] = dict(entries[0], state={**entries[0].get("state", {}),
                                             "recipe": item.stash[RECIPE]})
    if TOPOLOGY in item.stash:  # what the test built, read back over netlink (first record)
        entries[0] = dict(entries[0], state={**entries[0].get("state", {}),
                                             "topology": item.stash[TOPOLOGY]})
    paths = []
    for i, entry in enumerate(entries):
        paths.append(rec.write(lab_of(item), item.nodeid, i, entry, verdict_of(item),
                               item.stash.get(STARTED, ""), now(), attempt=attempt_of(item),
                               reason=item.stash.get(REASON, ""),
                               kernel_log={"splats": found, "lost_records": lost},
                               faults=faults.injected(),
                               evidence=evidence_of(item) if i == 0 else None))
    return paths
