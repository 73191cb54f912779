"""Reports and baselines on records made by a real lab run."""

import copy
import json
import os
import shutil
import subprocess
import sys

import pytest

from harness.core.procs import run_unwinding
from harness.results import baseline
from harness.report.files import write_report
from harness.report.render import render
from harness.report.tables import load_runs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def real_run(four_labs):
    """A real run of the four labs (tests/system/conftest.py); its folder of records."""
    assert four_labs.returncode == 0, four_labs.output[-2000:]
    return four_labs.folder


def kl(*args):
    return run_unwinding([sys.executable, "-m", "harness.cli", *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)


def test_markdown_and_html_from_real_records(real_run, tmp_path):
    runs = load_runs([str(real_run)])
    md = render(runs, "md")
    assert "### Ingress shaping through an ifb device (ingress_ifb, kernel" in md
    assert "| qdisc   | rate" in md and "passed" in md
    paths = write_report(runs, str(tmp_path))
    page = open(paths["html"]).read()
    assert page.count("<table>") >= 2 and "data:image/png;base64," in page
    assert "<details><summary>every measurement" in page  # everything else: the detail view
    assert "src=\"http" not in page  # self-contained
    tex = open(paths["latex"]).read()
    assert "\\begin{frame}" in tex and "\\toprule" in tex and "\\bottomrule" in tex
    assert "\\documentclass" not in tex  # a fragment for one's own deck


def test_html_page_shows_tables_and_plots_in_chromium(real_run, tmp_path):
    chromium = shutil.which("chromium")
    assert chromium, "chromium missing: make test installs it"
    paths = write_report(load_runs([str(real_run)]), str(tmp_path))
    shot = tmp_path / "page.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2000",
                    f"--screenshot={shot}", "file://" + paths["html"]],
                   capture_output=True, timeout=120)
    assert shot.exists()
    from matplotlib import image

    pixels = image.imread(str(shot))
    # not blank: a good share of the page is neither white nor one flat colour
    flat = pixels[..., :3].reshape(-1, 3)
    non_white = (flat.min(axis=1) < 0.9).mean()
    assert non_white > 0.02 and len({tuple(p) for p in flat[::97]}) > 20


def test_several_runs_side_by_side(real_run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(real_run, other)
    for path in (other / "ingress_ifb").glob("*.json"):
        rec = json.loads(path.read_text())
        rec["run_id"], rec["kernel"]["release"] = "other", "9.9.9-test"
        path.write_text(json.dumps(rec))
    md = render(load_runs([str(real_run), str(other)]), "md")
    assert "2 kernels side by side" in md and "9.9.9-test" in md


def _records(folder):
    return [json.loads(p.read_text()) for p in (folder / "ingress_ifb").glob("*.json")]


def test_baseline_verdicts_in_both_directions(real_run, tmp_path):
    recs = _records(real_run)
    baseline.save(recs, str(tmp_path), "nightly", source=str(real_run))
    base = baseline.load(str(tmp_path), "nightly")
    assert all(c.verdict == "ok" for c in baseline.compare(recs, base))

    slower = copy.deepcopy(recs)  # goodput 60 % down: a regression (higher is better)
    for r in slower:
        if "goodput_bps" in r["derived"]:
            r["derived"]["goodput_bps"] *= 0.4
    bad = baseline.regressions(baseline.compare(slower, base))
    assert bad and all(c.metric.key == "goodput_bps" for c in bad)

    faster = copy.deepcopy(recs)  # unshaped goodput 60 % up: better, not a regression
    for r in faster:
        if "goodput_bps" in r["derived"] and "configured_bps" not in r["derived"]:
            r["derived"]["goodput_bps"] *= 1.6
    changes = baseline.compare(faster, base)
    assert not baseline.regressions(changes) and any(c.verdict == "improved" for c in changes)

    fast_shaper = copy.deepcopy(recs)  # a shaped goodput 20 % up is a shaper gone fast
    for r in fast_shaper:
        if "goodput_bps" in r["derived"] and "configured_bps" in r["derived"]:
            r["derived"]["goodput_bps"] *= 1.2
    bad = baseline.regressions(baseline.compare(fast_shaper, base))
    assert bad and all(c.metric.key == "goodput_bps" and c.metric.better == "two-sided"
                       for c in bad)

    worse = copy.deepcopy(recs)  # shaping error grows by 4 points: lower is better
    for r in worse:
        if "goodput_error" in r["derived"]:
            r["derived"]["goodput_error"] = abs(r["derived"]["goodput_error"]) + 0.04
    assert any(c.metric.key == "goodput_error" for c in baseline.regressions(
        baseline.compare(worse, base)))


def test_compare_command_exit_codes(real_run, tmp_path):
    root = tmp_path / "results"
    shutil.copytree(real_run, root / "run1")
    assert kl("--results", str(root), "baseline", "save", "run1", "--name", "b").returncode == 0
    ok = kl("--results", str(root), "compare", "run1", "--baseline", "b")
    assert ok.returncode == 0 and "no regression" in ok.stdout
    shutil.copytree(real_run, root / "run2")
    for path in (root / "run2" / "ingress_ifb").glob("*.json"):
        rec = json.loads(path.read_text())
        if "goodput_bps" in rec["derived"]:
            rec["derived"]["goodput_bps"] *= 0.5
        path.write_text(json.dumps(rec))
    bad = kl("--results", str(root), "compare", "run2", "--baseline", "b")
    assert bad.returncode == 1 and "REGRESSION" in bad.stdout
    missing = kl("--results", str(root), "compare", "run2", "--baseline", "nope")
    assert missing.returncode == 2 and missing.stderr.startswith("kernel-lab: no baseline 'nope'")


def test_corrupt_and_foreign_files_are_named_and_the_rest_renders(real_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(real_run, folder)
    (folder / "ingress_ifb" / "broken.json").write_text("{not json")
    (folder / "ingress_ifb" / "foreign.json").write_text('{"hello": "world"}')
    r = kl("report", str(folder))
    assert r.returncode == 0
    assert "Ingress shaping through an ifb device" in r.stdout
    assert f"skipped file: {folder}/ingress_ifb/broken.json" in r.stdout
    assert f"skipped file: {folder}/ingress_ifb/foreign.json: not a kernel-lab record" in r.stdout


def test_retry_labels_flaky_not_passed(tmp_path, run):
    """A test that fails once and passes on retry is recorded as flaky, and the failed
    attempt keeps its own record (evidence is not overwritten)."""
    marker = tmp_path / "failed-once"
    lab = tmp_path / "labs" / "flaky_demo"
    lab.mkdir(parents=True)
    (lab / "test_flaky_demo.py").write_text(
        "import os\n"
        "def test_sometimes(run, record):\n"
        f"    record('demo', derived={{'goodput_bps': 1.0}})\n"
        f"    if not os.path.exists({str(marker)!r}):\n"
        f"        open({str(marker)!r}, 'w').close()\n"
        "        assert False, 'first attempt fails'\n")
    (tmp_path / "conftest.py").write_text("pytest_plugins = ['harness.plugin']\n")
    r = run_unwinding([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--retries", "1",
                       "--results", str(tmp_path / "res"), "--run-id", "f", str(lab)],
                      cwd=tmp_path, capture_output=True, text=True, timeout=120,
                      env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 0, r.stdout[-2000:]
    assert "flaky (failed, then passed on retry)" in r.stdout
    recs = sorted((json.loads(p.read_text()) for p in (tmp_path / "res" / "f").rglob("test_*.json")),
                  key=lambda rec: rec["attempt"])
    assert [(rec["attempt"], rec["verdict"]) for rec in recs] == [(1, "failed"), (2, "flaky")]
    assert "first attempt fails" in recs[0]["reason"]
    md = render(load_runs([str(tmp_path / "res" / "f")]), "md")
    assert "flaky (1 failed attempt kept)" in md


def test_repeat_keeps_every_sample_and_reports_a_confidence_interval(tmp_path, run):
    r = run_unwinding([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                       "--repeat", "3", "labs/ingress_ifb", "-k",
                       "accurate and 10mbit and htb and iperf3",
                       "--results", str(tmp_path), "--run-id", "rep"],
                      cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:]
    recs = [json.loads(p.read_text()) for p in (tmp_path / "rep" / "ingress_ifb").glob("*.json")]
    assert len(recs) == 3 and len({rec["test_id"] for rec in recs}) == 3
    assert len({rec["name"] for rec in recs}) == 1  # one measurement, three samples
    md = render(load_runs([str(tmp_path / "rep")]), "md")
    row = next(line for line in md.splitlines() if line.startswith("| htb"))
    assert row.count(" ± ") >= 2, row  # goodput and its error: mean ± 95 % CI
    # ... and the run keeps each figure's interval beside its records (intervals.json)
    spans = json.loads((tmp_path / "rep" / "intervals.json").read_text())
    (meas,) = [k for k in spans if k.startswith("ingress_ifb::htb 10mbit")]
    for metric in ("goodput_error", "counter_error"):
        s = spans[meas][metric]
        values = [rec["derived"][metric] for rec in recs]  # signed, as measured
        assert s["n"] == 3 and s["mean"] == pytest.approx(sum(values) / 3)
        assert s["ci95_half_width"] > 0
    # steady-state goodput over the counter's window; the generator's whole run beside it
    for rec in recs:
        d, window = rec["derived"], rec["samples"]["received"]
        assert d["goodput_bps"] == pytest.approx(window["rate_bps"])
        assert d["whole_run_goodput_bps"] == rec["samples"]["traffic"]["goodput_bps"]
        assert len(window["samples"]) >= 20
