"""`kernel-lab nightly`: one verdict per kernel, baselines per kernel, and exit codes a job
can act on (0 all passed and nothing regressed, 1 a failure or regression, 2 infrastructure)."""

import json
import os
import sys

from harness.core.procs import run_unwinding

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def nightly(tmp_path, *args):
    return run_unwinding([sys.executable, "-m", "harness.cli", "--results", str(tmp_path),
                          "nightly", "--labs", "_example", *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=900)


def summary(tmp_path) -> list[dict]:
    (folder,) = [p for p in tmp_path.iterdir() if p.name.endswith("-nightly")]
    return json.loads((folder / "nightly.json").read_text())


def test_a_kernel_that_cannot_be_fetched_is_infrastructure(tmp_path):
    # the results folder sits inside another pytest project: pytest must not take it for the
    # rootdir of the cells (seen: every cell of a night ran from a second checkout ended with
    # "file or directory not found: test_example.py::..."; the running kernel's cell passes here)
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    tmp_path = tmp_path / "results"
    tmp_path.mkdir()
    r = nightly(tmp_path, "--kernels", "running,debian:potato")
    assert r.returncode == 2, r.stdout[-2000:] + r.stderr[-2000:]
    cells = {c["spec"]: c for c in summary(tmp_path)}
    assert cells["running"]["verdict"] == "PASS"
    assert cells["debian:potato"]["verdict"] == "INFRA"
    assert "INFRA: unknown Debian suite 'potato'" in r.stdout
    assert (tmp_path / next(p.name for p in tmp_path.iterdir() if p.name.endswith("-nightly"))
            / "results.ktap").read_text().count("# ERROR unknown Debian suite 'potato'") == 1


def test_baselines_per_kernel_and_a_regression_fails_the_night(tmp_path):
    first = nightly(tmp_path / "one", "--kernels", "running", "--baseline", "b", "--save-baseline")
    assert first.returncode == 0, first.stdout[-2000:]
    assert "no baseline; saved as the new baseline" in first.stdout
    assert "no regression" not in first.stdout  # a first night has nothing to regress from
    (tmp_path / "two").mkdir()
    os.rename(tmp_path / "one" / "baselines", tmp_path / "two" / "baselines")
    again = nightly(tmp_path / "two", "--kernels", "running", "--baseline", "b")
    assert again.returncode == 0, again.stdout[-2000:]
    assert "no regression" in again.stdout
    (tmp_path / "three").mkdir()
    os.rename(tmp_path / "two" / "baselines", tmp_path / "three" / "baselines")
    broken = nightly(tmp_path / "three", "--kernels", "running", "--baseline", "b", "--",
                     "-p", "harness.plugin.faults", "--inject-fault", "shaper-10pct-fast")
    assert broken.returncode == 1, broken.stdout[-2000:]
    (cell,) = summary(tmp_path / "three")
    assert cell["verdict"] == "FAIL" and "regression" in cell["baseline"]
    folder = next(p for p in (tmp_path / "three").iterdir() if p.name.endswith("-nightly"))
    assert (folder / "report.md").exists() and (folder / "report.html").exists()


def test_an_unreadable_baseline_is_infrastructure_and_is_never_overwritten(tmp_path):
    """Old code: a corrupt baseline read as "no baseline yet": PASS, exit 0, and
    --save-baseline overwrote it with tonight's figures."""
    stored = tmp_path / "baselines" / "b@running.json"  # per kernel, by its spec
    stored.parent.mkdir(parents=True)
    stored.write_text('{"figures": ')  # cut short
    r = nightly(tmp_path, "--kernels", "running", "--baseline", "b", "--save-baseline")
    assert r.returncode == 2, r.stdout[-2000:] + r.stderr[-2000:]
    (cell,) = summary(tmp_path)
    assert cell["verdict"] == "INFRA" and cell["baseline"] == "baseline unreadable"
    assert "is not a kernel-lab baseline" in r.stdout
    assert stored.read_text() == '{"figures": '
