import sys

from harness.core.procs import run_unwinding


def kl(*args):
    return run_unwinding([sys.executable, "-m", "harness.cli", *args], capture_output=True,
                         text=True, timeout=120)


def test_unknown_lab_is_one_line():
    r = kl("kconfig", "no_such_lab")
    assert r.returncode == 2
    assert r.stderr.strip() == "kernel-lab: unknown lab 'no_such_lab': no folder labs/no_such_lab"


def test_missing_run_for_report_is_one_line(tmp_path):
    r = kl("--results", str(tmp_path), "report", "nope")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "no run nope" in r.stderr


def test_caps_lists_the_running_kernel():
    r = kl("caps")
    assert r.returncode == 0, r.stderr
    assert "CONFIG_IFB" in r.stdout and "CONFIG_NET_IPGRE" in r.stdout
