"""kernel-lab history over nights written the way nightly writes them: outcomes from junit and
records, flip rates, the flaky label (never for a crash, never a verdict), trends, splats."""

import json

from harness.results.history import (CRASHED, FAILED, PASSED, RETRIED, SKIPPED, History,
                                     find_nights, outcomes)
from harness.report import history_report

TEST = "labs/demo/test_demo.py::test_rate"
OTHER = "labs/demo/test_demo.py::test_other"


def junit(cases: dict[str, str]) -> str:
    body = []
    for test, outcome in cases.items():
        path, name = test.split("::")
        classname = path[:-3].replace("/", ".")
        inner = {"failed": "<failure message='AssertionError: off by 3 %'/>",
                 "crashed": "<failure message='kernel splat during the test&apos;s call (warning)'/>",
                 "errored": "<error message='kernel-lab: only 8 readings'/>",
                 "skipped": "<skipped message='kernel lacks CONFIG_X'/>"}.get(outcome, "")
        body.append(f"<testcase classname='{classname}' name='{name}'>{inner}</testcase>")
    return f"<testsuites><testsuite>{''.join(body)}</testsuite></testsuites>"


def night(root, run, started, cases, figure=None, splat=None, retried=False):
    folder = root / run / "demo" / "6.1.0-57-amd64"
    (folder / "demo").mkdir(parents=True)
    (folder / "junit.xml").write_text(junit(cases))
    recs = []
    if figure is not None:
        recs.append({"schema": 3, "lab": "demo", "name": "tbf 20mbit", "test_id": TEST,
                     "attempt": 1, "started": started,
                     "verdict": {"passed": "passed", "skipped": "skipped"}.get(cases[TEST], "failed"),
                     "derived": {"counter_error": figure}, "kernel_log": {"splats": splat or []}})
    if retried:
        recs.append({"schema": 3, "lab": "demo", "name": "other", "test_id": OTHER,
                     "attempt": 1, "started": started, "verdict": "failed", "derived": {},
                     "kernel_log": {"splats": []}})
        recs.append({"schema": 3, "lab": "demo", "name": "other", "test_id": OTHER,
                     "attempt": 2, "started": started, "verdict": "passed", "derived": {},
                     "kernel_log": {"splats": []}})
    for i, r in enumerate(recs):
        (folder / "demo" / f"r{i}.json").write_text(json.dumps(r))
    (root / run / "nightly.json").write_text(json.dumps(
        [{"spec": "debian:bookworm", "folders": [str(folder)], "verdict": "PASS"}]))


def test_outcomes_take_junit_for_every_test_and_records_for_crashes_and_retries():
    j = {TEST: FAILED, OTHER: PASSED, "x::y": SKIPPED}
    recs = [{"test_id": TEST, "attempt": 1, "verdict": "failed",
             "kernel_log": {"splats": [{"kind": "warning"}]}},
            {"test_id": OTHER, "attempt": 1, "verdict": "failed", "kernel_log": {"splats": []}},
            {"test_id": OTHER, "attempt": 2, "verdict": "passed", "kernel_log": {"splats": []}}]
    assert outcomes(recs, j) == {TEST: CRASHED, OTHER: RETRIED, "x::y": SKIPPED}


def test_flip_rate_flaky_label_and_a_crash_never_flaky(tmp_path):
    pattern = ["passed", "failed", "passed", "passed", "errored", "passed", "skipped", "passed",
               "failed", "passed"]
    for i, p in enumerate(pattern):
        night(tmp_path, f"n{i:02d}", f"2026-11-{i + 10:02d}T02:00:00", {TEST: p, OTHER: "passed"},
              figure=0.001 * i, retried=(i == 3))
    h = History.read(str(tmp_path))
    t = h.tests[("debian:bookworm", TEST)]
    assert [o for _, o in t.nights].count(SKIPPED) == 1 and len(t.ran) == 9
    assert t.failed_nights == ["n01", "n04", "n08"] and t.flips == 6
    assert t.flaky and t.label() == "flaky: failed 3 of the last 9 nights (n01, n04, n08), flip rate 0.75"
    assert h.tests[("debian:bookworm", OTHER)].label().startswith("flaky: failed 1 of the last 10")
    trend = h.trends[("debian:bookworm", "demo::tbf 20mbit", "counter_error")]
    # a failed night's figure is in the trend (marked), a skipped night has none
    assert [p["run"] for p in trend.points] == [f"n{i:02d}" for i in range(10) if i != 6]
    assert [p["failed"] for p in trend.points][:3] == [False, True, False]
    night(tmp_path, "n10", "2026-11-30T02:00:00", {TEST: "crashed", OTHER: "passed"}, figure=0.0,
          splat=[{"kind": "warning", "first_line": "WARNING: CPU: 0 PID: 1 at x.c:1 f+0x0/0x1",
                  "fingerprint": "0123456789ab", "signature": "warning | WARNING at x.c | in f"}])
    h = History.read(str(tmp_path))  # the last 10 nights: n01..n10
    t = h.tests[("debian:bookworm", TEST)]
    assert t.crashed and not t.flaky
    assert t.label().startswith("kernel splat: failed 4 of the last 9 nights") and "never flaky" in t.label()
    assert list(h.splats) == ["0123456789ab"] and h.splats["0123456789ab"].nights == ["n10"]
    md = history_report.markdown(h)
    assert "x..x.s.x.!" in md  # n01..n10, oldest first
    assert "0123456789ab" in md


def test_a_test_that_starts_failing_is_new_not_flaky(tmp_path):
    for i, p in enumerate(["passed"] * 6 + ["failed"] * 2):
        night(tmp_path, f"n{i}", f"2026-11-0{i + 1}T02:00:00", {TEST: p})
    t = History(find_nights(str(tmp_path))).tests[("debian:bookworm", TEST)]
    assert not t.flaky and t.flips == 1
    assert t.label() == "new: failed 2 of the last 8 nights, the last 2 in a row (passed until n5)"


def test_the_report_writes_its_files(tmp_path):
    for i in range(3):
        night(tmp_path / "r", f"n{i}", f"2026-11-0{i + 1}T02:00:00", {TEST: "passed"}, figure=0.001 * i)
    out = history_report.write(History.read(str(tmp_path / "r")), str(tmp_path / "h"))
    assert json.loads(open(out["json"]).read())["trends"][0]["points"][2]["value"] == 0.002
    assert "data:image/png;base64," in open(out["html"]).read()
    assert "Every test passed every night it ran." in open(out["md"]).read()


def test_a_nightly_says_what_the_nights_before_say_of_each_red_test(tmp_path):
    from harness.orchestrate.nightly import history_lines

    for i, p in enumerate(["passed", "failed", "passed", "passed", "failed"]):
        night(tmp_path, f"n{i}", f"2026-11-0{i + 1}T02:00:00", {TEST: p, OTHER: "passed"})
    told = history_lines(str(tmp_path / "n4"), str(tmp_path))
    assert told == {"debian:bookworm": [
        f"{TEST}: flaky: failed 2 of the last 5 nights (n1, n4), flip rate 0.75"]}
    assert history_lines(str(tmp_path / "n3"), str(tmp_path)) == {}  # nothing red that night


def test_a_night_run_with_repeats_gives_its_trend_point_an_interval(tmp_path):
    # kernel-lab nightly -- --repeat 2 crashed here at its end (20261203-rl4x2-nightly)
    night(tmp_path, "n0", "2026-11-01T02:00:00", {TEST: "passed"}, figure=0.001)
    folder = tmp_path / "n0" / "demo" / "6.1.0-57-amd64" / "demo"
    again = json.loads((folder / "r0.json").read_text())
    again["derived"]["counter_error"] = 0.003
    (folder / "r1.json").write_text(json.dumps(again))
    point = History.read(str(tmp_path)).trends[
        ("debian:bookworm", "demo::tbf 20mbit", "counter_error")].points[0]
    assert point["n"] == 2 and abs(point["value"] - 0.002) < 1e-12 and point["half_width"] > 0
