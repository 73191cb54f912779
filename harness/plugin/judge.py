"""The one way a lab turns a shaping verdict into a test outcome: ``judge(run.recorded(...))``.

Above the rate by more than the bound fails whatever the overlimits say; a figure below the
bound from a shaper that never throttled is skipped as sender-limited (this machine's CPU set
the rate; the record says so); anything else below the bound fails."""

from __future__ import annotations

import pytest

from ..measure.shaping import PASS, SENDER_LIMITED


def judge(*verdicts) -> None:
    """Fail on any failed verdict (all of them named), else skip a sender-limited one."""
    failed = [v.reason for v in verdicts if v.outcome not in (PASS, SENDER_LIMITED)]
    assert not failed, "; ".join(failed)
    limited = [v.reason for v in verdicts if v.outcome == SENDER_LIMITED]
    if limited:
        pytest.skip("; ".join(limited))
