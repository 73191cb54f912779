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

    tmp_path = tempfile.mkdtemp(prefix="kl-nobody-")  # pytest's tmp_path is root's alone
    os.chmod(tmp_path, 0o777)
    r = run(NOBODY + [sys.executable, "-m", "harness.cli", "sweep"])
    assert r.returncode == 2 and r.stderr.strip() == "kernel-lab: kernel-lab sweep needs root"
    r = run(NOBODY + [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--results",
                      str(tmp_path), "labs/ingress_ifb", "-k", "classes"])
    assert r.returncode == 4
    assert "kernel-lab labs need root" in r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
