"""Namespaces, links and addresses, built through netlink (pyroute2) with their undo.

Every constructor pushes its own undo onto the owner's Defer stack right after the kernel
accepted the object, so a failure half-way through a topology unwinds exactly what exists.
A link created inside one of the run's namespaces is owned by that namespace: removing the
namespace destroys it (the kernel does this asynchronously, without the RCU waits an explicit
``link del`` costs), so its undo is the namespace's undo.

    lab = Lab(run)
    a, b = lab.namespace("a"), lab.namespace("b")
    pair = lab.veth_pair(a, b, mtu=1500)      # 198.18.N.1/24 <-> 198.18.N.2/24
    ifb = lab.ifb(b)
    ...
    lab.close()                               # LIFO unwind
"""

from __future__ import annotations

import ipaddress
import itertools
import subprocess
import time
from dataclasses import dataclass

from pyroute2 import IPRoute

from ..core import netns
from ..core.checkpoint import checkpoint
from ..core.defer import Defer
from ..core.errors import HarnessError
from ..core.units import check_address, check_mtu
from .recipe import Recipe, RecordingIPRoute
from .snmp import parse_snmp

IFA_F_NODAD = 0x02
NUD_PERMANENT = 0x80
GRE_KEY = 0x2000  # the key flag of IFLA_GRE_IFLAGS / IFLA_GRE_OFLAGS


class Namespace:
    """A network namespace of the run, with an open netlink socket (``.nl``)."""

    def __init__(self, run, suffix: str, defer: Defer, recipe: Recipe | None = None):
        self.run = run
        self.name = run.prefix + suffix
        self.recipe = recipe if recipe is not None else Recipe()
        if netns.exists(self.name):
            raise HarnessError(f"namespace {self.name} exists already")
        run.add_namespace(self.name)
        sock = netns.create(self.name)
        self.recipe.add("ip", "netns", "add", self.name)
        # echo: replies carry the new index; every change also lands in the recipe as ip/tc
        self.nl = RecordingIPRoute(IPRoute(use_socket=sock, nlm_echo=True), self.name,
                                   self.recipe)
        defer.push(f"netns {self.name}", self._remove)
        self.link("lo").up()

    def _remove(self):
        try:
            self.nl.close()
        finally:
            self.run.stop_processes_in(self.name)
            try:
                netns.remove(self.name)
            finally:
                self.run.forget_namespace(self.name)

    def __repr__(self):
        return f"Namespace({self.name})"

    def link(self, ifname: str) -> "Link":
        found = self.nl.link_lookup(ifname=ifname)
        if not found:
            raise HarnessError(f"no link {ifname} in {self.name}")
        return Link(self, ifname, found[0])

    def links(self) -> list[str]:
        return [m.get_attr("IFLA_IFNAME") for m in self.nl.get_links()]

    def sysctl(self, key: str, value=None) -> str:
        out = netns.sysctl(self.name, key, value)
        if value is not None:
            self.recipe.add("ip", "netns", "exec", self.name, "sysctl", "-qw", f"{key}={value}")
        return out

    def read(self, filename: str) -> str:
        return netns.read_file(self.name, filename)

    def snmp(self) -> dict[str, int]:
        """IP/TCP/UDP counters from /proc/net/snmp and /proc/net/netstat, e.g. ``IpFragCreates``."""
        out: dict[str, int] = {}
        for fn in ("/proc/thread-self/net/snmp", "/proc/thread-self/net/netstat"):
            out.update(parse_snmp(self.read(fn), sep=""))
        return out

    def path_mtu(self, dst: str) -> int | None:
        """The path MTU the kernel learnt for ``dst`` (``ip route get DST``'s ``mtu``), or None."""
        metrics = self.nl.route("get", dst=check_address(dst))[0].get_attr("RTA_METRICS")
        return dict(metrics["attrs"]).get("RTAX_MTU") if metrics else None

    def bridge(self, suffix: str) -> "Link":
        """``ip link add <prefix><suffix> type bridge``, up."""
        self.nl.link("add", ifname=self.run.name(suffix), kind="bridge")
        return self.link(self.run.name(suffix)).up()

    def route(self, dst: str, via: str) -> None:
        """``ip route add DST via VIA``."""
        self.nl.route("add", dst=check_address(dst), gateway=check_address(via))

    def neighbour(self, ip: str, mac: str, link: "Link") -> None:
        """``ip neigh add IP lladdr MAC dev LINK nud permanent``."""
        self.nl.neigh("add", dst=check_address(ip), lladdr=mac, ifindex=link.index,
                      state=NUD_PERMANENT)

    def popen(self, argv: list[str], preexec_fn=None, **kwargs) -> subprocess.Popen:
        """Start a program inside the namespace (then run ``preexec_fn`` in the child, e.g. to
        join a cgroup); the run records its PID for the sweeper."""

        def setup():
            netns.enter(self.name)
            if preexec_fn is not None:
                preexec_fn()

        proc = subprocess.Popen(argv, preexec_fn=setup, **kwargs)
        self.run.add_process(proc.pid, " ".join(argv[:2]))
        return proc

    def run_command(self, argv: list[str], timeout: float, stdin: str | None = None,
                    what: str = "") -> subprocess.CompletedProcess:
        """Run a short command inside the namespace to its end; one that outlives ``timeout``
        is stopped and raises HarnessError (it is never left running)."""
        proc = self.popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = self.run.finish(proc, timeout, what or " ".join(argv[:2]), stdin=stdin)
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@dataclass
class Link:
    ns: Namespace
    name: str
    index: int

    def _set(self, **kwargs):
        self.ns.nl.link("set", index=self.index, **kwargs)

    def up(self) -> "Link":
        self._set(state="up")
        return self

    def set_mtu(self, mtu: int) -> "Link":
        self._set(mtu=check_mtu(mtu))
        return self

    @property
    def mtu(self) -> int:
        return self.ns.nl.get_links(self.index)[0].get_attr("IFLA_MTU")

    def info(self) -> tuple[str | None, dict]:
        """The kind and the kind's attributes as the kernel reports them (IFLA_LINKINFO:
        IFLA_INFO_KIND, IFLA_INFO_DATA), e.g. ``("gre", {"IFLA_GRE_OKEY": 42, ...})``."""
        linkinfo = self.ns.nl.get_links(self.index)[0].get_attr("IFLA_LINKINFO")
        if linkinfo is None:
            return None, {}
        data = linkinfo.get_attr("IFLA_INFO_DATA")
        return linkinfo.get_attr("IFLA_INFO_KIND"), dict(data["attrs"]) if data else {}

    def join(self, bridge: "Link") -> "Link":
        """Make this link a port of ``bridge`` (``ip link set dev X master BR``)."""
        self._set(master=bridge.index)
        return self

    def delete(self) -> None:
        """Delete the link now (a veth takes its peer along)."""
        self.ns.nl.link("del", index=self.index)

    def add_address(self, address: str) -> "Link":
        check_address(address)
        iface = ipaddress.ip_interface(address)
        kwargs = {}
        if iface.version == 6:
            kwargs["flags"] = IFA_F_NODAD
        self.ns.nl.addr("add", index=self.index, address=str(iface.ip),
                        prefixlen=iface.network.prefixlen, **kwargs)
        return self

    def stats(self) -> dict:
        """Kernel link counters (rx_bytes, tx_packets, ...)."""
        msg = self.ns.nl.get_links(self.index)[0]
        return dict(msg.get_attr("IFLA_STATS64"))

    def offloads(self, **features: bool) -> "Link":
        """Turn offloads on or off, e.g. ``offloads(tso=False, gso=False)`` (ethtool -K)."""
        argv = ["ethtool", "-K", self.name]
        for key, on in features.items():
            argv += [key.replace("_", "-"), "on" if on else "off"]
        res = subprocess.run(argv, preexec_fn=lambda: netns.enter(self.ns.name),
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise HarnessError(f"ethtool -K {self.name} failed: {res.stderr.strip()}")
        self.ns.recipe.add("ip", "netns", "exec", self.ns.name, *argv)
        return self

    def wait_up(self, timeout: float = 5.0) -> "Link":
        """Wait on netlink state until the kernel reports carrier (no blind sleep)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.ns.nl.get_links(self.index)[0]
            if msg.get_attr("IFLA_OPERSTATE") in ("UP", "UNKNOWN") and msg.get_attr("IFLA_CARRIER"):
                return self
            time.sleep(0.001)
        raise HarnessError(f"link {self.name} in {self.ns.name} did not come up")


@dataclass
class Endpoint:
    """One side of a point-to-point link: namespace, link, addresses."""

    ns: Namespace
    link: Link
    ip4: str
    ip6: str

    @property
    def name(self):
        return self.ns.name


@dataclass
class VethPair:
    """Two endpoints cabled to each other: a veth pair, or two real NICs (``nics``: what
    carried the run, from ethtool)."""

    a: Endpoint
    b: Endpoint
    subnet: int
    nics: list | None = None

    @property
    def mtu(self) -> int:
        return self.a.link.mtu


class Lab:
    """The topology of one test: namespaces and links with one LIFO undo stack."""

    def __init__(self, run):
        self.run = run
        self.defer = Defer()
        self._subnets = itertools.count(1)
        self._ns_count = itertools.count()
        self.recipe = Recipe()  # what it built, as ip/tc commands (harness.net.recipe)

    def namespace(self, suffix: str | None = None) -> Namespace:
        suffix = suffix or f"n{next(self._ns_count)}"
        return Namespace(self.run, suffix, self.defer, self.recipe)

    def veth_pair(self, a: Namespace, b: Namespace, mtu: int = 1500, subnet: int | None = None,
                  names: tuple[str, str] = ("va", "vb"), addressed: bool = True) -> VethPair:
        """A veth pair from ``a`` to ``b`` with 198.18.N.1/24 and 198.18.N.2/24 (and 2001:db8:N::);
        ``addressed=False`` leaves both ends without addresses (e.g. ports of a switch)."""
        subnet = next(self._subnets) if subnet is None else subnet
        if not 0 <= subnet <= 511:
            raise HarnessError(f"subnet {subnet} outside 198.18.0.0/15")
        na, nb = self.run.name(names[0]), self.run.name(names[1])
        check_mtu(mtu)
        reply = a.nl.link("add", ifname=na, kind="veth", mtu=mtu, state="up",
                          peer={"ifname": nb, "net_ns_fd": b.name, "mtu": mtu})
        # undo: removing namespace a destroys the pair
        echoed = [m for m in reply or () if m.get("event") == "RTM_NEWLINK"]  # echo: Linux >= 6.3
        link_a = Link(a, na, echoed[0]["index"]) if echoed else a.link(na)
        link_b = b.link(nb)
        base = ipaddress.ip_address("198.18.0.0") + subnet * 256
        ends = []
        for i, (ns, link) in enumerate(((a, link_a), (b, link_b)), start=1):
            ip4 = str(base + i)
            ip6 = f"2001:db8:{subnet:x}::{i}"
            if addressed:
                link.add_address(f"{ip4}/24").add_address(f"{ip6}/64")
            else:
                ip4 = ip6 = ""
            ends.append(Endpoint(ns, link, ip4, ip6))
        link_b.up()
        for e in ends:
            e.link.wait_up()
        checkpoint("topology-built")
        return VethPair(ends[0], ends[1], subnet)

    def ifb(self, ns: Namespace, suffix: str = "ifb0", kernel=None) -> Link:
        """An ifb device inside ``ns``.

        Where this run loaded ifb with ``modprobe ifb numifbs=1``, the device that load made
        (ifb0 in the root namespace) is the run's: it is moved into ``ns`` and renamed with the
        run prefix.  Otherwise (ifb built in, or ifb0 taken) the device is created by netlink.
        """
        name = self.run.name(suffix)
        claimed = kernel.modules.claim("ifb", kind="ifb") if kernel is not None else None
        if claimed is not None:
            with IPRoute() as ipr:
                idx = ipr.link_lookup(ifname=claimed)[0]
                try:
                    ipr.link("set", index=idx, net_ns_fd=ns.name)
                except Exception:  # noqa: BLE001 - cannot move: remove what the load made
                    ipr.link("del", index=idx)
                    claimed = None
        if claimed is not None:
            ns.recipe.add("modprobe", "ifb", "numifbs=1")
            ns.recipe.add("ip", "link", "set", "dev", claimed, "netns", ns.name)
            ns.nl.link("set", index=ns.link(claimed).index, ifname=name)
        else:
            ns.nl.link("add", ifname=name, kind="ifb")
        link = ns.link(name)  # undo: removing the namespace destroys it
        # no IPv6 on the ifb: it would send its own router solicitations and MLD reports,
        # packets that did not come through the redirect and blur its counters
        ns.sysctl(f"net.ipv6.conf.{name}.disable_ipv6", 1)
        return link.up()

    def tunnel(self, pair: VethPair, kind: str, inner_mtu: int = 1500, subnet: int = 100,
               key: int | None = None, pmtudisc: bool = True, vxlan_id: int = 42,
               df: str = "inherit", suffix: str = "tun", ignore_df: bool = False) -> "Tunnel":
        """A point-to-point tunnel over ``pair``: kind ``gre``, ``gretap`` or ``vxlan``, with
        inner addresses 198.18.<subnet>.1/24 and .2/24 and the given inner MTU.

        VXLAN is created without a lower device (the kernel caps it at 1450 otherwise); its outer
        DF follows the inner packet's (``df="inherit"``) unless told otherwise.
        """
        check_mtu(inner_mtu)
        ends = []
        base = ipaddress.ip_address("198.18.0.0") + subnet * 256
        for i, (me, peer) in enumerate(((pair.a, pair.b), (pair.b, pair.a)), start=1):
            name = self.run.name(suffix)
            spec = {"ifname": name, "kind": kind, "mtu": inner_mtu}
            if kind in ("gre", "gretap"):
                spec.update(gre_local=me.ip4, gre_remote=peer.ip4, gre_ttl=64,
                            gre_pmtudisc=1 if pmtudisc else 0)
                if ignore_df:  # outer DF clear even when the inner packet has DF (nopmtudisc only)
                    spec.update(gre_ignore_df=1)
                if key is not None:
                    spec.update(gre_ikey=key, gre_okey=key, gre_iflags=GRE_KEY, gre_oflags=GRE_KEY)
            elif kind == "vxlan":
                spec.update(vxlan_id=vxlan_id, vxlan_local=me.ip4, vxlan_group=peer.ip4,
                            vxlan_port=4789, vxlan_learning=0,
                            vxlan_df={"unset": 0, "set": 1, "inherit": 2}[df])
            else:
                raise HarnessError(f"unknown tunnel kind {kind}")
            me.ns.nl.link("add", **spec)
            link = me.ns.link(name)  # undo: removing the namespace destroys it
            ip4 = str(base + i)
            link.add_address(f"{ip4}/24").add_address(f"2001:db8:{subnet:x}::{i}/64").up()
            ends.append(Endpoint(me.ns, link, ip4, f"2001:db8:{subnet:x}::{i}"))
        return Tunnel(ends[0], ends[1], kind, inner_mtu, pair)

    def close(self) -> list[str]:
        if len(self.defer) > 1:
            self.defer.unwind_one()  # half-way through the teardown
            checkpoint("teardown")
        return self.defer.unwind()


@dataclass
class Tunnel:
    a: Endpoint
    b: Endpoint
    kind: str
    mtu: int
    underlay: VethPair

    #: bytes the tunnel adds to an inner IPv4 packet on an IPv4 underlay (no GRE key, no csum)
    OVERHEAD = {"gre": 24, "gretap": 38, "vxlan": 50}

    @property
    def overhead(self) -> int:
        return self.OVERHEAD[self.kind]

    def remove(self) -> None:
        """Delete both ends now (otherwise they go with their namespaces)."""
        for end in (self.a, self.b):
            end.link.delete()
