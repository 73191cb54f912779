"""Real NICs in a lab: only when the user names them, given back exactly as they were found.

    pytest --nics enp3s0,enp4s0 labs/...  # two ports cabled back to back: the lab's pair
    pytest --nics 52:54:00:12:34:56,52:54:00:12:34:57 ...   # named by MAC address
    pytest --nic enp3s0 labs/...          # one NIC for a lab that asks for ``nic``
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
import os
import re
import select
import socket
import subprocess
import time

from pyroute2 import IPRoute

from ..core import netns
from ..core.errors import HarnessError
from ..core.units import ALLOWED_NETWORKS
from .topology import Endpoint, VethPair

AF_INET, AF_INET6 = 2, 10


def _ipr(where: str) -> IPRoute:
    return IPRoute(use_socket=netns.netlink_socket(where))


def _routes_via(ipr, index: int) -> list:
    return [r for r in ipr.get_routes(family=AF_INET) + ipr.get_routes(family=AF_INET6)
            if r.get_attr("RTA_OIF") == index and r["dst_len"] == 0
            and r.get_attr("RTA_TABLE") == 254]


MAC_RE = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$", re.I)


def resolve(ipr, ident: str) -> str:
    """The interface name of ``ident``: a name, or a MAC address."""
    if MAC_RE.match(ident):
        for link in ipr.get_links():
            if (link.get_attr("IFLA_ADDRESS") or "").lower() == ident.lower():
                return link.get_attr("IFLA_IFNAME")
        raise HarnessError(f"no interface with MAC address {ident}")
    return ident


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


def facts(name: str, where: str) -> dict:
    """What carried the run: driver, firmware, link speed, offloads (ethtool)."""
    res = subprocess.run(["ethtool", "-i", name], capture_output=True, text=True,
                         preexec_fn=lambda: netns.enter(where))
    info = dict(line.split(": ", 1) for line in res.stdout.splitlines() if ": " in line)
    speed = None
    try:
        speed = int(netns.read_file(where, f"/sys/class/net/{name}/speed"))
    except (OSError, ValueError):
        pass
    return {"name": name, "driver": info.get("driver", "?"), "version": info.get("version", ""),
            "firmware": info.get("firmware-version", ""), "bus": info.get("bus-info", ""),
            "speed_mbps": speed if speed and speed > 0 else None,
            "offloads": offloads(name, where)}


PROBE_ETHERTYPE = 0x88B5  # IEEE local experimental: never a protocol anyone speaks


def check_cabled(a: str, b: str, where: str, timeout: float = 2.0) -> None:
    """A frame sent out of ``a`` must arrive on ``b``: refuse two ports that are not cabled to
    each other, before anything the user cares about is moved.  Links that were down are
    brought up for the probe and put down again."""
    with _ipr(where) as ipr:
        down = [n for n in (a, b) if not ipr.get_links(ipr.link_lookup(ifname=n)[0])[0]["flags"] & 1]
        for n in down:
            ipr.link("set", index=ipr.link_lookup(ifname=n)[0], state="up")
    try:
        token = os.urandom(16)

        def probe():
            rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(PROBE_ETHERTYPE))
            tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            try:
                rx.bind((b, PROBE_ETHERTYPE))
                tx.bind((a, 0))
                frame = b"\xff" * 6 + tx.getsockname()[4][:6] + \
                    PROBE_ETHERTYPE.to_bytes(2, "big") + token + bytes(30)
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:  # carrier may take a moment after up
                    tx.send(frame)
                    if select.select([rx], [], [], 0.2)[0] and token in rx.recv(2048):
                        return True
                return False
            finally:
                rx.close()
                tx.close()

        if not netns.run_in(where, probe):
            raise HarnessError(f"{a} and {b} are not cabled to each other: a probe frame sent "
                               f"out of {a} did not arrive on {b}")
    finally:
        if down:
            with _ipr(where) as ipr:
                for n in down:
                    ipr.link("set", index=ipr.link_lookup(ifname=n)[0], state="down")


def borrow_pair(lab, idents: list[str], force: bool = False, home: str | None = None,
                mtu: int = 1500, names: tuple[str, str] = ("va", "vb")):
    """Two NICs cabled back to back as the lab's pair: checked (named by the user, not the
    same twice, not the machine's way in unless forced, cabled to each other), moved into
    namespaces ``a`` and ``b`` under the run's names, addressed like a veth pair (198.18.N.x),
    MTU ``mtu``; given back as they were when the lab unwinds (or by the sweeper)."""
    home = home or netns.own()
    if len(idents) != 2:
        raise HarnessError(f"--nics takes two interfaces cabled to each other, not {len(idents)}")
    with _ipr(home) as ipr:
        a_name, b_name = (resolve(ipr, i) for i in idents)
        if a_name == b_name:
            raise HarnessError(f"--nics names {a_name} twice: a pair needs two interfaces")
        for n in (a_name, b_name):
            check_nic(ipr, n, force)
    check_cabled(a_name, b_name, home)
    carried = [facts(a_name, home), facts(b_name, home)]
    ends = []
    subnet = next(lab._subnets)
    base = ipaddress.ip_address("198.18.0.0") + subnet * 256
    for i, (nic, suffix, ns_name) in enumerate(((a_name, names[0], "a"), (b_name, names[1], "b")), 1):
        ns = lab.namespace(ns_name)
        link = borrow(lab.run, nic, ns, lab.defer, force=force, home=home, suffix=suffix)
        link.set_mtu(mtu).add_address(f"{base + i}/24").add_address(f"2001:db8:{subnet:x}::{i}/64").up()
        ends.append(Endpoint(ns, link, str(base + i), f"2001:db8:{subnet:x}::{i}"))
    for e in ends:
        e.link.wait_up(timeout=10)
    return VethPair(ends[0], ends[1], subnet, nics=carried)


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
