"""kernel-lab bisect on real kernels, end to end: each step a real session of the lab on the
kernel named, bisect.json and bisect.md left behind, and the endpoints verified before any
search (a "bad" kernel that passes stops the bisect in one line, exit 1)."""

import json
import os
import sys

from harness.core.procs import run_unwinding

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bisect(results, *args):
    return run_unwinding([sys.executable, "-m", "harness.cli", "--results", str(results),
                          "bisect", "--labs", "_example", *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_a_bad_endpoint_that_passes_stops_the_bisect_by_verdict_and_by_figure(tmp_path):
    r = bisect(tmp_path, "--kernels", "running,running", "--id", "verdict")
    assert r.returncode == 1, r.stdout + r.stderr
    data = json.loads((tmp_path / "verdict" / "bisect.json").read_text())
    assert data["outcome"]["summary"].startswith("the bad endpoint running is not bad: 1 passed")
    assert [(s["role"], s["decision"]) for s in data["steps"]] == [
        ("good endpoint", "good"), ("bad endpoint", "good")]
    step = tmp_path / "verdict" / data["steps"][0]["runs"][0]
    assert list(step.glob("_example/*/example/*.json")), "a step is a normal run with records"
    assert "is not bad" in (tmp_path / "verdict" / "bisect.md").read_text()

    r = bisect(tmp_path, "--kernels", "running,running", "--id", "figure", "--figure",
               "_example::tbf 20mbit iperf3", "--metric", "counter_error", "--threshold",
               "0.01", "--repeat", "2")
    assert r.returncode == 1, r.stdout + r.stderr
    data = json.loads((tmp_path / "figure" / "bisect.json").read_text())
    good, bad = data["steps"]
    assert good["interval"]["n"] == 2 and bad["interval"]["n"] >= 2
    assert bad["decision"] == "good" and "moved" in bad["reason"]
    assert "the bad endpoint running is not bad" in data["outcome"]["summary"]
    for name in ("bisect.md", "bisect.html", "bisect-frame.tex", "bisect.png"):
        assert (tmp_path / "figure" / name).stat().st_size > 0, name


def test_bisect_refuses_what_it_cannot_judge_in_one_line(tmp_path):
    r = bisect(tmp_path, "--kernels", "running,running", "--figure", "x::y", "--metric",
               "counter_error", "--threshold", "0.01")
    assert r.returncode == 2 and "--repeat 2" in r.stderr and "Traceback" not in r.stderr
    r = bisect(tmp_path, "--kernels", "running,running", "--id", "../x")
    assert r.returncode == 2 and "bad --id" in r.stderr
