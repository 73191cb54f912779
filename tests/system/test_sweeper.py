"""A run killed with SIGKILL leaves namespaces and processes; the sweeper removes them, and
never touches a live run."""

import os
import signal
import subprocess
import sys
import textwrap
import time

from harness.core import netns
from harness.net import sweeper

CHILD = textwrap.dedent("""
    import subprocess, sys, time
    from harness.run.session import Run
    from harness.net.topology import Lab
    run = Run(results_root=sys.argv[1])
    lab = Lab(run)
    a, b = lab.namespace("a"), lab.namespace("b")
    pair = lab.veth_pair(a, b)
    sleeper = b.popen(["sleep", "600"])
    print(run.prefix, sleeper.pid, flush=True)
    time.sleep(600)
""")


def _start_doomed_run(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE,
                            text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    prefix, sleeper = proc.stdout.readline().split()
    return proc, prefix, int(sleeper)


def test_sweeper_leaves_a_live_run_alone_and_clears_a_dead_one(run, tmp_path):
    proc, prefix, sleeper = _start_doomed_run(tmp_path)
    try:
        assert not any(prefix in line for line in sweeper.sweep())
        assert netns.exists(prefix + "a") and os.path.exists(f"/proc/{sleeper}")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert netns.exists(prefix + "a")  # the crash left it behind
    removed = sweeper.sweep()
    assert f"netns {prefix}a" in removed and f"netns {prefix}b" in removed
    assert f"process {sleeper}" in removed
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{sleeper}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{sleeper}")
    assert not any(n.startswith(prefix) for n in os.listdir(netns.NETNS_RUN_DIR))
    assert sweeper.sweep() == []  # nothing left to do


CHILD_WITH_STATE = textwrap.dedent("""
    import sys, time
    from harness.net.cgroups import NetCls
    from harness.net.ovs import OVS
    from harness.run.session import Run
    from harness.net.topology import Lab
    run = Run(results_root=sys.argv[1])
    b = Lab(run).namespace("b")
    sw = OVS(b, sys.argv[1] + "/ovs").start()
    sw.add_bridge("br0", "netdev")
    group = NetCls(run).group("c1", 0x10001)
    sleeper = b.popen(["sleep", "600"], preexec_fn=group.join_self)
    print(run.prefix, sleeper.pid, *[p.pid for p in sw.procs], flush=True)
    time.sleep(600)
""")


def test_a_dead_run_leaves_no_ovs_daemon_database_or_cgroup_mount(run, tmp_path):
    """A run killed while its private OVS and a net_cls cgroup (with a process in it) exist:
    the sweeper ends the daemons, removes the cgroup, unmounts and deletes the state folder."""
    from harness.net.cgroups import mounts_under
    from harness.run.registry import state_dir

    proc = subprocess.Popen([sys.executable, "-c", CHILD_WITH_STATE, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    prefix, *pids = proc.stdout.readline().split()
    state = state_dir(prefix)
    try:
        assert os.path.exists(os.path.join(state, f"ovs-{prefix}b", "conf.db"))
        assert mounts_under(state)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    removed = sweeper.sweep()
    assert all(f"process {pid}" in removed for pid in pids), removed
    assert f"mount {state}/net_cls" in removed
    assert not os.path.exists(state) and not mounts_under(state)
    deadline = time.monotonic() + 5
    while any(os.path.exists(f"/proc/{p}") for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{p}") for p in pids)
