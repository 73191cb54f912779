"""net: the lab's network, built through netlink (pyroute2) with an undo for every step.

Owns namespaces, links (veth, ifb, gre/gretap/vxlan tunnels, taps, bridges), addresses, MTUs
and offloads (``topology``); qdiscs, classes, filters and actions (``tc``); a private Open
vSwitch per namespace (``ovs``); net_cls cgroups; impairments (random loss); borrowed real
NICs and their give-back (``nic``); and the sweeper that clears what a dead run left.  It
imports ``harness.run``, ``harness.kernel`` and ``harness.core``.
"""
