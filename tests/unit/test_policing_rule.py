"""A policed run: its goodput is what arrived, and a token bucket bounds what it carries."""

import pytest

from harness.measure.counters import CounterWindow
from harness.measure.policing import PolicedRun


def _line(bps, seconds=3.0, start=10**8):
    samples = [(i * 0.05, int(start + i * 0.05 * bps / 8)) for i in range(int(seconds / 0.05) + 1)]
    return CounterWindow(samples[0][1], samples[-1][1], seconds, 2.0, samples)


class Traffic:
    retransmits = 0


def test_a_token_bucket_bounds_a_window_by_rate_times_t_plus_its_burst():
    """2 MiB over 3 s at 100 Mbit/s: +5.6 % on top of the rate (Debian 7.2, 8 flows: the
    large bucket's policer read 101.8 % by the in-order count)."""
    rate, expected = 10**8, 1e8 * 1448 / 1514
    run = PolicedRun(Traffic(), _line(expected), _line(0), rate, 1 << 21, expected, None)
    assert run.most_share(0.01) == pytest.approx(1.01 + (1 << 21) * 8 / (rate * 3.0))
    small = PolicedRun(Traffic(), _line(expected), _line(0), rate, 65536 + 1514, expected, None)
    assert small.most_share(0.01) < 1.012  # a small bucket: barely above the tolerance


def test_policed_goodput_is_what_arrived_not_what_the_in_order_count_released():
    rate, expected = 10**8, 1e8 * 1448 / 1514
    released = _line(expected * 1.07)  # the in-order count catching up after holes
    arrived = _line(expected * 0.9)
    run = PolicedRun(Traffic(), released, _line(0), rate, 1 << 16, expected, None, arrived)
    assert run.goodput_share == pytest.approx(0.9, rel=1e-3)
    assert run.derived()["in_order_goodput_bps"] == pytest.approx(expected * 1.07, rel=1e-3)
    # a kernel without the senders' view: the in-order count, as before
    alone = PolicedRun(Traffic(), released, _line(0), rate, 1 << 16, expected, None)
    assert alone.goodput_share == pytest.approx(1.07, rel=1e-3)
