"""Ingress shaping through an ifb device: the recipe works, and it is accurate.

    tc qdisc add dev vb handle ffff: ingress
    tc filter add dev vb parent ffff: protocol all u32 match u32 0 0 flowid 1:1 \\
        action mirred egress redirect dev ifb0
    tc qdisc add dev ifb0 root handle 1: htb default 10
    tc class add dev ifb0 parent 1: classid 1:10 htb rate R ceil R
"""

import errno

import pytest
from pyroute2.netlink.exceptions import NetlinkError

from harness.lab import (HTB, IN_GUEST, SENDER_LIMITED, TBF, add_class_under_ingress, Capacity,
                         carried_packets, classes, classify_dport, counter_windows,
                         egress_redirect, error, expected_goodput, goodput_metrics, htb_classes,
                         ingress_redirect,
                         judge_shaping, mirred_stats, parse_rate, qdisc_drops, settled, shaped_run,
                         shaping_rates, tcp_receiver, unreadable_goodput, figure, FLAG, RATE)

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


def judge(verdict):
    """Assert shaping accuracy (harness.measure.shaping): above the rate by more than the
    tolerance fails whatever the overlimits say; only a figure below the tolerance from a
    shaper that never throttled is skipped as sender-limited (and its record says so)."""
    if verdict.outcome == SENDER_LIMITED:
        pytest.skip(verdict.reason)
    assert verdict.outcome == "pass", verdict.reason


@pytest.fixture(params=["iperf3", "netperf"])
def generator(request):
    return request.getfixturevalue(request.param)


def test_unshaped_veth_rate_is_the_baseline(request, capacity, record):
    """6. The unshaped rate of the pair (veth, or the NICs of ``--nics``), recorded as the run's
    baseline.  Shaped rates above a third of it are skipped (there the CPU, not the shaper, would
    set the rate), so it must be at least three times the lowest shaped rate, or no shaping figure
    could be judged.  Over NICs the record is "unshaped NIC baseline": never compared with veth."""
    run = capacity.traffic
    lowest = min(parse_rate(r) for r in shaping_rates(request.config, RATES))
    record(f"unshaped {'NIC' if capacity.nics else 'veth'} baseline", params={"generator": "iperf3", "mtu": 1500},
           samples={"intervals_bps": run.intervals_bps, "traffic": run.as_record()},
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
    veth0, ifb0, mirred0 = settled(lambda: (pair.b.link.stats(), ifb.stats(),
                                            mirred_stats(pair.b.link)))
    drops0 = qdisc_drops(ifb)
    run = iperf3.measure(pair.a, pair.b, seconds=2)
    veth1, ifb1, mirred1 = settled(lambda: (pair.b.link.stats(), ifb.stats(),
                                            mirred_stats(pair.b.link)))

    def delta(key, before, after):
        return after[key] - before[key]

    arrived = delta("rx_packets", veth0, veth1)
    dropped_before_ifb = qdisc_drops(ifb) - drops0
    # the ifb counts as received, then drops, what was sent to it without a redirect (its own
    # IPv6 chatter): those are not part of the recipe
    own = delta("rx_dropped", ifb0, ifb1)
    into_ifb = delta("rx_packets", ifb0, ifb1) - own
    out_of_ifb = delta("tx_packets", ifb0, ifb1)
    segments = delta("packets", mirred0, mirred1)
    record("recipe", params={"generator": "iperf3"},
           samples={"veth_rx_packets": arrived, "ifb_rx_packets": into_ifb,
                    "ifb_tx_packets": out_of_ifb, "mirred_segments": segments,
                    "ifb_queue_drops": dropped_before_ifb, "ifb_own_packets_dropped": own,
                    "ifb_rx_bytes": delta("rx_bytes", ifb0, ifb1),
                    "received_payload_bytes": run.received_bytes},
           derived={"goodput_bps": run.goodput_bps})
    assert mirred1["targets"] == [ifb.index]
    assert arrived > 1000
    # what mirred redirected entered the ifb's own queue (a full queue drops there, and mirred
    # counts what it could not hand over).  Under two concurrent runs one packet in 55649 was
    # once unaccounted for: allow 2 packets or 0.01 %, far below any broken redirect.
    # A veth counts skbs, as the ifb does; a real NIC counts frames on the wire, which GRO
    # merges before the ingress hook: there mirred's segment count is what matches.
    lost = delta("rx_dropped", veth0, veth1) + (mirred1["drops"] - mirred0["drops"])
    redirected = segments if pair.nics else into_ifb
    unaccounted = arrived - lost - redirected - dropped_before_ifb
    assert abs(unaccounted) <= max(2, arrived // 10000), "every packet on vb went to the ifb"
    assert out_of_ifb == into_ifb - delta("tx_dropped", ifb0, ifb1)
    assert segments >= into_ifb
    assert delta("rx_bytes", ifb0, ifb1) >= run.received_bytes


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

    record(f"{qdisc} {rate} {generator.name}",
           params={"qdisc": qdisc, "rate": rate, "generator": generator.name, "mtu": pair.mtu,
                   "direction": "ingress via ifb"},
           samples={"window": run.window.as_record(), "received": run.received.as_record(),
                    "traffic": run.traffic.as_record()},
           derived=run.derived(TOLERANCE, GOODPUT_TOLERANCE), tolerance=TOLERANCE)
    judge(run.verdict(TOLERANCE, GOODPUT_TOLERANCE))


@pytest.mark.requires("ingress", "htb")
def test_ingress_qdisc_cannot_hold_classes(pair, record):
    """3. The kernel refuses an HTB class under ffff: - the reason ifb exists."""
    dev = pair.b.link
    dev.ns.nl.tc("add", "ingress", dev.index, 0xFFFF0000)
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

    servers = {port: iperf3.serve(pair.b, port) for port in flows}  # then both clients at once
    # long enough that the window (after both started) falls inside both flows, however far
    # apart they start (Python start-up under emulation: seconds)
    started = {port: iperf3.start(pair.a, pair.b, seconds=14, port=port, server=servers[port])
               for port in flows}
    try:
        counters = {p: shapers[m].counter for p, (m, _) in flows.items()}
        counters["throttled"] = shapers[0x30].throttled
        with tcp_receiver(pair.b.ns.name) as received:
            for port in flows:  # what each flow's receiver got, over the same window
                counters[f"received {port}"] = lambda p=port: received(p)
            windows = counter_windows(counters, warmup=2.0, window=3.0, wait_on=list(flows),
                                      in_order={f"received {port}" for port in flows},
                                      running={f"port {p}": f.running
                                               for p, f in started.items()})
        results = {port: flow.wait() for port, flow in started.items()}
    finally:
        for flow in started.values():
            flow.stop()

    throttled = windows["throttled"].end_bytes - windows["throttled"].start_bytes
    drops = qdisc_drops(ifb)
    verdicts = {}
    for port, (minor, rate) in flows.items():
        bps = parse_rate(rate)
        expected = expected_goodput(bps, pair.mtu)
        received = windows[f"received {port}"]
        goodput_error = error(received.rate_bps, expected)
        not_judged = unreadable_goodput(received, drops,
                                        sum(carried_packets(windows[p]) for p in flows))
        errors = {"kernel counter": error(windows[port].rate_bps, bps)}
        errors |= {} if not_judged else {"goodput": goodput_error}
        verdicts[port] = judge_shaping(errors, throttled, TOLERANCE,
                                       {"goodput": GOODPUT_TOLERANCE})
        record(f"flow to port {port} in class 1:{minor:x}",
               params={"qdisc": "htb", "rate": rate, "port": port, "generator": "iperf3"},
               samples={"window": windows[port].as_record(), "received": received.as_record(),
                        "traffic": results[port].as_record()},
               derived={"configured_bps": bps, "expected_goodput_bps": expected,
                        "goodput_bps": received.rate_bps, "goodput_error": goodput_error,
                        "goodput_judged": not not_judged, "shaper_drops": drops,
                        "whole_run_goodput_bps": results[port].goodput_bps,
                        "whole_run_goodput_error": error(results[port].goodput_bps, expected),
                        "counter_rate_bps": windows[port].rate_bps,
                        "counter_error": errors["kernel counter"], "shaper_throttled": throttled,
                        "shaping_verdict": verdicts[port].outcome,
                        "verdict_reason": verdicts[port].reason,
                        "metrics": goodput_metrics(not_judged)},
               tolerance=TOLERANCE)
    failed = [f"port {p}: {v.reason}" for p, v in verdicts.items() if v.outcome == "fail"]
    assert not failed, "; ".join(failed)
    for verdict in verdicts.values():
        judge(verdict)  # a sender-limited flow skips (the other passed)


@pytest.mark.requires(*RECIPE, "htb")
def test_egress_shaping_through_the_ifb(lab, kernel, capacity, pair, generator, record):
    """5. The egress path of the ifb driver: shape va's egress by redirecting it through an ifb."""
    capacity.check("100mbit")
    ifb_a = lab.ifb(pair.a.ns, suffix="ifba", kernel=kernel)
    egress_redirect(pair.a.link, to=ifb_a)
    shaper = HTB("100mbit").apply(ifb_a)
    run = shaped_run(generator, pair.a, pair.b, shaper, mtu=pair.mtu)

    record(f"egress htb 100mbit {generator.name}",
           params={"qdisc": "htb", "rate": "100mbit", "generator": generator.name,
                   "direction": "egress via ifb"},
           samples={"window": run.window.as_record(), "received": run.received.as_record(),
                    "traffic": run.traffic.as_record()},
           derived=run.derived(TOLERANCE, GOODPUT_TOLERANCE), tolerance=TOLERANCE)
    assert mirred_stats(pair.a.link, parent=0xFFFFFFF3)["packets"] > 0
    judge(run.verdict(TOLERANCE, GOODPUT_TOLERANCE))
