"""Verdicts: what each phase's outcome means, and the run's verdict at the end.

- A test is skipped only when the capability check raised :class:`KernelLacks` (the kernel
  lacks a feature; the reason names the CONFIG option) or the test itself called pytest.skip
  with its reason (a rate the machine cannot carry, a sender-limited shaping figure).  Any
  other error, a HarnessError included, fails the test with its cause in one line.
- A kernel splat fails the phase it happened in (harness.plugin.health).
- Under ``--retries`` a test that failed and then passed is *flaky*: listed at the end, and
  every attempt keeps its record.
- With ``--baseline NAME`` the run is compared with that baseline at the end; a regression,
  or a baseline measurement this run lacks, failed or skipped, fails the run.
"""

from __future__ import annotations

import json
import os

import pytest

from ..core.errors import HarnessError
from ..kernel.capabilities import KernelLacks
from ..kernel.kmsg import KernelSplat
from ..results import baseline, pending, summary
from ..results.records import INTERVALS_FILE, LACKS_FILE, load_records
from .options import IN_GUEST
from .session import started
from .recording import attempt_of, note_phase, write_records

_FLAKY: list[str] = []
_LACKS: list[dict] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    exc = call.excinfo.value if call.excinfo else None
    if isinstance(exc, KernelLacks):
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {exc}")
        where = str(item.path) + item.nodeid[item.nodeid.find("::"):]  # runnable from anywhere
        _LACKS.append({"nodeid": item.nodeid, "test": where, "config": exc.config,
                       "feature": exc.feature})
    elif isinstance(exc, KernelSplat):
        report.longrepr = f"kernel-lab: {exc}\n\n{exc.details()}"
    elif isinstance(exc, HarnessError):
        report.longrepr = f"kernel-lab: {exc}"
    note_phase(item, report)
    if report.when == "call" and report.passed and attempt_of(item) > 1:
        _FLAKY.append(f"{item.nodeid} (passed on attempt {attempt_of(item)})")
    if report.when == "teardown":
        try:
            write_records(item)
        except HarnessError as problem:  # a record that breaks the schema fails the test
            report.outcome = "failed"
            report.longrepr = f"kernel-lab: {problem}"
    return report


def pytest_sessionfinish(session, exitstatus):
    st = started(session.config)
    if st is None:
        return
    if st.run is not None:
        for table in summary.filled():
            table.write(st.run.results_dir)
        with open(os.path.join(st.run.results_dir, LACKS_FILE), "w") as f:
            json.dump(_LACKS, f, indent=1)
    if st.recorder is not None and session.config.getoption("repeat", 1) > 1:
        write_intervals(st.recorder.run_dir)
    name = session.config.getoption("baseline")
    if not name or st.recorder is None:
        return
    try:
        changes = baseline.compare(load_records(st.recorder.run_dir, validate=not IN_GUEST)[0],
                                   baseline.load(st.results_root, name),
                                   allow_missing=session.config.getoption("baseline_allow_missing"))
    except HarnessError as exc:
        st.baseline_text = f"kernel-lab: {exc}"
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
        pending.settle(st.recorder.run_dir, {})  # nothing compared: nothing regressed
        return
    bad = baseline.regressions(changes)
    pending.settle(st.recorder.run_dir, {c.measurement: baseline.describe(c) for c in bad})
    st.baseline_text = baseline.render(changes) + (
        f"\n{len(bad)} regression(s) against baseline {name}" if bad
        else f"\nno regression against baseline {name}")
    if bad and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def write_intervals(run_dir: str) -> None:
    """``--repeat N``: each measured figure as mean +- 95 % CI over its N records, beside them
    (``intervals.json``: {"lab::name": {metric: {n, mean, ci95_half_width, stdev}}}, signed
    as measured; baselines keep the judged form, e.g. |error|)."""
    # a guest has no jsonschema (its records are checked by the host when it returns): read
    # them unchecked there, or --repeat N in a guest ends its session with an import error
    spans = baseline.intervals(load_records(run_dir, validate=not IN_GUEST)[0], transformed=False)
    if spans:
        with open(os.path.join(run_dir, INTERVALS_FILE), "w") as f:
            json.dump(spans, f, indent=1, sort_keys=True)


def flaky() -> list[str]:
    return list(_FLAKY)
