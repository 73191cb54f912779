"""The root namespace's state, as kernel-lab could change it (tests compare before/after)."""

from pyroute2 import IPRoute

SYSCTLS = ["net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding", "net/core/default_qdisc",
           "net/ipv4/tcp_congestion_control", "net/ipv4/conf/all/rp_filter",
           "net/core/rmem_max", "net/core/wmem_max", "net/ipv4/ip_no_pmtu_disc"]
def root_namespace() -> dict:
    """Root-namespace state kernel-lab could change: links, addresses, routes, qdiscs, sysctls."""
    with IPRoute() as ipr:
        links = sorted((m.get_attr("IFLA_IFNAME"), m.get_attr("IFLA_MTU"), m["flags"] & 1,
                        m.get_attr("IFLA_MASTER")) for m in ipr.get_links())
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
