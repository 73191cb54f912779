"""Real NICs in a lab: only when the user names them, given back exactly as they were found.

    pytest --nic enp3s0 labs/...          # the NIC becomes the b side of the lab's underlay
    pytest --nic eth0 --force-nic ...     # even though eth0 carries the default route

:func:`check_nic` refuses, unless forced, an interface that carries a default route or an
address from which the machine may be reached (any address outside the lab ranges).
:func:`borrow` first writes the NIC's whole state into the run's registry (home namespace,
name, MAC, MTU, up/down, addresses, offloads), then moves it into a lab namespace under a
name with the run prefix.  :func:`give_back` restores every one of those, and runs from the
lab's undo stack, or from the sweeper when the run died: the state is read from the registry,
not from the dead process.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess

from pyroute2 import IPRoute

from ..core import netns
from ..core.errors import HarnessError
from ..core.units import ALLOWED_NETWORKS

AF_INET, AF_INET6 = 2, 10


def _ipr(where: str) -> IPRoute:
    return IPRoute(use_socket=netns.netlink_socket(where))


def _routes_via(ipr, index: int) -> list:
    return [r for r in ipr.get_routes(family=AF_INET) + ipr.get_routes(family=AF_INET6)
            if r.get_attr("RTA_OIF") == index and r["dst_len"] == 0
            and r.get_attr("RTA_TABLE") == 254]


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


def offloads(name: str, where: str) -> dict[str, bool]:
    """The NIC's changeable offloads (``ethtool -k``, without the [fixed] ones)."""
    res = subprocess.run(["ethtool", "-k", name], capture_output=True, text=True,
                         preexec_fn=lambda: netns.enter(where))
    if res.returncode != 0:
        return {}
    out = {}
    for line in res.stdout.splitlines()[1:]:
        key, _, value = line.strip().partition(": ")
        if value and "[fixed]" not in value:
            out[key] = value.split()[0] == "on"
    return out


def _set_offloads(name: str, where: str, wanted: dict[str, bool]) -> None:
    now = offloads(name, where)
    argv = ["ethtool", "-K", name]
    for key, on in wanted.items():
        if key in now and now[key] != on:
            argv += [key, "on" if on else "off"]
    if len(argv) > 3:
        subprocess.run(argv, capture_output=True, preexec_fn=lambda: netns.enter(where))


def snapshot(ipr, index: int, where: str) -> dict:
    """Everything :func:`give_back` restores, read from the kernel."""
    link = ipr.get_links(index)[0]
    addrs = []
    for a in ipr.get_addr(index=index):
        ip = a.get_attr("IFA_ADDRESS")
        if ipaddress.ip_address(ip).is_link_local:
            continue  # made again by the kernel when the link comes up
        addrs.append({"address": ip, "prefixlen": a["prefixlen"], "family": a["family"]})
    name = link.get_attr("IFLA_IFNAME")
    return {"name": name, "home": where, "mac": link.get_attr("IFLA_ADDRESS"),
            "mtu": link.get_attr("IFLA_MTU"), "up": bool(link["flags"] & 1),
            "addresses": addrs, "offloads": offloads(name, where)}


def borrow(run, name: str, ns, defer, force: bool = False, home: str | None = None,
           suffix: str = "nic"):
    """Move NIC ``name`` from namespace ``home`` (default: this process's own) into lab
    namespace ``ns`` (a topology.Namespace) as ``<prefix><suffix>``, until ``defer`` unwinds.
    Returns the NIC as a topology.Link."""
    home = home or netns.own()
    lab_name = run.name(suffix)
    with _ipr(home) as ipr:
        index = check_nic(ipr, name, force)
        state = snapshot(ipr, index, home)
        state["lab_name"], state["lab_namespace"] = lab_name, ns.name
        run.add_nic(lab_name, state)  # before anything changes: the sweeper can give it back
        ipr.link("set", index=index, state="down")
        ipr.link("set", index=index, net_ns_fd=netns.path(ns.name))
    inner = ns.link(name)
    ns.nl.link("set", index=inner.index, ifname=lab_name)
    defer.push(f"give back NIC {name}", give_back_and_forget, run, lab_name)
    return ns.link(lab_name)


def give_back_and_forget(run, lab_name: str) -> None:
    give_back(run.nics[lab_name])
    run.forget_nic(lab_name)


def _find(state: dict) -> tuple[str, int] | None:
    """Where the NIC is now: (namespace, index), looked up by its MAC address."""
    places = [state["lab_namespace"], state["home"], netns.ROOT]
    for where in places:
        if not netns.exists(where):
            continue
        with _ipr(where) as ipr:
            for link in ipr.get_links():
                if link.get_attr("IFLA_ADDRESS") == state["mac"] and \
                        link.get_attr("IFLA_IFNAME") in (state["lab_name"], state["name"]):
                    return where, link["index"]
    return None


def give_back(state: dict) -> list[str]:
    """Restore a borrowed NIC from its recorded ``state``; returns what was done."""
    found = _find(state)
    if found is None:
        raise HarnessError(f"NIC {state['name']} ({state['mac']}) is nowhere to be found "
                           f"(lab namespace {state['lab_namespace']} gone?)")
    where, index = found
    done = []
    if where != state["home"] and netns.inode(where) != netns.inode(state["home"]):
        with _ipr(where) as ipr:
            ipr.link("set", index=index, state="down")
            ipr.link("set", index=index, net_ns_fd=netns.path(state["home"]))
        done.append(f"moved {state['lab_name']} back to {state['home']}")
    with _ipr(state["home"]) as ipr:
        index = [link["index"] for link in ipr.get_links()
                 if link.get_attr("IFLA_ADDRESS") == state["mac"]][0]
        ipr.link("set", index=index, state="down")
        current = ipr.get_links(index)[0].get_attr("IFLA_IFNAME")
        if current != state["name"]:
            ipr.link("set", index=index, ifname=state["name"])
            done.append(f"renamed {current} to {state['name']}")
        ipr.link("set", index=index, mtu=state["mtu"])
        for a in ipr.get_addr(index=index):
            if not ipaddress.ip_address(a.get_attr("IFA_ADDRESS")).is_link_local:
                ipr.addr("del", index=index, address=a.get_attr("IFA_ADDRESS"),
                         prefixlen=a["prefixlen"])
        for a in state["addresses"]:
            ipr.addr("add", index=index, address=a["address"], prefixlen=a["prefixlen"])
    _set_offloads(state["name"], state["home"], state.get("offloads", {}))
    if state["up"]:
        with _ipr(state["home"]) as ipr:
            ipr.link("set", index=index, state="up")
    done.append(f"restored {state['name']}: {json.dumps({k: state[k] for k in ('mtu', 'up')})}, "
                f"{len(state['addresses'])} address(es), offloads")
    return done
