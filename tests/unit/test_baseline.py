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
