"""Ten nights with nothing changed stay green; a shaper 2 % fast on the eleventh does not.

The shortened form of the proof in the closing note of issue "Verdicts, round two" (there: every
lab on the host and a Debian kernel): `kernel-lab nightly --baseline quiet --save-baseline`
ten times in a row on this kernel, with the _example lab (TBF through the steady-state
counters) and gre_mtu's loss test on VXLAN (a binomial draw: 10 % loss over ~5000 datagrams).
Each night is compared with the baseline the nights before it built (from the third on, by
their 99.9 % prediction interval; the loss by its binomial spread), so a fixed threshold's
false alarm cannot hide here.  Then one more night with the shaper 2 % fast must fail."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SELECTION = ["--", "-k", "tbf_holds or (loss_multiplies and vxlan)"]
NIGHTS = 10


def night(results, run_id, *extra, pytest_args=()):
    return subprocess.run([sys.executable, "-m", "harness.cli", "--results", str(results),
                           "nightly", "--kernels", "running", "--labs", "_example,gre_mtu",
                           "--baseline", "quiet", "--run-id", run_id, *extra, *SELECTION,
                           *pytest_args],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)


def verdict(results, run_id) -> dict:
    (kernel,) = json.loads((results / run_id / "nightly.json").read_text())
    return kernel


def test_ten_nights_with_nothing_changed_stay_green_and_a_two_percent_shaper_does_not(tmp_path):
    notes = []
    for n in range(NIGHTS):
        r = night(tmp_path, f"night-{n:02d}", "--save-baseline")
        k = verdict(tmp_path, f"night-{n:02d}")
        notes.append(k["baseline"])
        assert r.returncode == 0 and k["verdict"] == "PASS", \
            f"night {n}: {k['verdict']}, {k['baseline']}: {k.get('regressions')}\n{r.stdout[-2000:]}"
    assert notes[0] == "no baseline; saved as the new baseline"
    assert all(note.startswith("no regression") for note in notes[1:]), notes
    stored = json.loads(next((tmp_path / "baselines").glob("quiet@*.json")).read_text())
    history = stored["history"]["_example::tbf 20mbit iperf3"]["counter_error"]
    assert len(history) == NIGHTS
    r = night(tmp_path, "night-fast", pytest_args=("-p", "harness.plugin.faults",
                                                   "--inject-fault", "shaper-2pct-fast"))
    k = verdict(tmp_path, "night-fast")
    assert r.returncode == 1 and k["verdict"] == "FAIL", r.stdout[-3000:]
    assert "regression" in k["baseline"] and not k["baseline"].startswith("no regression")
    assert any("counter_error" in line for line in k["regressions"]), k["regressions"]
    told = (tmp_path / "night-fast" / "nightly.md").read_text()
    assert "kernel-lab bisect --kernels running,running --labs _example --figure" in told
    # kernel-lab history over the eleven nights: the last ten by default
    r = subprocess.run([sys.executable, "-m", "harness.cli", "--results", str(tmp_path),
                        "history"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    h = json.loads((tmp_path / "history" / "history.json").read_text())
    assert [n["run"] for n in h["nights"]] == [f"night-{n:02d}" for n in range(1, NIGHTS)] + ["night-fast"]
    # every test passed every night (the 2 % shaper is inside _example's own 5 %: only the
    # baseline caught it), and the trend shows the night its figure jumped
    assert [t for t in h["tests"] if t["failed"]] == [] and len(h["tests"]) == 2
    assert all(t["flip_rate"] == 0 for t in h["tests"])
    trend = next(t for t in h["trends"] if t["measurement"] == "_example::tbf 20mbit iperf3"
                 and t["metric"] == "counter_error")
    quiet, fast = trend["points"][:-1], trend["points"][-1]
    assert len(quiet) == NIGHTS - 1 and fast["run"] == "night-fast"
    assert fast["value"] > max(p["value"] for p in quiet) + 0.01, trend["points"]
    assert (tmp_path / "history" / "history.html").read_text().count("data:image/png") >= 1
