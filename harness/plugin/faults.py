"""Opt-in fault injection (never loaded by a normal run):

    pytest -p harness.plugin.faults --inject-fault shaper-10pct-fast labs/ingress_ifb

Switches on one fault of ``harness.core.faults.FAULTS`` for the session (in a ``--kernel``
guest too: the arguments travel with the selection).  Every record says which fault was
injected, the terminal says it loudly, and the session can never exit 0: if no test failed,
the lab did not notice the broken kernel behaviour, and that is the failure reported.
"""

from __future__ import annotations

import pytest

from ..core import faults


def pytest_addoption(parser):
    parser.getgroup("kernel-lab").addoption(
        "--inject-fault", action="append", default=[], metavar="NAME",
        help="break one kernel-facing step on purpose: " + ", ".join(sorted(faults.FAULTS)))


def pytest_configure(config):
    for name in config.getoption("inject_fault"):
        try:
            faults.inject(name)
        except Exception as exc:  # noqa: BLE001 - an unknown name is a usage error
            raise pytest.UsageError(f"kernel-lab: {exc}") from None


def pytest_report_header(config):
    if faults.injected():
        return [f"kernel-lab: FAULT INJECTED: {', '.join(faults.injected())} (this run can never pass)"]
    return None


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if faults.injected() and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        session.config.stash[_UNNOTICED] = True


_UNNOTICED = pytest.StashKey[bool]()


def pytest_terminal_summary(terminalreporter, config):
    if not faults.injected():
        return
    terminalreporter.write_sep("=", f"kernel-lab: fault injected: {', '.join(faults.injected())}")
    if config.stash.get(_UNNOTICED, False):
        terminalreporter.write_line("no test failed: the selected tests did not notice the fault")


def pytest_unconfigure(config):
    faults.clear()
