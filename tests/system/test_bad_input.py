"""Bad input gets one clear line naming the problem, never a traceback."""

import os
import subprocess
import sys

import pytest

from harness.core.errors import HarnessError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def run(argv, **kwargs):
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, **kwargs)


@pytest.mark.parametrize("rates", ["10 Mbps", "-5mbit", "fast", "10mbit,,"])
def test_malformed_rates_on_the_command_line(tmp_path, rates):
    r = run([sys.executable, "-m", "pytest", f"--rates={rates}", "--results", str(tmp_path),
             "labs/ingress_ifb"])
    assert r.returncode == 4
    errors = [line for line in r.stderr.splitlines() if line.strip()]
    assert errors == [f"ERROR: kernel-lab: bad rate {rates.split(',')[-1] if ',,' in rates else rates!r}: "
                      "expected a number followed by kbit, mbit or gbit (e.g. 100mbit)"] or \
        (len(errors) == 1 and "bad rate" in errors[0]), r.stderr
    assert "Traceback" not in r.stdout + r.stderr


def test_missing_netperf_is_named(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # no netperf (nor anything else) on PATH
    r = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--results",
             str(tmp_path), "labs/ingress_ifb", "-k", "egress and netperf"], env=env)
    assert r.returncode != 0
    assert "kernel-lab: netperf not found: install the Debian package netperf" in r.stdout
    assert "Traceback" not in r.stdout


def test_missing_libiperf_is_named(monkeypatch):
    import iperf3

    from harness.traffic.iperf3 import Iperf3

    def broken(*a, **k):
        raise OSError("libiperf.so.0: cannot open shared object file")

    monkeypatch.setattr(iperf3.IPerf3, "__init__", broken)
    monkeypatch.setattr(iperf3.IPerf3, "__del__", lambda self: None)
    with pytest.raises(HarnessError, match="libiperf not usable .* install the Debian package libiperf0"):
        Iperf3(run=None)


def test_not_root_is_one_line():
    import tempfile

    # pytest's tmp_path is root's alone; this one nobody may write (sticky, like /tmp), and
    # it is removed at the end (old code left a 0777 folder in /tmp)
    with tempfile.TemporaryDirectory(prefix="kl-nobody-") as tmp_path:
        os.chmod(tmp_path, 0o1777)
        r = run(NOBODY + [sys.executable, "-m", "harness.cli", "sweep"])
        assert r.returncode == 2 and r.stderr.strip() == "kernel-lab: kernel-lab sweep needs root"
        r = run(NOBODY + [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--results",
                          str(tmp_path), "labs/ingress_ifb", "-k", "classes"])
        assert r.returncode == 4
        assert "kernel-lab labs need root" in r.stdout + r.stderr
        assert "Traceback" not in r.stdout + r.stderr


@pytest.mark.parametrize("args, message", [
    (["--repeat", "0"], "--repeat 0: must be at least 1"),
    (["--repeat", "-3"], "--repeat -3: must be at least 1"),
    (["--retries", "-1"], "--retries -1: must be at least 0"),
    (["--rates", "0.0000001mbit"], "rounds to 0 bit/s"),
    (["--run-id", "../x"], "bad --run-id '../x'"),
    (["--run-id", "/tmp/x"], "bad --run-id '/tmp/x'"),
    (["--baseline", "a\\b"], "bad baseline name"),
])
def test_inputs_that_were_accepted_silently_are_refused_in_one_line(tmp_path, args, message):
    r = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--results",
             str(tmp_path / "res"), *args, "labs/_example"])
    assert r.returncode != 0, r.stdout[-1500:]
    assert message in r.stdout + r.stderr, r.stdout[-1500:] + r.stderr[-1500:]
    assert "Traceback" not in r.stdout + r.stderr
    assert not (tmp_path / "x").exists() and not os.path.exists("/tmp/x/run.json")


@pytest.mark.parametrize("argv", [["nightly", "--kernels", "running", "--labs", "_example",
                                   "--run-id", "../x"],
                                  ["merge", "a", "--into", "../x"],
                                  ["lab", "_example", "--run-id", "../../x"]])
def test_a_run_id_that_leaves_the_results_folder_is_refused(tmp_path, argv):
    r = run([sys.executable, "-m", "harness.cli", "--results", str(tmp_path / "res"), *argv])
    assert r.returncode == 2, r.stdout[-1500:] + r.stderr[-1500:]
    assert r.stderr.strip().startswith("kernel-lab: bad "), r.stderr
    assert not (tmp_path / "x").exists() and sorted(os.listdir(tmp_path)) in ([], ["res"])


@pytest.mark.parametrize("args", [["--help"], ["--collect-only", "-q", "labs/_example"],
                                  ["-k", "no_such_test", "labs/_example"]])
def test_a_session_that_runs_no_test_leaves_no_run_and_keeps_latest(tmp_path, args):
    """Old code: each of these made results/<run>/ with only a JUnit file or run.json in it,
    and one moved results/latest to it (the next report then found no records)."""
    res = tmp_path / "res"
    res.mkdir()
    (res / "real-run").mkdir()
    os.symlink("real-run", res / "latest")
    r = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--results", str(res),
             *args])
    assert r.returncode in (0, 5), r.stdout[-1500:]
    assert sorted(os.listdir(res)) == ["latest", "real-run"]
    assert os.readlink(res / "latest") == "real-run"
