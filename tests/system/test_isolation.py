"""Two sessions at once, and a root namespace left exactly as it was."""

import os
import subprocess
import sys

from hostcheck import root_namespace as snapshot

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUICK = "test_traffic_goes_through_the_ifb or test_ingress_qdisc_cannot_hold_classes or " \
        "(test_ingress_shaping_is_accurate and 10mbit and htb)"
def lab(tmp, k=QUICK):
    return subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "labs/ingress_ifb", "-k", k, "--results", str(tmp)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_sessions_at_once_both_pass_and_the_root_namespace_is_untouched(run, tmp_path):
    before = snapshot()
    first, second = lab(tmp_path / "one"), lab(tmp_path / "two")
    out1, _ = first.communicate(timeout=600)
    out2, _ = second.communicate(timeout=600)
    assert first.returncode == 0, out1[-2000:]
    assert second.returncode == 0, out2[-2000:]
    assert "4 passed" in out1 and "4 passed" in out2
    assert snapshot() == before


def test_a_run_of_every_lab_leaves_the_root_namespace_as_it_was(four_labs):
    assert four_labs.returncode == 0, four_labs.output[-2000:]
    assert " passed" in four_labs.output
    assert four_labs.after == four_labs.before


def test_a_passing_test_keeps_no_evidence_and_every_record_its_labs_state(four_labs):
    """Counters and captures around a call are kept only when it failed; each record of a lab that built
    namespaces keeps their state (MTU, offloads, TCP sysctls, qdisc statistics), and every
    record says what machine ran it (VM, container)."""
    from harness.results.records import load_records

    records, problems = load_records(str(four_labs.folder))
    assert records and not problems
    passed = [r for r in records if r["verdict"] == "passed"]
    assert passed and not any("evidence" in r for r in passed)
    assert not list(four_labs.folder.rglob("*.pcap*")), "a passing test keeps no capture"
    for r in passed:
        assert set(r["host"]["virtualization"]) >= {"vm", "container"}
    shaped = next(r for r in passed if r["name"] == "htb 10mbit iperf3")
    spaces = shaped["state"]["lab"]
    links = {name: v for ns in spaces.values() for name, v in ns["links"].items()}
    assert all(v["mtu"] for v in links.values()) and any("gso" in v for v in links.values())
    assert any(ns["sysctls"].get("net.ipv4.tcp_congestion_control") for ns in spaces.values())
    htb = [v for ns in spaces.values() for k, v in ns["tc"].items() if " class htb " in k]
    assert htb and all(v["bytes"] > 0 for v in htb), htb


def _ovs_daemons() -> set[int]:
    """PIDs of OVS daemons started by kernel-lab (their sockets live in its state folder)."""
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv[0].endswith((b"ovs-vswitchd", b"ovsdb-server")) and \
                    any(b"/kernel-lab/" in a for a in argv):
                pids.add(int(entry))
    return pids


def test_two_ovs_sessions_at_once_leave_no_daemon_database_or_mount(run, tmp_path):
    """Two sessions of ovs_gre at once, each with two private OVS instances: both pass, and
    afterwards no OVS daemon, state folder or mount of theirs remains, and the root namespace
    is as it was."""
    from harness.net.cgroups import mounts_under
    from harness.run.registry import STATE_DIR, state_dir

    before, daemons, states = snapshot(), _ovs_daemons(), set(os.listdir(STATE_DIR))
    procs = [subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "labs/ovs_gre", "--results", str(tmp_path / name)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for name in ("one", "two")]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-2000:]
        assert " passed" in out
    assert _ovs_daemons() == daemons
    assert set(os.listdir(STATE_DIR)) - states <= {os.path.basename(state_dir(run.prefix))}
    assert not [m for m in mounts_under(STATE_DIR) if not m.startswith(state_dir(run.prefix))]
    assert snapshot() == before
