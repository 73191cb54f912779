"""Ingress shaping through an ifb device: the recipe works, and it is accurate.

The recipe as it ran for HTB at 100 Mbit/s (every record keeps its own, ``state.recipe``, with
every parameter the harness set; the report shows it, and tests/system/test_recipe_replay.py
rebuilds the lab from it)::

    ip -n B link add ifb0 type ifb
    tc -n B qdisc add dev vb handle ffff: ingress
    tc -n B filter add dev vb parent ffff: prio 1 protocol all u32 match u32 0x0 0x0 at 0 \\
        flowid 1:1 action mirred egress redirect dev ifb0
    tc -n B qdisc add dev ifb0 root handle 1: htb default 10
    tc -n B class add dev ifb0 parent 1: classid 1:10 htb rate 100000000bit \\
        ceil 100000000bit burst 250000 cburst 250000 quantum 60000

(burst: 20 ms at the rate, at least 64 KiB and a frame; quantum: the rate's share of a 1514-byte MTU,
harness.net.tc.  TBF instead: ``tbf rate R burst B limit max(1 MiB, 100 ms at R)``.)
"""

import errno

import pytest
from pyroute2.netlink.exceptions import NetlinkError

from harness.lab import (FLAG, HTB, IN_GUEST, RATE, TBF, Capacity, add_class_under_ingress,
                         add_ingress, classes, classify_dport, delta, egress_redirect, figure,
                         htb_classes, ingress_redirect, judge, mirred_stats, parse_rate,
                         qdisc_drops, settled, shaped_flows, shaped_run, shaping_rates)

figure("baseline", FLAG, "unshaped baseline")
figure("needed_bps", RATE, "capacity needed", doc="3x the lowest shaped rate (Capacity.FACTOR)")

RATES = ["10mbit", "100mbit", "500mbit"]
#: +-1 %: every judged figure is a steady-state counter or goodput over the window after the
#: warm-up, on a path that carries at least 3x the rate (Capacity.FACTOR).  Measured: within
#: +-0.1 % on the host and +-0.25 % in Debian guests (README: the runs behind it), so 1 % sits
#: 4x outside the widest spread seen and a shaper 2 % off (faults shaper-2pct-fast/-slow)
#: fails.  The kernel selftests' +-5 % (sch_tbf_core.sh) would pass a 3 % fast HTB.
TOLERANCE = 0.01
#: The receiver's steady-state goodput in an emulated guest gets 2 %: a TCP flow's loss recovery
#: there moves it more than the shaper's counter (TBF 10 Mbit/s with netperf read +0.76 % in a
#: Debian 6.1 guest while its counter held; 0.74 % over two virtio-net ports).  The shaper's own
#: counter keeps +-1 % everywhere, so a shaper 2 % off still fails in a guest.
GOODPUT_TOLERANCE = 0.02 if IN_GUEST else TOLERANCE
SHAPERS = {"htb": HTB, "tbf": TBF}
RECIPE = ("ifb", "ingress", "u32", "mirred")


def pytest_generate_tests(metafunc):
    if "rate" in metafunc.fixturenames:  # --rates 10mbit,50mbit replaces RATES
        metafunc.parametrize("rate", shaping_rates(metafunc.config, RATES))


def test_unshaped_veth_rate_is_the_baseline(request, capacity, record):
    """6. The unshaped rate of the pair (veth, or the NICs of ``--nics``), recorded as the run's
    baseline.  Shaped rates above a third of it are skipped (there the CPU, not the shaper, would
    set the rate), so it must be at least three times the lowest shaped rate, or no shaping figure
    could be judged.  Over NICs the record is "unshaped NIC baseline": never compared with veth."""
    run = capacity.traffic
    lowest = min(parse_rate(r) for r in shaping_rates(request.config, RATES))
    record(f"unshaped {'NIC' if capacity.nics else 'veth'} baseline",
           params={"generator": "iperf3", "mtu": 1500},
           samples={"intervals_bps": run.intervals_bps, "traffic": run},
           derived={"goodput_bps": run.goodput_bps, "retransmits": run.retransmits,
                    "baseline": True, "needed_bps": Capacity.FACTOR * lowest},
           state={"nics": capacity.nics} if capacity.nics else None)
    assert run.goodput_bps >= Capacity.FACTOR * lowest, \
        f"unshaped {run.goodput_bps:.3g} bit/s is less than {Capacity.FACTOR:g}x {lowest} bit/s"


@pytest.mark.requires(*RECIPE)
def test_traffic_goes_through_the_ifb(pair, ifb, iperf3, record):
    """1. Everything arriving on vb is redirected by mirred into the ifb and comes back out.

    veth and ifb count skbs (a GSO packet is one); mirred counts the segments it stands for."""
    ingress_redirect(pair.b.link, to=ifb)
    # read "before" once the counters stand still: a packet redirected just before (an IPv6
    # neighbour message) is counted into the ifb at once and out of it by the ifb's tasklet a
    # moment later, and a reading between the two made the ifb send one packet more than it
    # got (CI, Debian 6.12 guest: 3315 out, 3314 in)
    def read():
        return {"veth": pair.b.link.stats(), "ifb": ifb.stats(),
                "mirred": mirred_stats(pair.b.link), "queue": {"drops": qdisc_drops(ifb)}}

    before = settled(read)
    run = iperf3.measure(pair.a, pair.b, seconds=2)
    after = settled(read)
    veth, ifb_, mirred = (delta(before[k], after[k]) for k in ("veth", "ifb", "mirred"))
    arrived = veth["rx_packets"]
    dropped_before_ifb = after["queue"]["drops"] - before["queue"]["drops"]
    # the ifb counts as received, then drops, what was sent to it without a redirect (its own
    # IPv6 chatter): those are not part of the recipe
    own = ifb_["rx_dropped"]
    into_ifb, out_of_ifb, segments = ifb_["rx_packets"] - own, ifb_["tx_packets"], mirred["packets"]
    record("recipe", params={"generator": "iperf3"},
           samples={"veth_rx_packets": arrived, "ifb_rx_packets": into_ifb,
                    "ifb_tx_packets": out_of_ifb, "mirred_segments": segments,
                    "ifb_queue_drops": dropped_before_ifb, "ifb_own_packets_dropped": own,
                    "ifb_rx_bytes": ifb_["rx_bytes"], "received_payload_bytes": run.received_bytes},
           derived={"goodput_bps": run.goodput_bps})
    assert after["mirred"]["targets"] == [ifb.index]
    assert arrived > 1000
    # what mirred redirected entered the ifb's own queue (a full queue drops there, and mirred
    # counts what it could not hand over).  Under two concurrent runs one packet in 55649 was
    # once unaccounted for: allow 2 packets or 0.01 %, far below any broken redirect.
    # A veth counts skbs, as the ifb does; a real NIC counts frames on the wire, which GRO
    # merges before the ingress hook: there mirred's segment count is what matches.
    lost = veth["rx_dropped"] + mirred["drops"]
    redirected = segments if pair.nics else into_ifb
    unaccounted = arrived - lost - redirected - dropped_before_ifb
    assert abs(unaccounted) <= max(2, arrived // 10000), "every packet on vb went to the ifb"
    assert out_of_ifb == into_ifb - ifb_["tx_dropped"]
    assert segments >= into_ifb
    assert ifb_["rx_bytes"] >= run.received_bytes


@pytest.mark.requires(*RECIPE)
@pytest.mark.parametrize("qdisc", [pytest.param(q, marks=pytest.mark.requires(q)) for q in SHAPERS])
def test_ingress_shaping_is_accurate(capacity, pair, ifb, generator, qdisc, rate, record):
    """2. HTB and TBF on the ifb hold the configured rate within 1 %, by the shaper's byte
    counter and by the receiver's steady-state goodput over the same window (expected: rate x
    1448/1514 at MTU 1500); the generator's whole-run figure is recorded beside it."""
    capacity.check(rate)
    ingress_redirect(pair.b.link, to=ifb)
    shaper = SHAPERS[qdisc](rate).apply(ifb)
    run = shaped_run(generator, pair.a, pair.b, shaper, mtu=pair.mtu)
    judge(run.recorded(record, f"{qdisc} {rate} {generator.name}",
                       params={"qdisc": qdisc, "rate": rate, "generator": generator.name,
                               "mtu": pair.mtu, "direction": "ingress via ifb"},
                       tolerance=TOLERANCE, goodput_tolerance=GOODPUT_TOLERANCE))


@pytest.mark.requires("ingress", "htb")
def test_ingress_qdisc_cannot_hold_classes(pair, record):
    """3. The kernel refuses an HTB class under ffff: - the reason ifb exists."""
    dev = pair.b.link
    add_ingress(dev)
    with pytest.raises(NetlinkError) as refused:
        add_class_under_ingress(dev)
    record("no classes under ingress",
           samples={"errno": refused.value.code, "error": errno.errorcode.get(refused.value.code)})
    assert refused.value.code in (errno.EEXIST, errno.EOPNOTSUPP, errno.EINVAL)
    assert classes(dev) == []


@pytest.mark.requires(*RECIPE, "htb")
def test_per_flow_shaping_on_the_ifb(capacity, pair, ifb, iperf3, record):
    """4. Two flows classified by u32 on the destination port get 30 and 70 Mbit/s."""
    capacity.check("100mbit")
    ingress_redirect(pair.b.link, to=ifb)
    flows = {5201: (0x30, "30mbit"), 5202: (0x70, "70mbit")}
    shapers = htb_classes(ifb, {minor: rate for minor, rate in flows.values()}, default=0x70)
    for port, (minor, _) in flows.items():
        classify_dport(ifb, port, shapers[minor].classid)

    runs = shaped_flows(iperf3, pair.a, pair.b, {port: shapers[minor] for port, (minor, _)
                                                 in flows.items()}, mtu=pair.mtu)
    judge(*(run.recorded(record, f"flow to port {port} in class 1:{flows[port][0]:x}",
                         params={"qdisc": "htb", "rate": flows[port][1], "port": port,
                                 "generator": "iperf3"},
                         tolerance=TOLERANCE, goodput_tolerance=GOODPUT_TOLERANCE)
            for port, run in runs.items()))


@pytest.mark.requires(*RECIPE, "htb")
def test_egress_shaping_through_the_ifb(lab, kernel, capacity, pair, generator, record):
    """5. The egress path of the ifb driver: shape va's egress by redirecting it through an ifb."""
    capacity.check("100mbit")
    ifb_a = lab.ifb(pair.a.ns, suffix="ifba", kernel=kernel)
    egress_redirect(pair.a.link, to=ifb_a)
    shaper = HTB("100mbit").apply(ifb_a)
    run = shaped_run(generator, pair.a, pair.b, shaper, mtu=pair.mtu)
    verdict = run.recorded(record, f"egress htb 100mbit {generator.name}",
                           params={"qdisc": "htb", "rate": "100mbit", "generator": generator.name,
                                   "direction": "egress via ifb"},
                           tolerance=TOLERANCE, goodput_tolerance=GOODPUT_TOLERANCE)
    assert mirred_stats(pair.a.link, hook="egress")["packets"] > 0
    judge(verdict)
