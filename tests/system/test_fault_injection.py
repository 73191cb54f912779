"""Every lab fails when the kernel behaviour it tests is broken.

For each lab a representative test runs with one kernel-facing step broken on purpose
(``-p harness.plugin.faults --inject-fault NAME``, see harness.core.faults) and must FAIL:
not pass, not skip, not error out in set-up.  The same tests pass without the fault in the
lab runs of this suite."""

import html
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from harness.core.procs import run_unwinding
from harness.report.render import render
from harness.report.tables import load_runs
from harness.results.records import load_records

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CASES = {
    # fault: (lab, -k selection, the test(s) that must fail)
    "shaper-rate-ignored": ("labs/ingress_ifb", "accurate and htb and 100mbit and iperf3",
                            "test_ingress_shaping_is_accurate[100mbit-iperf3-htb]"),
    "shaper-10pct-fast": ("labs/ingress_ifb", "accurate and tbf and 100mbit and netperf",
                          "test_ingress_shaping_is_accurate[100mbit-netperf-tbf]"),
    # inside the selftests' +-5 %, outside the labs' +-1 %: HTB and TBF, both ways
    "shaper-2pct-fast": ("labs/ingress_ifb", "accurate and 100mbit and iperf3",
                         ("test_ingress_shaping_is_accurate[100mbit-iperf3-htb]",
                          "test_ingress_shaping_is_accurate[100mbit-iperf3-tbf]")),
    "shaper-2pct-slow": ("labs/ingress_ifb", "accurate and 100mbit and iperf3",
                         ("test_ingress_shaping_is_accurate[100mbit-iperf3-htb]",
                          "test_ingress_shaping_is_accurate[100mbit-iperf3-tbf]")),
    "loss-12pct": ("labs/gre_mtu", "loss_multiplies and vxlan",
                   "test_fragment_loss_multiplies_datagram_loss[vxlan]"),
    "ingress-no-redirect": ("labs/ingress_ifb", "goes_through_the_ifb",
                            "test_traffic_goes_through_the_ifb"),
    "loss-rule-missing": ("labs/gre_mtu", "loss_multiplies and vxlan",
                          "test_fragment_loss_multiplies_datagram_loss[vxlan]"),
    "tunnel-mtu-not-lowered": ("labs/gre_mtu", "sized_for_the_inner_mtu and vxlan and iperf3 and 1400",
                               "test_datagrams_sized_for_the_inner_mtu[vxlan-iperf3-1400]"),
    "ovs-gre-port-missing": ("labs/ovs_gre", "which_configurations and netdev-a",
                             "test_which_configurations_carry_traffic[netdev-a]"),
    "bridge-port-missing": ("labs/netlink_kinds", "tap_owned_by_a_process",
                            "test_a_tap_owned_by_a_process_answers_ping_through_a_bridge"),
    "borrow-ceil-ignored": ("labs/rate_limiters", "borrow",
                            "test_htb_children_get_their_rate_and_borrow_up_to_ceil"),
}
#: the limiters the running kernel lacks, each with a fault that must fail it in a guest
GUEST_LIMITERS = {
    "test_limiter_holds_its_rate[20mbit-1flow-mtu1500-htb]": "shaper-2pct-slow",
    "test_limiter_holds_its_rate[20mbit-1flow-mtu1500-tbf]": "shaper-2pct-slow",
    "test_limiter_holds_its_rate[20mbit-1flow-mtu1500-hfsc]": "shaper-2pct-slow",
    "test_limiter_holds_its_rate[20mbit-1flow-mtu1500-fq]": "shaper-2pct-slow",
    "test_limiter_holds_its_rate[20mbit-1flow-mtu1500-netem-rate]": "shaper-2pct-slow",
    "test_drr_shares_follow_the_quanta": "shaper-2pct-slow",
    "test_limiter_holds_its_rate_under_udp_floods[cake-8mbit-1472B]": "shaper-2pct-slow",
    "test_policing_drops_where_shaping_queues[1flow]": "policer-burst-zero",
}


def _links(counters, suffix):
    return [v for ns in counters["namespaces"].values()
            for name, v in ns.get("links", {}).items() if name.endswith(suffix)]


def _snmp(counters, key):
    return sum(ns.get("snmp", {}).get(key, 0) for ns in counters["namespaces"].values())


def _captured(captures, suffix, key="packets"):
    return sum(c["summary"][key] for c in captures if c["link"].endswith(suffix))


#: what the failed test's captures (evidence.captures) must show for these faults
CAPTURED = {
    # the packets in vb's ring, none in the ifb's
    "ingress-no-redirect": lambda c: _captured(c, "-vb") > 1000 and _captured(c, "-ifb0") == 0,
    # fragments on the underlay
    "tunnel-mtu-not-lowered": lambda c: sum(x["summary"]["ipv4_fragments"] for x in c) > 0,
}

#: what the failed test's counter diff (evidence.counters) must show for these faults
EXPLAINED = {
    # packets arrived on vb, and none went through the ifb
    "ingress-no-redirect": lambda c: (
        sum(v.get("rx_packets", 0) for v in _links(c, "-vb")) > 1000
        and sum(v.get("tx_packets", 0) for v in _links(c, "-ifb0")) < 10),
    # the 1500-byte inner packets were fragmented on the underlay and reassembled
    "tunnel-mtu-not-lowered": lambda c: (_snmp(c, "Ip.FragCreates") > 0
                                         and _snmp(c, "Ip.ReasmReqds") > 0),
}


def outcomes(junit: str) -> dict[str, str]:
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kind = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                kind = tag
                break
        out[case.get("name")] = kind
    return out


@pytest.mark.parametrize("fault", CASES)
def test_the_lab_fails_when_the_kernel_behaviour_is_broken(fault, tmp_path, run):
    lab, selection, tests = CASES[fault]
    tests = (tests,) if isinstance(tests, str) else tests
    r = run_unwinding([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                       "-p", "harness.plugin.faults", "--inject-fault", fault, lab, "-k", selection,
                       "--results", str(tmp_path), "--run-id", "fault"],
                      cwd=ROOT, capture_output=True, text=True, timeout=600)
    got = outcomes(str(tmp_path / "fault" / "junit.xml"))
    assert all(got.get(test) == "failure" for test in tests), (got, r.stdout[-3000:])
    assert r.returncode == 1
    records, _ = load_records(str(tmp_path / "fault"))
    for test in tests:
        mine = [rec for rec in records if rec["test_id"].endswith("::" + test)]
        assert mine and all(rec["faults_injected"] == [fault] and rec["verdict"] == "failed"
                            for rec in mine)
        # the failed attempt keeps the counters that moved over its call, and its lab's state
        first = next(rec for rec in mine if rec["measurement"] == 0)
        assert first["evidence"]["counters"]["namespaces"], first.get("evidence")
        assert first["evidence"]["rows"] and "lab" in first["state"]
        if fault in EXPLAINED:
            assert EXPLAINED[fault](first["evidence"]["counters"]), first["evidence"]["rows"][:20]
            captures = first["evidence"]["captures"]
            assert CAPTURED[fault](captures), [(c["link"], c["summary"]) for c in captures]
            for c in captures:  # the files are pcap as tcpdump reads them
                for f in c["files"]:
                    read = subprocess.run(["tcpdump", "-r", str(tmp_path / "fault" / f), "-c", "1"],
                                          capture_output=True, text=True)
                    assert read.returncode == 0, read.stderr
            # the report's failure view: the assertion, the counters that moved, the lab
            page = render(load_runs([str(tmp_path / "fault")]), "html")
            view = page[page.index("<h2>Failures and regressions</h2>"):]
            assert "FAILED" in view and "<svg" in view  # the lab's diagram at the failure
            assert html.escape(first["reason"][:60]) in view
            assert html.escape(first["evidence"]["rows"][0][0]) in view and "<td>" in view


def test_a_shaper_two_percent_fast_fails_in_a_debian_guest_too(tmp_path, debian_image):
    """Guests measure within +-0.25 %: the labs' +-1 % holds there, and a shaper 2 % fast fails
    there as on the host (HTB and TBF).  2 % slow fails HTB and TBF in the guest in the boot
    of every limiter the host lacks (below): a boot of its own for it cost make test two
    minutes."""
    fault = "shaper-2pct-fast"
    lab, selection, tests = CASES[fault]
    r = run_unwinding([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                       "--kernel", debian_image, "-p", "harness.plugin.faults",
                       "--inject-fault", fault, lab, "-k", selection,
                       "--results", str(tmp_path), "--run-id", "fault"],
                      cwd=ROOT, capture_output=True, text=True, timeout=900)
    (guest,) = [p for p in (tmp_path / "fault").iterdir() if p.is_dir()]
    got = outcomes(str(guest / "junit.xml"))
    assert all(got.get(test) == "failure" for test in tests), (got, r.stdout[-3000:])
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-1000:]


def test_each_limiter_the_host_lacks_fails_its_fault_in_a_debian_guest(tmp_path, debian_image):
    """HFSC, fq, netem rate, DRR and CAKE (under UDP floods: under TCP it falls short of its
    rate by itself in a guest, labs/rate_limiters/README.md) configured 2 % slow, HTB and TBF
    too, and a policer with a bucket of 0 bytes, each FAIL inside a Debian kernel (one boot,
    both faults on)."""
    faults = sorted(set(GUEST_LIMITERS.values()))
    r = run_unwinding([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                       "--kernel", debian_image, "-p", "harness.plugin.faults",
                       *[arg for f in faults for arg in ("--inject-fault", f)],
                       *[f"labs/rate_limiters/test_rate_limiters.py::{t}" for t in GUEST_LIMITERS],
                       "--results", str(tmp_path), "--run-id", "fault"],
                      cwd=ROOT, capture_output=True, text=True, timeout=1200)
    (guest,) = [p for p in (tmp_path / "fault").iterdir() if p.is_dir()]
    got = outcomes(str(guest / "junit.xml"))
    assert all(got.get(test) == "failure" for test in GUEST_LIMITERS), (got, r.stdout[-3000:])
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-1000:]
