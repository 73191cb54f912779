"""Netlink coverage: tc and link kinds that libnl long lacked, built and verified with pyroute2,
each with real traffic and asserted on kernel counters.

1. skbedit: an action sets skb priority / mark; HTB picks the class from it.
2. the cgroup classifier: each process's net_cls classid picks its HTB class.
3. tun/tap: a tap in a bridge, owned by a process that answers ping.
4. GRE devices (gre, gretap): keys, ttl, pmtudisc set and read back over netlink.
5. vnet_hdr: GSO packets written into a tap, forwarded into a GRE tunnel over a 1500 underlay.
"""

import json
import os
import select
import subprocess
import sys
import time

import pytest

from harness.lab import (GRE_KEY, Capture, class_stats, classify_cgroup, classify_mark,
                         counter_windows, delta, filter_kinds, frames, handle, htb_classes, NetCls,
                         flows_together, ping, settled, skbedit_dport, tap, figure, ERROR,
                         RATIO)

figure("rate_error_1:{minor}", ERROR, "class rate error")
figure("fragments_per_segment", RATIO, "fragments per segment")
figure("segments_delivered", RATIO, "segments delivered per segment written")

GUEST_MAC = "02:00:00:00:00:02"
IP_GRE = 47


# -- 1. skbedit ------------------------------------------------------------------------------
@pytest.mark.requires("skbedit", "htb", "ingress", "u32", "fw")
def test_skbedit_sets_priority_and_mark_that_pick_the_class(pair, iperf3, record):
    """Flow to port 5201: ``skbedit priority 1:10`` (HTB takes the class from skb->priority).
    Flow to port 5202: ``skbedit mark 0x20``, then the fw classifier sends mark 0x20 to 1:20.
    Anything else falls into the default class 1:30."""
    dev = pair.a.link
    htb_classes(dev, {0x10: "1gbit", 0x20: "1gbit", 0x30: "1gbit"}, default=0x30)
    skbedit_dport(dev, 5201, prio=1, priority=handle(1, 0x10))
    skbedit_dport(dev, 5202, prio=2, mark=0x20)
    classify_mark(dev, 0x20, handle(1, 0x20))
    assert filter_kinds(dev, handle(1)) and "fw" in filter_kinds(dev, handle(1))

    def bytes_of():
        return {m: class_stats(dev, handle(1, m))["bytes"] for m in (0x10, 0x20, 0x30)}

    flows = {}
    for port, chosen in ((5201, 0x10), (5202, 0x20)):
        before = bytes_of()
        flows[port] = (iperf3.measure(pair.a, pair.b, seconds=2, port=port), chosen,
                       delta(before, settled(bytes_of)))
    record("skbedit priority and mark", params={"flows": {"5201": "priority 1:10",
                                                          "5202": "mark 0x20 -> fw 1:20"}},
           samples={str(p): {"class_bytes": {f"1:{m:x}": v for m, v in d.items()},
                             "traffic": r} for p, (r, _, d) in flows.items()})
    for port, (run, chosen, d) in flows.items():
        others = sum(v for m, v in d.items() if m != chosen)
        # the chosen class carried the flow (payload + headers); the others at most a few
        # control packets
        assert d[chosen] >= run.sent_bytes, (port, d)
        assert others < 0.01 * d[chosen], (port, d)


# -- 2. cgroup classifier ----------------------------------------------------------------------
CGROUP_RATES = {0x10: 10_000_000, 0x20: 20_000_000}


@pytest.mark.requires("cgroup", "net_cls", "htb")
def test_cgroup_classifier_gives_each_process_its_class_rate(run, pair, iperf3, record):
    """Two iperf3 clients in two net_cls cgroups (classid 1:10 and 1:20) send at once through
    one HTB with a ``cgroup`` filter: each lands in its own class and gets that class's rate
    within 5 % (class byte counters over a window after the burst)."""
    net_cls = NetCls(run)  # skips naming CONFIG_CGROUP_NET_CLASSID where it cannot mount
    try:
        dev = pair.a.link
        htb_classes(dev, {m: r for m, r in CGROUP_RATES.items()} | {0x30: "1gbit"}, default=0x30)
        classify_cgroup(dev)
        assert "cgroup" in filter_kinds(dev, handle(1))
        groups = {m: net_cls.group(f"c{m:x}", handle(1, m)) for m in CGROUP_RATES}
        # the clients start together (night 20261202-quiet12-night2: one started over 9 s
        # after the other), and the flows last long enough that the window (after both
        # started) falls inside both; they are stopped before their cgroups go
        joins = {5200 + m: {"preexec_fn": groups[m].join_self} for m in CGROUP_RATES}
        with flows_together(iperf3, pair.a, pair.b, joins) as started:
            flows = {port - 5200: flow for port, flow in started.items()}
            counters = {m: (lambda m=m: class_stats(dev, handle(1, m))["bytes"]) for m in
                        (*CGROUP_RATES, 0x30)}
            windows = counter_windows(counters, warmup=1.5, window=3.0,
                                      wait_on=list(CGROUP_RATES),
                                      running={f"1:{m:x}": f.running for m, f in flows.items()})
            results = {m: f.wait() for m, f in flows.items()}
    finally:
        net_cls.close()
    record("cgroup classifier", params={"rates": {f"1:{m:x}": r for m, r in CGROUP_RATES.items()}},
           samples={f"1:{m:x}": {"window": w, "traffic": results.get(m)}
                    for m, w in windows.items()},
           derived={f"rate_error_1:{m:x}": windows[m].rate_bps / r - 1
                    for m, r in CGROUP_RATES.items()}, tolerance=0.05)
    for m, rate in CGROUP_RATES.items():
        assert windows[m].rate_bps == pytest.approx(rate, rel=0.05), (m, windows[m])
    # nothing of the two flows fell into the default class
    assert windows[0x30].rate_bps < 0.01 * min(CGROUP_RATES.values())


# -- 3. tun/tap ------------------------------------------------------------------------------
@pytest.mark.requires("tun", "bridge")
def test_a_tap_owned_by_a_process_answers_ping_through_a_bridge(lab, record):
    """The kernel refuses to create a tap through rtnetlink (EOPNOTSUPP); the harness makes it
    with TUNSETIFF inside the namespace and does the rest over netlink: bridge port, up, and
    reading back its kind and flags.  A separate process owns the tap and answers ARP and
    ICMP echo for 198.18.30.2: ping from another namespace crosses veth, bridge and tap."""
    from pyroute2.netlink.exceptions import NetlinkError

    a, sw = lab.namespace("a"), lab.namespace("sw")
    with pytest.raises(NetlinkError) as refused:
        tap.rtnetlink_create(sw, lab.run.name("tunx"))
    cable = lab.veth_pair(a, sw, addressed=False)
    cable.a.link.add_address("198.18.30.1/24")
    br = sw.bridge("br")
    t = tap.create(sw, lab.run.name("tap"))
    for port in (cable.b.link, t):
        port.join(br)
    t.up()
    flags = tap.info(t)
    owner = sw.popen([sys.executable, "-m", "harness.net.tap_peer", sw.name, t.name, "198.18.30.2",
                      GUEST_MAC], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout.readline().strip() == "ready"
        before = t.stats()
        ok = ping(a, "198.18.30.2", count=5, timeout=2)
        after = settled(t.stats)
    finally:
        owner.terminate()  # it prints its counts as it ends
        out, _ = lab.run.finish(owner, timeout=10, what="tap owner")
    counts = json.loads(out.strip().splitlines()[-1])
    d = delta({k: before[k] for k in ("rx_packets", "tx_packets")},
              {k: after[k] for k in ("rx_packets", "tx_packets")})
    record("tap owned by a process", samples={"ping": ok, "tap_counters": d, "owner": counts,
                                              "netlink_info": flags,
                                              "rtnetlink_create": str(refused.value)})
    assert refused.value.code == 95  # EOPNOTSUPP: tun/tap creation is not an rtnetlink kind
    assert flags["kind"] == "tun" and flags["type"] == tap.IFLA_TUN_TYPE_TAP
    assert flags["persist"] == 1 and flags["pi"] == 0 and flags["vnet_hdr"] == 0
    assert ok
    assert counts["echo_replies"] >= 5 and counts["arp_replies"] >= 1
    # the kernel's own tap counters: tx = frames handed to the owner, rx = frames it wrote
    assert d["tx_packets"] >= counts["echo_replies"] and d["rx_packets"] >= counts["echo_replies"]


# -- 4. GRE devices ----------------------------------------------------------------------------
GRE_SPECS = {
    "gre": {"gre_ikey": 42, "gre_okey": 42, "gre_ttl": 17, "gre_pmtudisc": 1},
    # ttl inherited (0), no path-MTU discovery (iproute2 refuses that pair with a fixed ttl;
    # the kernel does not)
    "gretap": {"gre_ikey": 7, "gre_okey": 7, "gre_ttl": 0, "gre_pmtudisc": 0},
}


def gre_attrs(me, peer, spec: dict) -> dict:
    return {"gre_local": me.ip4, "gre_remote": peer.ip4, "gre_iflags": GRE_KEY,
            "gre_oflags": GRE_KEY, **spec}


@pytest.mark.parametrize("kind", [pytest.param(k, marks=pytest.mark.requires(k)) for k in GRE_SPECS])
def test_gre_devices_configured_and_read_back_over_netlink(lab, pair, kind, record):
    """Create both ends with keys, ttl and pmtudisc; read every attribute back; ping through;
    a wrong key on one end stops the traffic; delete through netlink."""
    spec = GRE_SPECS[kind]
    ends = []
    for i, (me, peer) in enumerate(((pair.a, pair.b), (pair.b, pair.a)), start=1):
        name = lab.run.name(kind)
        me.ns.nl.link("add", ifname=name, kind=kind, **gre_attrs(me, peer, spec))
        link = me.ns.link(name).add_address(f"198.18.70.{i}/24").up()
        ends.append(link)
    read_kind, data = ends[0].info()
    got = {k: data.get(k.upper().replace("GRE_", "IFLA_GRE_")) for k in spec}
    ok = ping(pair.a.ns, "198.18.70.2", count=3, timeout=1)
    # a change carries every parameter: the kernel rebuilds the tunnel's parameters from the
    # message, and absent ones would be zero
    a_link = ends[0]
    a_link.ns.nl.link("set", index=a_link.index, kind=kind,
                      **gre_attrs(pair.a, pair.b, spec | {"gre_okey": spec["gre_okey"] + 1}))
    changed = a_link.info()[1]["IFLA_GRE_OKEY"]
    wrong_key = ping(pair.a.ns, "198.18.70.2", count=2, timeout=1)
    for link in ends:
        link.delete()
    gone = [link.name in link.ns.links() for link in ends]
    record(f"{kind} over netlink", params={"kind": kind, **spec},
           samples={"read_back": got, "kind": read_kind,
                    "local": data.get("IFLA_GRE_LOCAL"), "remote": data.get("IFLA_GRE_REMOTE"),
                    "ping": ok, "okey_after_change": changed, "ping_with_wrong_key": wrong_key,
                    "still_listed": gone})
    assert read_kind == kind
    assert got == spec
    assert data["IFLA_GRE_LOCAL"] == pair.a.ip4 and data["IFLA_GRE_REMOTE"] == pair.b.ip4
    assert data["IFLA_GRE_IFLAGS"] & GRE_KEY and data["IFLA_GRE_OFLAGS"] & GRE_KEY
    assert changed == spec["gre_okey"] + 1
    assert ok and not wrong_key
    assert gone == [False, False]


# -- 5. vnet_hdr GSO into a GRE tunnel ---------------------------------------------------------
GUEST_IP, FAR_IP = "198.18.40.2", "198.18.61.2"
SEGMENTS_PER_WRITE = 10
WRITES = 40
SEGMENTS = SEGMENTS_PER_WRITE * WRITES

#: the same TCP byte stream written into the tap four ways.  MSS 1460 is what a guest with
#: MTU 1500 uses; 1436 is the largest whose segments fit the tunnel (1436 + 40 + 24 = 1500).
#: ``may_fragment``: the GRE device without path-MTU discovery and with ``ignore-df``, so the
#: outer header does not copy the inner DF (by default it is set: pmtudisc, or inner DF).
CASES = {
    "frames 1460, no vnet_hdr": {"vnet_hdr": False, "mss": 1460, "may_fragment": False},
    "GSO 1460": {"vnet_hdr": True, "mss": 1460, "may_fragment": False},
    "GSO 1460, tunnel ignore-df": {"vnet_hdr": True, "mss": 1460, "may_fragment": True},
    "GSO 1436": {"vnet_hdr": True, "mss": 1436, "may_fragment": False},
}


def gre_behind_tap(lab, may_fragment: bool):
    """hv: a tap (the guest's NIC, 198.18.40.1/24, guest at .2) and a GRE tunnel with inner MTU
    1500 to far over a 1500 veth underlay; hv forwards between them.  The underlay veth gets
    GSO/TSO off, so that GSO packets are segmented in software before it, as for a NIC without
    GRE segmentation offload (a veth would otherwise carry them whole)."""
    hv, far = lab.namespace("hv"), lab.namespace("far")
    underlay = lab.veth_pair(hv, far, mtu=1500)
    underlay.a.link.offloads(gso=False, tso=False)
    tun = lab.tunnel(underlay, "gre", inner_mtu=1500, subnet=61, pmtudisc=not may_fragment,
                     ignore_df=may_fragment)
    t = tap.create(hv, lab.run.name("tap"))
    t.add_address("198.18.40.1/24").up()
    hv.neighbour(GUEST_IP, GUEST_MAC, t)
    far.route("198.18.40.0/24", via=tun.a.ip4)
    hv.sysctl("net.ipv4.ip_forward", 1)
    return hv, far, t, tun


def guest_writes(t, vnet_hdr: bool, mss: int) -> dict:
    """Write SEGMENTS TCP segments of ``mss`` bytes into the tap as a guest would: behind a
    virtio_net_hdr as GSO packets of SEGMENTS_PER_WRITE segments (checksum left to the host),
    or one complete frame per segment.  Then read what the host sent back to the guest."""
    fd = tap.open_queue(t.ns, t.name, vnet_hdr=vnet_hdr)
    tap_mac = bytes.fromhex(t.ns.nl.get_links(t.index)[0].get_attr("IFLA_ADDRESS").replace(":", ""))
    me = frames.mac_bytes(GUEST_MAC)
    seq, ident, writes = 1, 1, 0

    def frame(tcp: bytes) -> bytes:
        return frames.ethernet(tap_mac, me, frames.ETH_P_IP,
                               frames.ipv4(GUEST_IP, FAR_IP, 6, tcp, ident=ident, df=True))

    try:
        for _ in range(WRITES):
            chunk = bytes(mss * SEGMENTS_PER_WRITE)
            if vnet_hdr:
                partial = frames.fold(frames.pseudo_header(GUEST_IP, FAR_IP, 20 + len(chunk)))
                hdr = tap.vnet_header(gso_size=mss, hdr_len=14 + 20 + 20, csum_start=14 + 20,
                                      csum_offset=16)
                os.write(fd, hdr + frame(frames.tcp_header(40000, 9, seq, partial) + chunk))
                writes += 1
                ident += SEGMENTS_PER_WRITE
            else:
                for k in range(SEGMENTS_PER_WRITE):
                    part = chunk[k * mss:(k + 1) * mss]
                    os.write(fd, frame(frames.tcp_segment(40000, 9, seq + k * mss, GUEST_IP,
                                                          FAR_IP, part)))
                    writes += 1
                    ident += 1
            seq += len(chunk)
        back = {"icmp_frag_needed": 0, "tcp": 0, "other": 0}
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            if not select.select([fd], [], [], 0.2)[0]:
                continue
            data = os.read(fd, 65536)
            f = frames.parse(data[tap.VNET_HDR.size:] if vnet_hdr else data)
            if f.get("icmp_type") == 3 and f.get("icmp_code") == 4:
                back["icmp_frag_needed"] += 1
            elif f.get("proto") == 6:
                back["tcp"] += 1
            else:
                back["other"] += 1
    finally:
        os.close(fd)
    return {"writes": writes, "segments": SEGMENTS, "back": back}


def path_counters(hv, far, tun):
    h, f = hv.snmp(), far.snmp()
    gre = tun.a.link.stats()
    return {"hv_IpForwDatagrams": h["IpForwDatagrams"], "hv_IpFragOKs": h["IpFragOKs"],
            "hv_IpFragCreates": h["IpFragCreates"], "hv_IpFragFails": h["IpFragFails"],
            "underlay_tx_packets": tun.underlay.a.link.stats()["tx_packets"],
            "gre_tx_packets": gre["tx_packets"], "gre_tx_dropped": gre["tx_dropped"],
            "far_IpReasmReqds": f["IpReasmReqds"], "far_IpReasmOKs": f["IpReasmOKs"],
            "far_TcpInSegs": f["TcpInSegs"]}


@pytest.mark.requires("tun", "gre")
@pytest.mark.parametrize("case", CASES)
def test_vnet_hdr_gso_packets_into_a_gre_tunnel(lab, case, record):
    """The claim: a tap opened with IFF_VNET_HDR lets a guest hand the host GSO packets, which a
    GRE tunnel over a 1500 underlay then segments instead of fragmenting.  What really happens
    depends on the segment size the guest chose (its packets carry DF, as TCP's do):

    - MTU-sized frames (no vnet_hdr): the tunnel's too-big check answers every frame with ICMP
      "fragmentation needed"; nothing crosses, nothing is fragmented.
    - GSO with the guest's MSS 1460: segmented after encapsulation, but each 1524-byte segment
      is too big for the underlay and the tunnel set DF: all dropped (IpFragFails), and no ICMP
      reaches the guest - a silent black hole.
    - the same through a tunnel with ``nopmtudisc ignore-df`` (outer DF clear): segmented, then
      every segment fragmented in two and reassembled by the far end.
    - GSO with MSS 1436 (fits the tunnel): segmented, not fragmented; everything crosses.
    """
    how = CASES[case]
    hv, far, t, tun = gre_behind_tap(lab, how["may_fragment"])
    before = path_counters(hv, far, tun)
    with Capture(far, tun.underlay.b.link.name, direction="in") as cap:
        wrote = guest_writes(t, how["vnet_hdr"], how["mss"])
        d = delta(before, settled(lambda: path_counters(hv, far, tun)))
    ip_sizes = [n - 14 for n in cap.lengths]  # the capture includes Ethernet
    back = wrote["back"]
    record(f"vnet_hdr claim: {case}", params={"case": case, **how, "segments": SEGMENTS,
                                              "gre_inner_mtu": 1500, "underlay_mtu": 1500},
           samples={"written": wrote, "counters": d, "underlay_ip_sizes": sorted(set(ip_sizes)),
                    "underlay_packets_captured": len(ip_sizes),
                    "underlay_full_sized": ip_sizes.count(1500)},
           derived={"fragments_per_segment": d["hv_IpFragCreates"] / SEGMENTS,
                    "segments_delivered": d["far_TcpInSegs"] / SEGMENTS})
    assert d["hv_IpForwDatagrams"] >= wrote["writes"], d  # every write entered the host
    if case == "frames 1460, no vnet_hdr":
        assert back["icmp_frag_needed"] == SEGMENTS and d["far_TcpInSegs"] == 0, (back, d)
        assert d["hv_IpFragCreates"] == 0 and d["hv_IpFragFails"] == 0, d
    elif case == "GSO 1460":
        assert d["hv_IpFragFails"] == SEGMENTS and d["gre_tx_dropped"] == WRITES, d
        assert d["far_TcpInSegs"] == 0 and back["icmp_frag_needed"] == 0, (back, d)
    elif case == "GSO 1460, tunnel ignore-df":
        assert d["hv_IpFragOKs"] == SEGMENTS and d["hv_IpFragCreates"] == 2 * SEGMENTS, d
        assert d["far_IpReasmOKs"] == SEGMENTS, d
        assert max(ip_sizes) <= 1500
    else:
        # one underlay packet per segment (far's TcpInSegs counts after GRO merged them again;
        # a few packets more are ARP and the like), each a full 1500 bytes
        assert d["hv_IpFragCreates"] == 0 and d["far_IpReasmReqds"] == 0, d
        assert SEGMENTS <= d["underlay_tx_packets"] <= SEGMENTS + 10, d
        assert max(ip_sizes) == 1436 + 40 + tun.overhead
