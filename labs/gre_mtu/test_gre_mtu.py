"""MTU-induced fragmentation through GRE and VXLAN tunnels, and the two fixes.

Two namespaces joined by a veth underlay with MTU 1500; a tunnel between them.  A packet sized
for an inner MTU of 1500 no longer fits once the tunnel adds its headers: if it is not a GSO
packet, the IP layer fragments it, and losing any fragment loses the whole datagram.  Fixes:
a lower inner MTU (1400), or GSO, so that big packets are segmented instead of fragmented.
"""

import pytest

from harness.lab import (BYTES, SHARE, TWO_SIDED, binomial_sigma, Capture, delta, figure,
                         format_rate, judged, largest_unfragmented, link_drops, random_loss,
                         settled, share_lost)

# this lab's own figures (goodput, loss and fragment counts are the generator's and the
# path accounting's: harness.lab declares those)
figure("overhead", BYTES, "tunnel overhead", doc="underlay MTU - largest DF packet through")
figure("expected_overhead", BYTES, "expected overhead")
figure("largest_packet", BYTES, "largest packet")
figure("expected_loss", SHARE, "predicted loss", doc="1-(1-p)^k")
figure("sigma", SHARE, "binomial sigma of the prediction")

UNDERLAY_MTU = 1500
LOSS_PERCENT = 10
#: the loss figure's bound in binomial standard errors of its prediction 1-(1-p)^k over the
#: datagrams that entered the tunnel (about 5000: sigma 0.55 points at k = 2, 0.42 at k = 1).
#: A false alarm has a chance of 7e-6 per figure; the fault loss-12pct (12 % dropped where
#: 10 % is predicted: +3.6 points at k = 2, 6.5 sigma) lies outside.  Measured spread: README.
LOSS_Z = 4.5
UDP_RATE = 20_000_000  # well below what even an emulated guest carries
IP_PROTOCOL = {"gre": "gre", "vxlan": "udp"}


@pytest.fixture(params=[pytest.param(k, marks=pytest.mark.requires(k)) for k in ("gre", "vxlan")])
def kind(request):
    return request.param


def frag_counters(tun):
    """Counters along the path a -> tunnel -> underlay -> tunnel -> b: the sender's UDP and IP
    layers, both tunnel ends and both underlay ends (link counters), the receiver's IP and UDP
    layers."""
    a, b = tun.a.ns.snmp(), tun.b.ns.snmp()
    ta, tb = tun.a.link.stats(), tun.b.link.stats()
    ua, ub = tun.underlay.a.link.stats(), tun.underlay.b.link.stats()
    return {"UdpOutDatagrams": a["UdpOutDatagrams"], "IpFragOKs": a["IpFragOKs"],
            "IpFragCreates": a["IpFragCreates"], "IpFragFails": a["IpFragFails"],
            "tunnel_a_tx_packets": ta["tx_packets"], "tunnel_a_tx_dropped": ta["tx_dropped"],
            "tunnel_a_tx_errors": ta["tx_errors"],
            "underlay_a_tx_packets": ua["tx_packets"], "underlay_a_tx_dropped": ua["tx_dropped"],
            "underlay_b_rx_packets": ub["rx_packets"], "underlay_b_rx_dropped": ub["rx_dropped"],
            "IpReasmReqds": b["IpReasmReqds"], "IpReasmOKs": b["IpReasmOKs"],
            "IpReasmFails": b["IpReasmFails"],
            "tunnel_b_rx_packets": tb["rx_packets"], "tunnel_b_rx_dropped": tb["rx_dropped"],
            "UdpInDatagrams": b["UdpInDatagrams"], "UdpRcvbufErrors": b["UdpRcvbufErrors"],
            "UdpInErrors": b["UdpInErrors"]}


def path_loss(run, d) -> tuple[float, int]:
    """The share of datagrams the path from a's socket to b's socket lost, less what the
    kernel's counters put on the machine: datagrams that reached b's UDP layer but not the
    socket (UdpRcvbufErrors) and underlay packets a veth dropped.  Returns it with the number
    of datagrams sent."""
    sent = run.datagrams_sent or 0
    arrived = sent - (run.datagrams_lost or 0)
    return share_lost(sent, arrived, explained=d["UdpRcvbufErrors"] + underlay_drops(d)), sent


def underlay_drops(d) -> int:
    """Underlay packets the machine dropped (a veth whose peer's backlog was full), by the
    kernel's own count: each may cost a datagram, and none is the tunnel's doing."""
    return link_drops({"tx_dropped": d["underlay_a_tx_dropped"]},
                      {"rx_dropped": d["underlay_b_rx_dropped"]})


def per_datagram(d):
    return d["IpFragCreates"] / d["IpFragOKs"] if d["IpFragOKs"] else 0.0


def test_overhead_sets_the_largest_unfragmented_packet(lab, pair, kind, record):
    """1. With DF set, the largest packet that crosses is the underlay MTU minus the overhead
    (24 bytes for GRE over IPv4 without key, 50 for VXLAN)."""
    tun = lab.tunnel(pair, kind, inner_mtu=1500)
    largest = largest_unfragmented(tun.a.ns, tun.b.ip4, high=1500)
    learned = tun.a.ns.path_mtu(tun.b.ip4)
    record(f"{kind} overhead", params={"tunnel": kind, "underlay_mtu": UNDERLAY_MTU},
           samples={"largest_df_packet": largest, "learned_path_mtu": learned},
           derived={"overhead": UNDERLAY_MTU - largest, "expected_overhead": tun.overhead})
    assert largest == UNDERLAY_MTU - tun.overhead
    assert learned == UNDERLAY_MTU - tun.overhead


@pytest.mark.parametrize("inner_mtu", [1500, 1400])
def test_datagrams_sized_for_the_inner_mtu(lab, pair, kind, inner_mtu, generator, record,
                                           mtu_table):
    """2. UDP datagrams that fill an inner MTU of 1500 leave as two fragments each; at inner
    MTU 1400 nothing is fragmented."""
    gen = generator.name
    tun = lab.tunnel(pair, kind, inner_mtu=inner_mtu)
    payload = tun.a.link.mtu - 28  # what an application sizes its datagrams from: the link's MTU
    before = frag_counters(tun)
    run = generator.measure(tun.a, tun.b, seconds=3, protocol="udp", size=payload,
                            bandwidth=UDP_RATE if generator.paces else None)
    d = delta(before, settled(lambda: frag_counters(tun)))
    k = per_datagram(d)
    traffic = f"UDP {gen}" + (" 20M" if generator.paces else "")
    record(f"{kind} MTU {inner_mtu} {gen} UDP", params={"tunnel": kind, "inner_mtu": inner_mtu,
                                                        "generator": gen, "payload": payload,
                                                        "traffic": traffic},
           samples={"counters": d, "traffic": run},
           derived={"fragments_per_datagram": k, "goodput_bps": run.goodput_bps,
                    "datagram_loss": run.datagram_loss, "underlay_drops": underlay_drops(d),
                    "reassembly_failures": d["IpReasmFails"],
                    "receiver_rcvbuf_errors": d["UdpRcvbufErrors"]})
    mtu_table.add(kind, inner_mtu, "-", traffic, format_rate(run.goodput_bps),
                  f"{k:.2f}", f"{(run.datagram_loss or 0):.2%}", d["IpFragCreates"])
    assert run.datagrams_sent > 1000, run
    if inner_mtu == 1500:
        # every data datagram the generator sent was fragmented, in two; the first one or two,
        # sent before the path MTU was known, may have failed to (IpFragFails).  (The
        # generators' own small datagrams, a connect message or end markers, fit unfragmented.)
        assert abs(d["IpFragOKs"] + d["IpFragFails"] - run.datagrams_sent) <= 2, d
        assert d["IpFragCreates"] == 2 * d["IpFragOKs"], d
        # every datagram whose fragments all arrived was reassembled: a fragment the receiver
        # never got (dropped by a veth's backlog, or on a real wire) may cost one datagram each
        missing = d["IpFragCreates"] - d["IpReasmReqds"]
        if generator.paces:  # the receiver never runs short of reassembly memory
            assert d["IpReasmOKs"] >= d["IpFragOKs"] - missing - 2, d
        else:  # unpaced, a slow receiver may: the kernel counts each datagram it gave up on
            assert d["IpReasmOKs"] + d["IpReasmFails"] >= d["IpFragOKs"] - missing - 2, d
    else:
        assert d["IpFragCreates"] == 0 and d["IpReasmReqds"] == 0, d


@pytest.mark.uses("netem")  # else an nftables drop rule (CONFIG_NFT_NUMGEN)
def test_fragment_loss_multiplies_datagram_loss(lab, pair, kind, kernel, iperf3, record,
                                                mtu_table):
    """3. With p = 10 % of underlay packets lost, a datagram of k fragments is lost with
    1 - (1 - p)^k: about 19 % at inner MTU 1500 (k = 2), 10 % at 1400 (k = 1)."""
    how = random_loss(kernel, pair.a, pair.b, LOSS_PERCENT, IP_PROTOCOL[kind])
    p = LOSS_PERCENT / 100
    results = {}
    for inner_mtu, subnet in ((1500, 100), (1400, 101)):
        # one tunnel at a time: two GRE devices with the same endpoints and no key clash
        tun = lab.tunnel(pair, kind, inner_mtu=inner_mtu, subnet=subnet,
                         suffix=f"t{inner_mtu}", vxlan_id=inner_mtu)
        # iperf3's own control connection crosses the lossy path too: retry if it fails (seen:
        # three failed attempts in a row once in CI), counting each attempt's counters afresh
        start = {}
        run = iperf3.measure(tun.a, tun.b, seconds=3, protocol="udp", bandwidth=UDP_RATE,
                             size=tun.a.link.mtu - 28, port=5201 + inner_mtu, tool_retries=4,
                             before_attempt=lambda: start.update(counters=frag_counters(tun)))
        d = delta(start["counters"], settled(lambda: frag_counters(tun)))
        k = round(per_datagram(d)) or 1
        expected = 1 - (1 - p) ** k
        lost, into = path_loss(run, d)
        sigma = binomial_sigma(expected, into)
        results[inner_mtu] = (lost, k, expected, sigma, into)
        record(f"{kind} MTU {inner_mtu} with {LOSS_PERCENT} % loss",
               params={"tunnel": kind, "inner_mtu": inner_mtu, "loss_percent": LOSS_PERCENT,
                       "impairment": how, "traffic": f"UDP, {LOSS_PERCENT} % loss"},
               samples={"counters": d, "traffic": run},
               derived={"fragments_per_datagram": k, "tunnel_loss": lost,
                        "datagram_loss": run.datagram_loss, "expected_loss": expected,
                        "sigma": sigma, "underlay_drops": underlay_drops(d),
                        "receiver_rcvbuf_errors": d["UdpRcvbufErrors"],
                        # injected on purpose: off the prediction either way is wrong, and the
                        # tunnel's share is one binomial draw a night (the generator's own
                        # datagram loss also carries the machine's drops: no sigma for it)
                        "metrics": judged("tunnel_loss", TWO_SIDED, sigma=sigma)
                        | judged("datagram_loss", TWO_SIDED)},
               tolerance=LOSS_Z * sigma)
        mtu_table.add(kind, inner_mtu, f"{LOSS_PERCENT} % loss ({how})", "UDP iperf3 (20 Mbit/s)",
                      format_rate(run.goodput_bps), f"{per_datagram(d):.2f}",
                      f"{lost:.2%} (expected {expected:.2%})", d["IpFragCreates"])
        tun.remove()
    for inner_mtu, (lost, k, expected, sigma, into) in results.items():
        assert into > 1000, (inner_mtu, into)
        # LOSS_Z binomial standard errors of the prediction (see LOSS_Z)
        assert abs(lost - expected) <= LOSS_Z * sigma, (inner_mtu, k, lost, expected, sigma)
    assert results[1500][1] == 2 and results[1400][1] == 1
    assert results[1500][0] > results[1400][0] + 0.04


CASES = {"1500, GSO/TSO off": (1500, False), "1400": (1400, True), "1500, GSO kept": (1500, True)}


@pytest.mark.parametrize("case", CASES)
def test_tcp_is_segmented_not_fragmented(lab, pair, kind, case, iperf3, record, mtu_table):
    """4. TCP never sends IP fragments (DF is always set): with inner MTU 1500 the tunnel's
    too-big check teaches TCP the path MTU; with GSO kept, packets far larger than the MTU
    enter the tunnel and are segmented, not fragmented."""
    inner_mtu, gso = CASES[case]
    tun = lab.tunnel(pair, kind, inner_mtu=inner_mtu)
    if not gso:
        tun.a.link.offloads(gso=False, tso=False)
    before = frag_counters(tun)
    with Capture(tun.a.ns, tun.a.link.name) as cap:  # what the sender puts into the tunnel
        run = iperf3.measure(tun.a, tun.b, seconds=3)
    sizes = cap.lengths
    d = delta(before, frag_counters(tun))
    learned = tun.a.ns.path_mtu(tun.b.ip4)
    l2 = 14 if kind == "vxlan" else 0  # vxlan captures carry the inner Ethernet header
    largest = max(sizes) - l2 if sizes else 0
    record(f"{kind} TCP {case}", params={"tunnel": kind, "inner_mtu": inner_mtu, "gso": gso,
                                         "traffic": "TCP, " + case.split(", ", 1)[-1]
                                         .replace("GSO/TSO", "GSO")},
           samples={"counters": d, "captured_sizes_max": largest, "captured": len(sizes),
                    "learned_path_mtu": learned, "traffic": run},
           derived={"goodput_bps": run.goodput_bps, "largest_packet": largest})
    mtu_table.add(kind, inner_mtu, "GSO/TSO on" if gso else "GSO/TSO off", "TCP iperf3",
                  format_rate(run.goodput_bps), "-", "-", d["IpFragCreates"])
    assert d["IpFragCreates"] == 0 and d["IpReasmReqds"] == 0, d
    assert sizes, "tcpdump saw no packets"
    if gso:
        assert largest > inner_mtu, "GSO packets larger than the MTU enter the tunnel"
    else:
        assert largest <= inner_mtu
    if inner_mtu == 1500:
        assert learned == UNDERLAY_MTU - tun.overhead, "the tunnel taught TCP the path MTU"
    assert run.goodput_bps > 10e6
