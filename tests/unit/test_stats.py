"""Mean and 95 % confidence interval (Student's t)."""

import math

import pytest

from harness.measure.stats import separated, summarize, t95


def test_t_quantiles_and_a_known_interval():
    assert t95(1) == 12.706 and t95(9) == 2.262 and t95(100) == 1.96
    s = summarize([1.0, 2.0, 3.0, 4.0, 5.0])  # mean 3, sd 1.5811, t(4) = 2.776
    assert s.mean == 3.0 and s.half_width == pytest.approx(2.776 * 1.5811388 / math.sqrt(5))


def test_one_sample_has_no_interval_and_garbage_is_ignored():
    s = summarize([0.5, None, "x", float("nan")])
    assert s.n == 1 and s.half_width is None and s.low == s.high == 0.5
    with pytest.raises(ValueError):
        summarize([])


def test_separated_intervals():
    a = summarize([0.0, 0.001, -0.001, 0.0005])
    b = summarize([0.02, 0.021, 0.019, 0.0205])  # a real 2 % move
    noisy = summarize([0.0, 0.02, -0.01, 0.015])  # same mean region, wide
    assert separated(a, b) and not separated(a, noisy)
