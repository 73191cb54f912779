"""Two sessions at once, and a root namespace left exactly as it was."""

import os
import subprocess
import sys

from pyroute2 import IPRoute

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


def test_a_full_lab_run_leaves_the_root_namespace_as_it_was(run, tmp_path):
    before = snapshot()
    proc = lab(tmp_path, k="not nothing")
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-2000:]
    assert snapshot() == before
