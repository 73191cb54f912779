"""Fault injection is opt-in twice over, and a faulty run can never pass."""

import os
import subprocess
import sys

import pytest

from harness.core import faults
from harness.core.errors import HarnessError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pytest_run(tmp_path, *args):
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    (tmp_path / "conftest.py").write_text("pytest_plugins = ['harness.plugin']\n")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--results", str(tmp_path / "res"), *args, str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=ROOT))


def test_no_fault_is_active_by_default_and_names_are_checked():
    assert faults.injected() == []
    assert not any(faults.active(name) for name in faults.FAULTS)
    with pytest.raises(HarnessError, match="unknown fault 'typo'"):
        faults.inject("typo")
    with pytest.raises(KeyError):
        faults.active("typo")


def test_the_option_does_not_exist_without_the_plugin(tmp_path):
    r = pytest_run(tmp_path, "--inject-fault", "shaper-10pct-fast")
    assert r.returncode == 4 and "unrecognized arguments: --inject-fault" in r.stderr


def test_an_unknown_fault_is_refused(tmp_path):
    r = pytest_run(tmp_path, "-p", "harness.plugin.faults", "--inject-fault", "typo")
    assert r.returncode == 4 and "unknown fault 'typo'" in r.stderr


def test_a_run_with_a_fault_that_no_test_noticed_fails(tmp_path):
    r = pytest_run(tmp_path, "-p", "harness.plugin.faults", "--inject-fault", "shaper-10pct-fast")
    assert r.returncode == 1, r.stdout
    assert "fault injected: shaper-10pct-fast" in r.stdout
    assert "did not notice the fault" in r.stdout
