"""Two sessions at once, and a root namespace left exactly as it was."""

import os
import subprocess
import sys

from pyroute2 import IPRoute

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUICK = "test_traffic_goes_through_the_ifb or test_ingress_qdisc_cannot_hold_classes or " \
        "(test_ingress_shaping_is_accurate and 10mbit and htb)"
SYSCTLS = ["net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding", "net/core/default_qdisc",
           "net/ipv4/tcp_congestion_control", "net/ipv4/conf/all/rp_filter",
           "net/core/rmem_max", "net/core/wmem_max", "net/ipv4/ip_no_pmtu_disc"]


def snapshot() -> dict:
    """Root-namespace state kernel-lab could change: links, addresses, routes, qdiscs, sysctls."""
    with IPRoute() as ipr:
        links = sorted((l.get_attr("IFLA_IFNAME"), l.get_attr("IFLA_MTU"), l["flags"] & 1,
                        l.get_attr("IFLA_MASTER")) for l in ipr.get_links())
        addrs = sorted((a["index"], a.get_attr("IFA_ADDRESS"), a["prefixlen"])
                       for a in ipr.get_addr())
        routes = sorted(str((r["family"], r.get_attr("RTA_DST"), r["dst_len"],
                             r.get_attr("RTA_GATEWAY"), r.get_attr("RTA_OIF"),
                             r.get_attr("RTA_TABLE"))) for r in ipr.get_routes())
        qdiscs = sorted((q["index"], q.get_attr("TCA_KIND"), q["handle"], q["parent"])
                        for q in ipr.get_qdiscs())
    sysctls = {}
    for key in SYSCTLS:
        try:
            with open("/proc/sys/" + key) as f:
                sysctls[key] = f.read().strip()
        except FileNotFoundError:
            sysctls[key] = None
    return {"links": links, "addrs": addrs, "routes": routes, "qdiscs": qdiscs,
            "sysctls": sysctls}


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


EVERY_LAB = ["labs/ingress_ifb", "labs/gre_mtu", "labs/ovs_gre", "labs/netlink_kinds"]
#: a few tests of every lab, so every kind of object is built and torn down (ifb and its
#: redirect, shapers, tunnels and random loss, private OVS daemons, taps and bridges)
EVERY_KIND = ("goes_through or cannot_hold or (accurate and 10mbit and htb and iperf3) or "
              "loss_multiplies or segmented or which_configurations or vport or tap_owned")


def test_a_run_of_every_lab_leaves_the_root_namespace_as_it_was(run, tmp_path):
    before = snapshot()
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             *EVERY_LAB, "-k", EVERY_KIND, "--results", str(tmp_path)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-2000:]
    assert " passed" in out
    assert snapshot() == before


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
