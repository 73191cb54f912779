"""SIGKILL a lab run at several points; the next session's sweeper leaves nothing of it."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from harness.core import netns
from harness.net import sweeper
from harness.core.procs import command, descendants, proc_starttime, process_alive
from harness.run.registry import STATE_DIR
from harness.core.procs import run_unwinding

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SELECT = {"topology-built": "test_ingress_qdisc_cannot_hold_classes",
          "traffic-running": "test_ingress_shaping_is_accurate and htb and 10mbit and iperf3",
          "teardown": "test_ingress_qdisc_cannot_hold_classes"}


def _prefixes():
    return {f[:-5] + "-" for f in os.listdir(STATE_DIR) if f.endswith(".json")}


@pytest.mark.parametrize("point", list(SELECT))
def test_sigkill_leaves_nothing_after_the_sweep(run, tmp_path, point):
    before = _prefixes()
    mark = tmp_path / "paused"
    env = dict(os.environ, KERNEL_LAB_PAUSE_AT=point, KERNEL_LAB_PAUSE_MARK=str(mark))
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "labs/ingress_ifb", "-k", SELECT[point], "--results", str(tmp_path)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not mark.exists():
            assert time.monotonic() < deadline and proc.poll() is None, "never reached " + point
            time.sleep(0.05)
        new = _prefixes() - before
        assert len(new) == 1, "the run registered itself"
        prefix = new.pop()
        with open(os.path.join(STATE_DIR, prefix.rstrip("-") + ".json")) as f:
            registry = json.load(f)
        spaces = [n for n in os.listdir(netns.NETNS_RUN_DIR) if n.startswith(prefix)]
        assert spaces, "the run had namespaces when it was killed"
        children = [p["pid"] for p in registry["processes"]]
        if point == "traffic-running":
            assert children, "traffic processes were running"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert any(n.startswith(prefix) for n in os.listdir(netns.NETNS_RUN_DIR))  # left behind

    removed = run_unwinding([sys.executable, "-m", "harness.cli", "sweep"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert removed.returncode == 0, removed.stderr
    for name in spaces:
        assert f"removed netns {name}" in removed.stdout
    assert not any(n.startswith(prefix) for n in os.listdir(netns.NETNS_RUN_DIR))
    assert not os.path.exists(os.path.join(STATE_DIR, prefix.rstrip("-") + ".json"))
    time.sleep(0.2)
    for pid in children:
        assert proc_starttime(pid) is None or not os.path.exists(f"/proc/{pid}"), pid
    # nothing of it in the root namespace either
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        assert not [m.get_attr("IFLA_IFNAME") for m in ipr.get_links()
                    if m.get_attr("IFLA_IFNAME").startswith(prefix)]
    assert not any(prefix in line for line in sweeper.sweep())


def _guest_of(proc, timeout=120) -> tuple[str, set[int]]:
    """The registry prefix of a ``--kernel`` host session and the PIDs of vng and its QEMU,
    once QEMU runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        for fn in os.listdir(STATE_DIR):
            if not fn.endswith(".json"):
                continue
            try:
                with open(os.path.join(STATE_DIR, fn)) as f:
                    reg = json.load(f)
            except (OSError, ValueError):
                continue
            if reg.get("pid") != proc.pid or not reg.get("processes"):
                continue
            vng = {p["pid"] for p in reg["processes"]}
            tree = vng | descendants(vng)
            if any("qemu-system" in command(pid) for pid in tree):
                return reg["prefix"], {(pid, proc_starttime(pid)) for pid in tree}
        time.sleep(0.1)
    raise AssertionError("the guest's QEMU never showed up in a run's registry")


def _alive(tree) -> list[str]:
    return [command(pid) for pid, start in tree if process_alive(pid, start)]


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_a_booted_guest_does_not_outlive_its_host_session(tmp_path, debian_image, how):
    """SIGTERM: the host session stops the guest itself; SIGKILL: the registry names vng, and
    the sweeper stops it and its QEMU."""
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "--kernel", debian_image, "labs/_example", "--results",
                             str(tmp_path)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        prefix, tree = _guest_of(proc)
        proc.send_signal(getattr(signal, how))
        proc.wait(90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    registry = os.path.join(STATE_DIR, prefix.rstrip("-") + ".json")
    if how == "SIGTERM":
        assert proc.returncode != 0
        time.sleep(0.5)
        assert not _alive(tree)
        assert not os.path.exists(registry), "the run closed itself"
        return
    assert _alive(tree), "a killed host session leaves its guest to the sweeper"
    removed = run_unwinding([sys.executable, "-m", "harness.cli", "sweep"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert removed.returncode == 0, removed.stderr
    assert f"removed registry {prefix.rstrip('-')}" in removed.stdout
    time.sleep(0.5)
    assert not _alive(tree)


def test_sigterm_unwinds_the_run_without_a_sweep(tmp_path):
    """A CI job's timeout sends SIGTERM: the session tears down like Ctrl-C and leaves nothing."""
    before = _prefixes()
    mark = tmp_path / "paused"
    env = dict(os.environ, KERNEL_LAB_PAUSE_AT="topology-built", KERNEL_LAB_PAUSE_MARK=str(mark))
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "labs/ingress_ifb", "-k", SELECT["topology-built"], "--results",
                             str(tmp_path)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not mark.exists():
            assert time.monotonic() < deadline and proc.poll() is None, "never paused"
            time.sleep(0.05)
        (prefix,) = _prefixes() - before
        assert [n for n in os.listdir(netns.NETNS_RUN_DIR) if n.startswith(prefix)]
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2  # pytest's "interrupted"
    assert not [n for n in os.listdir(netns.NETNS_RUN_DIR) if n.startswith(prefix)]
    assert not os.path.exists(os.path.join(STATE_DIR, prefix.rstrip("-") + ".json"))
