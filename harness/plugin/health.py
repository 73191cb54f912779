"""Kernel health is part of every verdict.

Around each phase of each test (setup, call, teardown) the kernel log is read from where the
last phase stopped (``/dev/kmsg``, on the host and in a guest alike); a WARNING, BUG, Oops,
KASAN, UBSAN, lockdep report, RCU stall, hung task, refcount error or a netdev that will not go
away fails that phase with :class:`KernelSplat`, which pytest-rerunfailures is told never to
retry.  The splats go into the test's records (``kernel_log``) and from there into reports.  Records
the kernel overwrote before they were read (the ring buffer overran: ``EPIPE`` from /dev/kmsg)
are counted per test (``kernel_log.lost_records``): that test's health is unknown, and the
record and the report say so.
A splat that appears between tests lands on the next test's setup.
"""

from __future__ import annotations

import os

import pytest

from ..core.errors import HarnessError
from ..kernel.kmsg import KernelLog, KernelSplat, splats

LOG = pytest.StashKey[KernelLog]()
SPLATS = pytest.StashKey[list]()
LOST = pytest.StashKey[int]()  # kernel log records overwritten before the check read them
_session_log: list[KernelLog] = []


def _log() -> KernelLog | None:
    """One reader for the session, opened at the first test, so nothing between tests is
    missed.  Without root there is none (labs refuse to run without root anyway); as root a
    kernel log that cannot be read is an error, never a silent pass."""
    if not _session_log:
        try:
            _session_log.append(KernelLog())
        except OSError as exc:
            if os.geteuid() == 0:
                raise HarnessError(f"cannot read the kernel log ({exc}): kernel health "
                                   "cannot be judged") from None
            return None
    return _session_log[0]


def _check(item, phase: str, failed: BaseException | None) -> None:
    if getattr(item, "is_kernel_lab_cell", False):
        return  # a cell's own session judges the kernel it ran on
    log = _log()
    if log is None:
        return
    lost_before = log.lost
    entries = log.read()
    if log.lost > lost_before:  # the ring overran: this phase's health is unknown
        item.stash[LOST] = item.stash.get(LOST, 0) + log.lost - lost_before
    found = splats(entries)
    if not found:
        return
    records = item.stash.setdefault(SPLATS, [])
    for s in found:
        records.append(dict(s.as_record(), phase=phase))
    raise KernelSplat(found, phase) from failed


def _wrap(item, phase: str):
    try:
        result = yield
    except BaseException as exc:  # noqa: BLE001 - re-raised, or chained under the splat
        _check(item, phase, exc)
        raise
    _check(item, phase, None)
    return result


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    return (yield from _wrap(item, "setup"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item):
    return (yield from _wrap(item, "call"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    return (yield from _wrap(item, "teardown"))


class OwnSplats:
    """What a test provokes on purpose (a harness test that injects a log line, say)."""

    def consume(self) -> list:
        """The kernel log entries since the last read, taken away from the health check."""
        log = _log()
        return log.read() if log is not None else []


@pytest.fixture
def kernel_log():
    """Name: kernel_log. Scope: function. Depends: nothing. For tests that provoke a splat on
    purpose: ``kernel_log.consume()`` takes the log read so far away from the health check.

        def test_x(kernel_log): ...; assert splats(kernel_log.consume())
    """
    return OwnSplats()


def splats_of(item) -> list[dict]:
    return item.stash.get(SPLATS, [])


def lost_of(item) -> int:
    """Kernel log records this test's phases lost to a ring overrun: its health is unknown
    (a splat may be among them), and its record says so; never "clean"."""
    return item.stash.get(LOST, 0)


def pytest_unconfigure(config):
    for log in _session_log:
        log.close()
    _session_log.clear()
