"""Every rate limiter's netlink call, as the kernel gets it (pyroute2's encoding of our fq and
TBF peak-rate options), as the recipe spells it, and as each fault breaks it."""

import pytest
from pyroute2.netlink.rtnl.tcmsg import plugins, tcmsg

from harness.core import faults
from harness.net import tc  # noqa: F401  (installs the plugins)
from harness.net.recipe import tc_argv

MBIT100 = 12_500_000  # bytes/s


def name_of(index):
    return {5: "kl0001-ifb0"}[index]


def spelled(*args) -> str:
    return " ".join(map(str, tc_argv("N", *args, name_of)))


def test_each_limiter_is_spelled_as_tc_takes_it():
    assert spelled("add", "tbf", "d", 0x10000, {"rate": MBIT100, "burst": 250000,
                                                "limit": 1250000, "peak": 18_750_000,
                                                "pburst": 67050}).endswith(
        "root handle 1: tbf rate 100000000bit burst 250000 limit 1250000 peakrate 150000000bit "
        "mtu 67050")
    curve = {"m2": MBIT100}
    assert spelled("add-class", "hfsc", "d", 0x10010, {"parent": 0x10000, "rsc": curve,
                                                       "fsc": curve, "usc": curve}).endswith(
        "classid 1:10 hfsc rt m2 100000000bit ls m2 100000000bit ul m2 100000000bit")
    assert spelled("add", "cake", "d", 0x10000, {"bandwidth": 100_000_000,
                                                 "diffserv_mode": "besteffort"}).endswith(
        "cake bandwidth 100000000bit besteffort")
    assert spelled("add", "fq", "d", 0x10000, {"maxrate": MBIT100}).endswith(
        "fq maxrate 100000000bit")
    assert spelled("add", "netem", "d", 0x10000, {"rate": MBIT100, "limit": 10000}).endswith(
        "netem rate 100000000bit limit 10000")
    police = spelled("add-filter", "u32", "d", None, {
        "parent": 0xFFFF0000, "prio": 1, "protocol": 3, "keys": ["0x0/0x0+0"], "target": 0x10001,
        "action": [{"kind": "police", "rate": MBIT100, "burst": 250000, "mtu": 262144,
                    "action": "drop"}]})
    assert police.endswith("action police rate 100000000bit burst 250000 mtu 262144 drop")
    assert spelled("del", "ingress", "d", 0xFFFF0000, {}) == "tc -n N qdisc del dev d ingress"


def encoded(kind, kw) -> dict:
    """The TCA_OPTIONS pyroute2 sends for ``kind`` with ``kw``, decoded back."""
    plugin = plugins[kind]
    msg = tcmsg()
    msg["attrs"] = [["TCA_KIND", kind], ["TCA_OPTIONS", plugin.get_parameters(dict(kw))]]
    msg.encode()
    back = tcmsg(msg.data)
    back.decode()
    return back.get_attr("TCA_OPTIONS")


def test_fq_maxrate_reaches_the_kernel_in_bytes_per_second():
    opts = encoded("fq", {"maxrate": MBIT100, "limit": 10000})
    assert opts.get_attr("TCA_FQ_FLOW_MAX_RATE") == MBIT100
    assert opts.get_attr("TCA_FQ_PLIMIT") == 10000


def test_tbf_sends_its_peak_rate_and_bucket_and_nothing_more_without_one():
    base = {"rate": MBIT100, "burst": 250000, "limit": 1250000}
    plain = encoded("tbf", base)
    assert plain.get_attr("TCA_TBF_PARMS")["peak"] == 0 and plain.get_attr("TCA_TBF_PBURST") is None
    peak = encoded("tbf", dict(base, peak=18_750_000, pburst=67050, mtu=67050))
    assert peak.get_attr("TCA_TBF_PARMS")["peak"] == 18_750_000
    assert peak.get_attr("TCA_TBF_PBURST") == 67050


@pytest.fixture
def fault():
    def switch(name):
        faults.inject(name)
    yield switch
    faults.clear()


@pytest.mark.parametrize("command,kind,kw,path", [
    ("add", "tbf", {"rate": MBIT100, "burst": 1, "limit": 1}, ("rate",)),
    ("add", "netem", {"rate": MBIT100}, ("rate",)),
    ("add", "fq", {"maxrate": MBIT100}, ("maxrate",)),
    ("add-class", "hfsc", {"rsc": {"m2": MBIT100}, "usc": {"m2": MBIT100}}, ("usc", "m2")),
    ("add-class", "htb", {"rate": MBIT100, "ceil": MBIT100}, ("ceil",)),
])
def test_a_two_percent_fault_reaches_every_limiters_rate(fault, command, kind, kw, path):
    fault("shaper-2pct-fast")
    out = faults.apply("tc", command, kind, kw)
    value = out
    for key in path:
        value = value[key]
    assert value == int(MBIT100 * 1.02)
    original = kw
    for key in path:
        original = original[key]
    assert original == MBIT100  # the caller's arguments are never changed


def test_cake_and_police_are_broken_too_and_in_their_units(fault):
    fault("shaper-2pct-slow")
    assert faults.apply("tc", "add", "cake", {"bandwidth": 100_000_000})["bandwidth"] == 98_000_000
    act = {"kind": "police", "rate": MBIT100, "burst": 250000}
    out = faults.apply("tc", "add-filter", "u32", {"parent": 0xFFFF0000, "action": [act]})
    assert out["action"][0]["rate"] == int(MBIT100 * 0.98) and act["rate"] == MBIT100


def test_a_zero_bucket_policer_and_a_ceil_that_is_ignored(fault):
    fault("policer-burst-zero")
    fault("borrow-ceil-ignored")
    out = faults.apply("tc", "add-filter", "u32", {"action": [{"kind": "police", "burst": 9}]})
    assert out["action"][0]["burst"] == 0
    child = faults.apply("tc", "add-class", "htb", {"rate": 1, "ceil": 4, "burst": 2, "cburst": 3})
    assert child["ceil"] == 1 and child["cburst"] == 2
    same = faults.apply("tc", "add-class", "htb", {"rate": 4, "ceil": 4})
    assert same["ceil"] == 4


def test_netem_with_a_rate_reaches_pyroute2s_request_without_a_top_level_rate():
    """pyroute2 put netem's ``rate`` into the message's TCA_RATE too and failed to encode it
    (TypeError in a Debian 6.1 guest): the request keeps it only in TCA_OPTIONS."""
    request = {"kind": "netem", "rate": MBIT100, "limit": 10000}
    plugins["netem"].fix_request(request)
    assert "rate" not in request and request["limit"] == 10000
    assert encoded("netem", {"rate": MBIT100, "limit": 10000}).get_attr(
        "TCA_NETEM_RATE")["rate"] == MBIT100


def test_a_tbf_request_without_a_rate_says_nothing_rather_than_raise():
    """``tc del`` of a TBF through pyroute2 asks for the qdisc's parameters too."""
    assert plugins["tbf"].get_parameters({"kind": "tbf", "index": 1, "handle": 0x10000}) == \
        {"attrs": []}
