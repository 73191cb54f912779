"""The nightly summary's error figures are the ones held to a bound: in s12's first night a
policer's goodput (-80.08 %, its finding: a policer drops, TCP falls short) was the "max"."""

from harness.orchestrate.nightly import key_figures


def rec(tolerance, **derived):
    return {"lab": "rate_limiters", "tolerance": tolerance, "derived": derived}


def test_only_judged_errors_make_the_nightly_summary():
    records = [rec(0.01, goodput_error=-0.0011, counter_error=0.0007, goodput_judged=True),
               rec(0.01, counter_error=-0.0026),
               rec(None, goodput_error=-0.8008),  # a policer: recorded, not judged
               rec(0.01, goodput_error=0.3, counter_error=0.0001, goodput_judged=False)]
    assert key_figures(records) == "median abs. error 0.09 %, max 0.26 %"


def test_a_lab_without_judged_errors_says_nothing_of_them():
    assert key_figures([rec(None, goodput_error=-0.69)]) == ""
