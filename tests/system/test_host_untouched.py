"""The host is left as it was: only the run's own cgroups and processes are ever removed, a
stranger is reported and left running, and a helper that outlives its deadline is stopped."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from harness.core import netns
from harness.core.errors import HarnessError
from harness.core.procs import process_alive, proc_starttime
from harness.net import sweeper
from harness.net.cgroups import NetCls
from harness.net.topology import Lab

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def stranger_in(namespace: str) -> int:
    """A process in ``namespace`` that nobody's run started: double-forked, so its parent is
    init, not this test.  Returns its PID (the test ends it by that PID)."""
    out = subprocess.run(["sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!"],
                         preexec_fn=lambda: (os.setsid(), netns.enter(namespace)),
                         capture_output=True, text=True, check=True).stdout
    pid = int(out.split()[0])
    deadline = time.monotonic() + 5
    while os.stat(f"/proc/{pid}/ns/net").st_ino != netns.inode(namespace):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return pid


def end(pid: int) -> None:
    start = proc_starttime(pid)
    if process_alive(pid, start):
        os.kill(pid, signal.SIGKILL)


def test_cgroup_cleanup_removes_only_the_runs_own_cgroups(run):
    """net_cls is one hierarchy for the whole machine: a cgroup someone else made there must
    survive the run's cleanup (old code removed every cgroup under the mount)."""
    cls = NetCls(run)
    ours = cls.group("c1", 0x10001)
    foreign = os.path.join(cls.mountpoint, "not-kernel-lab")
    os.mkdir(foreign)
    try:
        cls.close()
        assert not os.path.exists(ours.path)
        # the hierarchy is still mounted elsewhere on the machine (or by us again): look there
        again = NetCls(run)
        try:
            assert os.path.isdir(os.path.join(again.mountpoint, "not-kernel-lab"))
        finally:
            os.rmdir(os.path.join(again.mountpoint, "not-kernel-lab"))
            again.close()
    finally:
        if os.path.isdir(foreign):
            os.rmdir(foreign)


def test_a_stranger_in_a_live_runs_namespace_is_reported_not_killed(run):
    lab = Lab(run)
    ns = lab.namespace("strg")
    ours = ns.popen(["sleep", "300"])
    pid = stranger_in(ns.name)
    try:
        assert lab.close() == []
        assert not process_alive(ours.pid, None) or ours.poll() is not None  # ours: stopped
        assert os.path.exists(f"/proc/{pid}"), "the stranger was killed"
        assert any(f"process {pid} (sleep 300) inside {ns.name} was not started by kernel-lab"
                   in note for note in run.notes)
    finally:
        end(pid)
        run.notes.clear()


CHILD = textwrap.dedent("""
    import sys, time
    from harness.net.topology import Lab
    from harness.run.session import Run
    run = Run(results_root=sys.argv[1])
    ns = Lab(run).namespace("b")
    child = ns.popen(["sleep", "600"])
    print(run.prefix, ns.name, child.pid, flush=True)
    time.sleep(600)
""")


def test_the_sweeper_reports_a_stranger_in_a_dead_runs_namespace(run, tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE,
                            text=True, cwd=ROOT)
    prefix, ns_name, child = proc.stdout.readline().split()
    pid = stranger_in(ns_name)
    try:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        removed = sweeper.sweep()
        assert f"process {child}" in removed  # the dead run's own process
        assert any(line.startswith(f"stranger {pid} (sleep 300)") for line in removed), removed
        assert os.path.exists(f"/proc/{pid}")
        assert not netns.exists(ns_name)
    finally:
        end(pid)


def test_a_helper_past_its_deadline_is_stopped_not_left_running(run):
    lab = Lab(run)
    try:
        ns = lab.namespace("slow")
        with pytest.raises(HarnessError, match="did not finish within 1 s; stopped"):
            ns.run_command(["sleep", "30"], timeout=1)
        assert not [p for p in run.processes.values() if "sleep" in p["what"]]
        out = subprocess.run(["pgrep", "-x", "-f", "sleep 30"], capture_output=True, text=True)
        mine = [p for p in out.stdout.split() if os.stat(f"/proc/{p}/ns/net").st_ino ==
                netns.inode(ns.name)] if out.stdout else []
        assert mine == []
        # ping, tcpdump, nft and tap owners all end through the same deadline: a ping that
        # would answer for 20 s (its own address) is stopped after 1
        ns.link("lo").add_address("198.18.250.1/32")
        with pytest.raises(HarnessError, match="ping did not finish within 1 s; stopped"):
            ns.run_command(["ping", "-c", "100", "-i", "0.2", "198.18.250.1"], timeout=1,
                           what="ping")
    finally:
        lab.close()
