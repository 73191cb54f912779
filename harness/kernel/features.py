"""The kernel features labs ask for, each with the CONFIG option that provides it.

``@pytest.mark.requires("gre")`` and ``kernel.require("gre")`` name features from this table;
a missing one is reported as ``kernel lacks CONFIG_NET_IPGRE (GRE tunnels)``.  To add a
feature: one line here (name, CONFIG option, module, how to probe it); ``kernel-lab kconfig``
and the capability table pick it up.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Feature:
    name: str
    config: str
    module: str | None
    kind: str  # link | qdisc | filter | action | genl | chardev | cgroup | sock_diag
    probe_arg: str = ""
    params: tuple = ()
    describe: str = ""


#: what every lab needs, whatever it tests (namespaces, the protocols, packet sockets for
#: captures, the traffic control core, nftables for random loss where netem is missing)
BASE_CONFIG = ["CONFIG_NET_NS", "CONFIG_INET", "CONFIG_IPV6", "CONFIG_PACKET", "CONFIG_NET_SCHED",
               "CONFIG_NET_CLS_ACT", "CONFIG_VETH", "CONFIG_NF_TABLES", "CONFIG_NF_TABLES_NETDEV",
               "CONFIG_NFT_NUMGEN"]

#: options an option "depends on" (rather than selects): merged into a config without them,
#: ``make olddefconfig`` switches the option off again, so the fragment lists them first
DEPENDS = {"CONFIG_NET_IPGRE": ["CONFIG_NET_IPGRE_DEMUX"],
           "CONFIG_INET_TCP_DIAG": ["CONFIG_INET_DIAG"],
           "CONFIG_NF_TABLES": ["CONFIG_NETFILTER"],
           "CONFIG_VETH": ["CONFIG_NETDEVICES", "CONFIG_NET_CORE"],
           "CONFIG_CGROUP_NET_CLASSID": ["CONFIG_CGROUPS"]}

#: facilities the harness itself reads in every lab that measures (not a lab's recipe): the
#: receiver's TCP byte counter (inet_diag's tcp_info, harness.net.diag.tcp_receiver) and the
#: packet sockets' drops (packet_diag).  Each is a feature below: in the fragment, in ``caps``,
#: probed, and required by the ``kernel`` fixture before any test runs.
HARNESS_FEATURES = ("tcp_diag", "packet_diag")

FEATURES = {f.name: f for f in [
    Feature("tcp_diag", "CONFIG_INET_TCP_DIAG", "tcp_diag", "sock_diag", "tcp",
            describe="TCP sockets over inet_diag (CONFIG_INET_DIAG): the receiver's byte counter"),
    Feature("packet_diag", "CONFIG_PACKET_DIAG", "af_packet_diag", "sock_diag", "packet",
            describe="packet sockets over sock_diag (a userspace switch's drops)"),
    Feature("veth", "CONFIG_VETH", "veth", "link", "veth", describe="veth pairs"),
    Feature("ifb", "CONFIG_IFB", "ifb", "link", "ifb", ("numifbs=1",), "intermediate functional block"),
    Feature("bridge", "CONFIG_BRIDGE", "bridge", "link", "bridge", describe="Linux bridge"),
    Feature("macvlan", "CONFIG_MACVLAN", "macvlan", "link", "macvlan"),
    Feature("vxlan", "CONFIG_VXLAN", "vxlan", "link", "vxlan", describe="VXLAN tunnels"),
    Feature("gre", "CONFIG_NET_IPGRE", "ip_gre", "link", "gre", describe="GRE tunnels"),
    Feature("gretap", "CONFIG_NET_IPGRE", "ip_gre", "link", "gretap", describe="GRE tap tunnels"),
    Feature("geneve", "CONFIG_GENEVE", "geneve", "link", "geneve"),
    Feature("vlan", "CONFIG_VLAN_8021Q", "8021q", "link", "vlan", describe="802.1Q VLAN devices"),
    Feature("dummy", "CONFIG_DUMMY", "dummy", "link", "dummy"),
    Feature("tun", "CONFIG_TUN", "tun", "chardev", "/dev/net/tun", describe="tun/tap devices"),
    Feature("openvswitch", "CONFIG_OPENVSWITCH", "openvswitch", "genl", "ovs_datapath",
            describe="OVS kernel datapath"),
    Feature("htb", "CONFIG_NET_SCH_HTB", "sch_htb", "qdisc", "htb"),
    Feature("tbf", "CONFIG_NET_SCH_TBF", "sch_tbf", "qdisc", "tbf"),
    Feature("ingress", "CONFIG_NET_SCH_INGRESS", "sch_ingress", "qdisc", "ingress",
            describe="ingress and clsact qdiscs"),
    Feature("netem", "CONFIG_NET_SCH_NETEM", "sch_netem", "qdisc", "netem"),
    Feature("fq_codel", "CONFIG_NET_SCH_FQ_CODEL", "sch_fq_codel", "qdisc", "fq_codel"),
    Feature("cake", "CONFIG_NET_SCH_CAKE", "sch_cake", "qdisc", "cake"),
    Feature("prio", "CONFIG_NET_SCH_PRIO", "sch_prio", "qdisc", "prio"),
    Feature("hfsc", "CONFIG_NET_SCH_HFSC", "sch_hfsc", "qdisc", "hfsc",
            describe="HFSC (hierarchical fair service curve)"),
    Feature("fq", "CONFIG_NET_SCH_FQ", "sch_fq", "qdisc", "fq", describe="fq (per-flow pacing)"),
    Feature("drr", "CONFIG_NET_SCH_DRR", "sch_drr", "qdisc", "drr",
            describe="DRR (deficit round robin)"),
    Feature("u32", "CONFIG_NET_CLS_U32", "cls_u32", "filter", "u32"),
    Feature("flower", "CONFIG_NET_CLS_FLOWER", "cls_flower", "filter", "flower"),
    Feature("matchall", "CONFIG_NET_CLS_MATCHALL", "cls_matchall", "filter", "matchall"),
    Feature("cgroup", "CONFIG_NET_CLS_CGROUP", "cls_cgroup", "filter", "cgroup",
            describe="cgroup classifier"),
    Feature("net_cls", "CONFIG_CGROUP_NET_CLASSID", None, "cgroup", "net_cls",
            describe="cgroup v1 net_cls controller"),
    Feature("fw", "CONFIG_NET_CLS_FW", "cls_fw", "filter", "fw", describe="fw (mark) classifier"),
    Feature("cls_bpf", "CONFIG_NET_CLS_BPF", "cls_bpf", "filter", "bpf"),
    Feature("mirred", "CONFIG_NET_ACT_MIRRED", "act_mirred", "action", "mirred"),
    Feature("police", "CONFIG_NET_ACT_POLICE", "act_police", "action", "police"),
    Feature("gact", "CONFIG_NET_ACT_GACT", "act_gact", "action", "gact"),
    Feature("skbedit", "CONFIG_NET_ACT_SKBEDIT", "act_skbedit", "action", "skbedit"),
    Feature("act_vlan", "CONFIG_NET_ACT_VLAN", "act_vlan", "action", "vlan"),
]}
