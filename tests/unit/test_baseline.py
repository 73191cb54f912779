"""Baselines: per-metric directions, and a measurement that went away is a regression."""

import copy

import pytest

from harness.results import baseline


def rec(name, verdict="passed", **derived):
    return {"lab": "demo", "name": name, "test_id": f"labs/demo/test_demo.py::test[{name}]",
            "verdict": verdict, "attempt": 1, "derived": derived}


RECORDS = [rec("htb 100mbit", goodput_bps=95.6e6, goodput_error=0.002, counter_error=-0.001),
           rec("gre 1500", fragments_per_datagram=2.0, datagram_loss=0.0),
           rec("vxlan 1500 loss", tunnel_loss=0.19)]


@pytest.fixture
def base(tmp_path):
    baseline.save(RECORDS, str(tmp_path), "nightly", source="test")
    return baseline.load(str(tmp_path), "nightly")


def verdicts(changes):
    return {(c.measurement.split("::")[1], c.metric.key if c.metric else None): c.verdict
            for c in changes}


def test_the_same_figures_are_ok(base):
    assert all(c.verdict == "ok" for c in baseline.compare(RECORDS, base))


def test_a_missing_failed_or_skipped_measurement_is_a_regression(base):
    """Old code compared only what both runs had: a test that stopped producing its figure
    (removed, failing, skipped) read as "no regression"."""
    now = [RECORDS[0], rec("gre 1500", verdict="failed", fragments_per_datagram=2.0)]
    got = verdicts(baseline.compare(now, base))
    assert got[("gre 1500", None)] == "REGRESSION (failed)"
    assert got[("vxlan 1500 loss", None)] == "REGRESSION (missing)"
    assert len(baseline.regressions(baseline.compare(now, base))) == 2
    skipped = [RECORDS[0], RECORDS[1], rec("vxlan 1500 loss", verdict="skipped")]
    assert verdicts(baseline.compare(skipped, base))[("vxlan 1500 loss", None)] == \
        "REGRESSION (skipped)"


def test_the_user_may_say_missing_is_not_a_regression(base):
    changes = baseline.compare(RECORDS[:1], base, allow_missing=True)
    assert not baseline.regressions(changes)
    assert {c.verdict for c in changes if c.metric is None} == {"missing"}
    assert "missing" in baseline.render(changes)


def test_directions_higher_lower_and_two_sided(base):
    now = copy.deepcopy(RECORDS)
    now[0]["derived"]["goodput_bps"] *= 1.2  # higher is better: improved
    now[2]["derived"]["tunnel_loss"] = 0.25  # lower is better: +6 points is a regression
    now[1]["derived"]["fragments_per_datagram"] = 1.0  # two-sided: either way is a regression
    got = verdicts(baseline.compare(now, base))
    assert got[("htb 100mbit", "goodput_bps")] == "improved"
    assert got[("vxlan 1500 loss", "tunnel_loss")] == "REGRESSION"
    assert got[("gre 1500", "fragments_per_datagram")] == "REGRESSION"
    now[1]["derived"]["fragments_per_datagram"] = 3.0
    assert verdicts(baseline.compare(now, base))[("gre 1500", "fragments_per_datagram")] == "REGRESSION"
    now[0]["derived"]["goodput_bps"] = 95.6e6 * 0.8
    assert verdicts(baseline.compare(now, base))[("htb 100mbit", "goodput_bps")] == "REGRESSION"


def test_a_failed_attempt_followed_by_a_pass_still_counts(base):
    """Under --retries the failed attempt keeps its record; the passed one carries the figure."""
    now = copy.deepcopy(RECORDS) + [dict(rec("htb 100mbit", verdict="failed", goodput_bps=1.0),
                                         attempt=1)]
    now[0]["verdict"], now[0]["attempt"] = "flaky", 2
    got = verdicts(baseline.compare(now, base))
    assert got[("htb 100mbit", "goodput_bps")] == "ok"


def repeated(name, values, key="goodput_error"):
    return [rec(name, **{key: v}) for v in values]


def test_noise_under_repeats_is_not_a_regression_and_a_real_two_percent_drop_is(tmp_path):
    """Issue #19: with --repeat, a change beyond the threshold is a regression only when the
    95 % intervals separate.  Goodput error in points of the expected rate."""
    base_recs = repeated("htb 10mbit", [0.0005, -0.0008, 0.0002, 0.0011, -0.0003])
    baseline.save(base_recs, str(tmp_path), "rep", source="test")
    base = baseline.load(str(tmp_path), "rep")
    assert base["intervals"]["demo::htb 10mbit"]["goodput_error"]["n"] == 5
    # noisy repeats whose mean |error| moved 1.2 points, but whose interval still reaches
    # the baseline's: not a regression
    noisy = repeated("htb 10mbit", [0.0, 0.04, -0.001, 0.02, 0.0])
    (c,) = baseline.compare(noisy, base)
    assert abs(c.now - c.baseline) > c.metric.threshold and c.within_noise
    assert c.verdict == "ok (within noise)" and not baseline.regressions([c])
    # a real 2 % drop: every repeat 2 points low, a tight interval far from the baseline's
    drop = repeated("htb 10mbit", [-0.0195, -0.0203, -0.0199, -0.0207, -0.0201])
    (c,) = baseline.compare(drop, base)
    assert c.verdict == "REGRESSION" and not c.within_noise
    assert "±" in baseline.render([c])
    # the same 2 % drop seen once (no interval on one side): the threshold alone decides
    (c,) = baseline.compare(drop[:1], base)
    assert c.now_interval is None and c.verdict == "REGRESSION"


def test_a_baseline_without_intervals_still_compares(base):
    base.pop("intervals", None)  # saved before intervals existed
    assert all(c.verdict == "ok" for c in baseline.compare(RECORDS, base))


def test_an_error_changes_by_points_not_by_percent(base):
    now = copy.deepcopy(RECORDS)
    now[0]["derived"]["goodput_error"] = 0.0064  # 0.20 % -> 0.64 %: +0.44 points, not +220 %
    text = baseline.render(baseline.compare(now, base))
    row = next(line for line in text.splitlines() if "goodput_error" in line)
    assert "+0.44 pts" in row and "220" not in row
