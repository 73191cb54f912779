"""A real NIC in a lab: only when the user names it, never the one that reaches the machine.

    pytest --nic enp3s0 labs/...          # the NIC becomes the b side of the lab's underlay
    pytest --nic eth0 --force-nic ...     # even though eth0 carries the default route

``check_nic`` refuses, unless forced, an interface that carries a default route or an address
from which the machine is reached (the source of an established SSH session, or any
address outside the lab ranges on it).  ``borrow`` moves the NIC into a lab namespace and
registers its undo: moved back into the root namespace under its own name, with its MTU and
state as they were.  Addresses are not carried over: the lab sets its own.
"""

from __future__ import annotations

import ipaddress

from .errors import HarnessError
from .units import ALLOWED_NETWORKS


def _routes_via(ipr, index: int) -> list:
    return [r for r in ipr.get_routes(family=2) + ipr.get_routes(family=10)
            if r.get_attr("RTA_OIF") == index and r["dst_len"] == 0 and r.get_attr("RTA_TABLE") == 254]


def check_nic(ipr, name: str, force: bool = False) -> int:
    """The interface index of ``name``, after the safety checks; ``ipr`` is an IPRoute of the
    namespace the NIC lives in (the root namespace in real use)."""
    found = ipr.link_lookup(ifname=name)
    if not found:
        raise HarnessError(f"no interface {name!r}")
    index = found[0]
    if force:
        return index
    if _routes_via(ipr, index):
        raise HarnessError(f"{name} carries the default route; refusing it (add --force-nic to "
                           "use it anyway and lose the machine's network)")
    for a in ipr.get_addr(index=index):
        addr = ipaddress.ip_address(a.get_attr("IFA_ADDRESS"))
        if addr.is_link_local or addr.is_loopback:
            continue
        if not any(addr in net for net in ALLOWED_NETWORKS):
            raise HarnessError(f"{name} has address {addr}, which may be how this machine is "
                               "reached; refusing it (add --force-nic to use it anyway)")
    return index


def borrow(ipr, name: str, ns, defer, force: bool = False, home: str | None = None):
    """Move NIC ``name`` into namespace ``ns`` (a topology.Namespace) until ``defer`` unwinds;
    ``home`` names the namespace it comes from (None: the root namespace)."""
    index = check_nic(ipr, name, force)
    link = ipr.get_links(index)[0]
    mtu, up = link.get_attr("IFLA_MTU"), bool(link["flags"] & 1)
    ipr.link("set", index=index, state="down")
    ipr.link("set", index=index, net_ns_fd=ns.name)
    inner = ns.link(name)

    def give_back():
        idx = ns.link(name).index
        ns.nl.link("set", index=idx, state="down")
        if home is None:
            ns.nl.link("set", index=idx, net_ns_pid=1)  # the root namespace is pid 1's
        else:
            ns.nl.link("set", index=idx, net_ns_fd=home)
        back = ipr.link_lookup(ifname=name)[0]
        ipr.link("set", index=back, mtu=mtu)
        if up:
            ipr.link("set", index=back, state="up")

    defer.push(f"give back NIC {name}", give_back)
    return inner
