"""A child that builds things is asked to stop and given time to tear down before any kill:
``subprocess.run`` kills it at once on a timeout or Ctrl-C (a child session's namespaces and
guest were then the sweeper's)."""

import subprocess
import sys
import time

import pytest
from harness.core.procs import run_unwinding

CHILD = """
import signal, sys, time
def stop(*_):
    time.sleep(%s)  # its teardown
    open(sys.argv[1], "w").write("unwound")
    sys.exit(3)
signal.signal(signal.SIGTERM, stop if %s else signal.SIG_IGN)
print("started", flush=True)
time.sleep(60)
"""


def child(tmp_path, teardown_s=0.3, honours_sigterm=True):
    return [sys.executable, "-c", CHILD % (teardown_s, honours_sigterm), str(tmp_path / "done")]


def test_a_child_cut_short_by_the_timeout_unwinds_before_it_is_left(tmp_path):
    t0 = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_unwinding(child(tmp_path), timeout=1, capture_output=True, text=True)
    assert (tmp_path / "done").read_text() == "unwound"  # its teardown ran to the end
    assert time.monotonic() - t0 < 10


def test_a_child_that_will_not_stop_is_killed_after_its_unwind_time(tmp_path):
    t0 = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_unwinding(child(tmp_path, honours_sigterm=False), timeout=0.5, unwind_s=1)
    assert not (tmp_path / "done").exists()
    assert 1.4 < time.monotonic() - t0 < 10


def test_a_child_that_ends_gives_its_output_and_exit_code(tmp_path):
    r = run_unwinding([sys.executable, "-c", "import sys; print('out'); sys.exit(4)"],
                      capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (4, "out\n", "")


UNWINDER = """
import signal, sys, time
from harness.run.session import unwind_on_sigterm
# as at a terminal: a job started in the background by a shell without job control (CI's)
# inherits SIGINT ignored, and Python then leaves it so
signal.signal(signal.SIGINT, signal.default_int_handler)
unwind_on_sigterm()
try:
    print("ready", flush=True)
    time.sleep(60)
except KeyboardInterrupt:
    pass
finally:
    print("tearing down", flush=True)
    time.sleep(1.0)  # a teardown that a second signal must not cut short
    open(sys.argv[1], "w").write("unwound")
"""


def test_ctrl_c_then_a_parents_sigterm_leave_the_teardown_to_end(tmp_path):
    """Ctrl-C reaches the whole process group: the child session starts its teardown, and its
    parent (interrupted too) then asks it to stop with SIGTERM.  The SIGTERM used to raise a
    second KeyboardInterrupt inside the teardown."""
    import signal

    proc = subprocess.Popen([sys.executable, "-c", UNWINDER, str(tmp_path / "done")],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    assert proc.stdout.readline() == "tearing down\n"
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)
    assert (tmp_path / "done").read_text() == "unwound"
