"""The shaping verdict: a shaper that does not shape fails, it is never skipped."""

from harness.measure.shaping import FAIL, PASS, SENDER_LIMITED, judge_shaping

TOL = 0.05


def test_a_shaper_that_ignores_its_rate_fails_although_it_never_throttled():
    """Seen before: HTB let 13.54 Gbit/s through at 100 Mbit/s and the old rule ("no
    overlimits = sender-limited") reported a skip."""
    v = judge_shaping({"kernel counter": 134.4, "goodput": 140.6}, throttled=0, tolerance=TOL)
    assert v.outcome == FAIL and "does not shape" in v.reason


def test_a_shaper_10_percent_fast_fails():
    assert judge_shaping({"kernel counter": 0.10, "goodput": 0.10}, 0, TOL).outcome == FAIL
    assert judge_shaping({"kernel counter": 0.10, "goodput": 0.10}, 50, TOL).outcome == FAIL


def test_below_the_rate_without_throttling_is_sender_limited_and_says_why():
    v = judge_shaping({"kernel counter": -0.30, "goodput": -0.31}, throttled=0, tolerance=TOL)
    assert v.outcome == SENDER_LIMITED and "did not fill the shaper" in v.reason


def test_below_the_rate_while_throttling_fails():
    assert judge_shaping({"kernel counter": -0.08, "goodput": -0.02}, 12, TOL).outcome == FAIL


def test_within_the_tolerance_passes_whatever_the_overlimits():
    assert judge_shaping({"kernel counter": 0.004, "goodput": -0.01}, 30, TOL).outcome == PASS
    assert judge_shaping({"kernel counter": 0.049, "goodput": -0.049}, 0, TOL).outcome == PASS


def test_a_figure_may_carry_a_bound_of_its_own():
    """In an emulated guest the receiver's goodput gets 2 % while the shaper's counter keeps
    1 %: a goodput +1.5 % passes there, a counter +1.5 % still fails."""
    from harness.measure.shaping import judge_shaping

    wide = {"goodput": 0.02}
    assert judge_shaping({"kernel counter": 0.001, "goodput": 0.015}, 10, 0.01, wide).outcome \
        == "pass"
    assert judge_shaping({"kernel counter": 0.015, "goodput": 0.001}, 10, 0.01, wide).outcome \
        == "fail"
    assert judge_shaping({"kernel counter": 0.001, "goodput": 0.015}, 10, 0.01).outcome == "fail"
