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


def _start_doomed_run(tmp_path, env=None):
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE,
                            text=True, env=env,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
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


def test_a_live_run_of_a_session_with_another_state_folder_is_never_swept(run, tmp_path):
    """Old code: a namespace kl????-* without a registry file in this session's state folder
    was swept as dead; a session with another KERNEL_LAB_STATE would have removed the live
    make test's run (seen with --dry-run).  Liveness is the run's lock, in one fixed folder."""
    env = dict(os.environ, KERNEL_LAB_STATE=str(tmp_path / "other-state"))
    proc, prefix, sleeper = _start_doomed_run(tmp_path, env)
    try:
        assert not os.path.exists(os.path.join(sweeper.STATE_DIR, prefix.rstrip("-") + ".json"))
        assert not any(prefix.rstrip("-") in line for line in sweeper.sweep(dry_run=True))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert f"run {prefix.rstrip('-')} (dead)" in sweeper.sweep(dry_run=True)
    removed = sweeper.sweep()
    try:
        assert f"netns {prefix}a" in removed and f"netns {prefix}b" in removed
        # its registry (the list of its processes) is in the other folder: not ours to end
        assert any(line.startswith(f"stranger {sleeper} ") for line in removed)
    finally:
        os.kill(sleeper, signal.SIGKILL)  # the test started it (through the doomed run)


def test_only_files_named_like_a_run_are_registries(tmp_path, monkeypatch):
    from harness.run import registry

    monkeypatch.setattr(registry, "STATE_DIR", str(tmp_path))
    (tmp_path / "kl12ab.json").write_text('{"pid": 1}')
    (tmp_path / "settings.json").write_text("{}")
    (tmp_path / "kl12ab-x.json").write_text("{}")
    assert list(registry.registries()) == ["kl12ab-"]
