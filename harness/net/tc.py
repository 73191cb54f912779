"""Traffic control through netlink: qdiscs, classes, filters, actions.

The classic ifb ingress recipe is one call::

    ingress_redirect(pair.b.link, to=ifb)   # tc qdisc add dev X handle ffff: ingress
                                            # tc filter add dev X parent ffff: protocol all
                                            #    u32 match u32 0 0 flowid 1:1
                                            #    action mirred egress redirect dev ifbN
    shaper = HTB(rate).apply(ifb)           # tc qdisc add dev ifbN root handle 1: htb default 10
                                            # tc class add dev ifbN parent 1: classid 1:10 htb ...

Counters come back from the kernel (``class_stats``, ``qdisc_stats``, ``mirred_stats``), never
from our own bookkeeping.  Qdiscs, classes and filters live on links inside the run's
namespaces: their undo is the undo of the link (or namespace) that carries them.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST
from pyroute2.netlink.rtnl import RTM_NEWTFILTER
from pyroute2.netlink.rtnl.tcmsg import tcmsg

from ..core.units import parse_rate
from . import tc_plugins
from .topology import Link

tc_plugins.install()  # fq, and TBF's peak rate, which pyroute2 cannot say

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
INGRESS = 0xFFFF0000  # ffff:
TC_H_ROOT = 0xFFFFFFFF
TC_H_CLSACT_EGRESS = 0xFFFFFFF3


def handle(major: int, minor: int = 0) -> int:
    return (major << 16) | minor


def fmt_handle(h: int) -> str:
    return f"{h >> 16:x}:{h & 0xFFFF:x}"


def add_ingress(dev: Link) -> None:
    """``tc qdisc add dev DEV handle ffff: ingress``."""
    dev.ns.nl.tc("add", "ingress", dev.index, INGRESS)


def remove_ingress(dev: Link) -> None:
    """``tc qdisc del dev DEV handle ffff: ingress``: its filters and actions go with it."""
    dev.ns.nl.tc("del", "ingress", dev.index, INGRESS)


def ingress_redirect(dev: Link, to: Link, prio: int = 1) -> None:
    """Redirect everything arriving on ``dev`` to the egress of ifb ``to``."""
    nl = dev.ns.nl
    add_ingress(dev)
    nl.tc("add-filter", "u32", dev.index, parent=INGRESS, prio=prio, protocol=ETH_P_ALL,
          keys=["0x0/0x0+0"], target=handle(1, 1),
          action=[{"kind": "mirred", "direction": "egress", "action": "redirect",
                   "ifindex": to.index}])


def egress_redirect(dev: Link, to: Link, prio: int = 1) -> None:
    """Redirect everything leaving ``dev`` through ifb ``to`` (clsact egress + mirred)."""
    nl = dev.ns.nl
    nl.tc("add", "clsact", dev.index)
    nl.tc("add-filter", "u32", dev.index, parent=TC_H_CLSACT_EGRESS, prio=prio,
          protocol=ETH_P_ALL, keys=["0x0/0x0+0"], target=handle(1, 1),
          action=[{"kind": "mirred", "direction": "egress", "action": "redirect",
                   "ifindex": to.index}])


def add_class_under_ingress(dev: Link, rate="10mbit") -> None:
    """Try what people try first: an HTB class under the ingress qdisc (the kernel refuses)."""
    dev.ns.nl.tc("add-class", "htb", dev.index, handle(0xFFFF, 0x10), parent=INGRESS,
                 rate=rate, ceil=rate)


def default_burst(rate_bps: int) -> int:
    """Bucket size in bytes: 20 ms at the rate, at least one 64 KiB GSO packet plus a frame.

    tc's default (rate/HZ + mtu, with HZ = 10^9 on high-resolution timers) is about one frame:
    a shaper whose dequeue timer fires late (a loaded or emulated machine: measured 6-10 % low
    at 100 Mbit/s under QEMU's TCG with a 1-frame bucket, still 6 % low once with 5 ms while
    the host was busy) then loses the tokens of the delay.  A 20 ms bucket rides out the timer
    slack of an emulated guest; over a counting window that starts after the burst drained it
    changes nothing: the long-term rate is the rate."""
    return max(rate_bps // 8 // 50, 65536 + 1514)


def _quantum(rate_bps: int, mtu: int = 1514) -> int:
    """HTB quantum within the kernel's sane range (no 'quantum of class is big' warnings)."""
    return int(min(max(rate_bps / 8 / 10, mtu), 60000))


@dataclass
class Shaper:
    """A shaping configuration on a device; ``counter()`` reads the bytes it let through.

    ``held`` says how the kernel shows that the shaper, not the sender, set the rate:
    ``overlimits`` (HTB, TBF, HFSC, CAKE count each time they wait for tokens) or ``queue``
    (fq and netem count no overlimits: each reading that finds packets queued counts one)."""

    link: Link
    kind: str
    classid: int | None  # a leaf class, or None for a classless qdisc
    rate: int
    held: str = "overlimits"
    qdisc: int = handle(1)  # the qdisc whose bytes a classless shaper counts
    _queued: int = 0
    _empty: int = 0

    def counter(self) -> int:
        """Bytes the shaper let through (the class's, or the classless qdisc's)."""
        if self.classid is None:
            return qdisc_stats(self.link, self.qdisc)["bytes"]
        return class_stats(self.link, self.classid)["bytes"]

    def throttled(self) -> int:
        """How often the shaper held packets back: the root qdisc's overlimits (it had packets
        but waited for tokens), or the readings that found packets queued in it.  Either grows
        only while the shaper, not the sender, sets the rate."""
        if self.held == "queue":
            self._queued += self._qlen() > 0
            return self._queued
        return qdisc_stats(self.link, handle(1))["overlimits"]

    def found_empty(self) -> int:
        """Readings so far (one per call) that found the shaper's qdisc empty: a limiter kept
        backlogged (by floods) never is, one found empty was fed below its rate just then."""
        self._empty += self._qlen() == 0
        return self._empty

    def _qlen(self) -> int:
        """Packets queued in the shaper's qdisc now."""
        return qdisc_stats(self.link, self.qdisc)["qlen"]

    def dropped(self) -> int:
        """Packets the qdiscs of the shaper's device dropped since they were made."""
        return qdisc_drops(self.link)

    def describe(self) -> dict:
        return {"qdisc": self.kind, "device": self.link.name, "rate_bps": self.rate,
                "class": fmt_handle(self.classid) if self.classid else None}


@dataclass
class HTB:
    rate: object
    ceil: object = None
    burst: int | None = None

    def apply(self, dev: Link) -> Shaper:
        asked = parse_rate(self.rate)
        rate = asked
        ceil = parse_rate(self.ceil) if self.ceil else rate
        nl = dev.ns.nl
        nl.tc("add", "htb", dev.index, handle(1), default=0x10)
        burst = self.burst or default_burst(rate)
        nl.tc("add-class", "htb", dev.index, handle(1, 0x10), parent=handle(1),
              rate=rate // 8, ceil=ceil // 8, quantum=_quantum(rate), burst=burst,
              cburst=self.burst or default_burst(ceil))
        return Shaper(dev, "htb", handle(1, 0x10), asked)


def tbf_limit(rate_bps: int) -> int:
    """TBF's queue in bytes: 100 ms at the rate, at least 1 MiB (the kernel's own TBF selftest,
    sch_tbf_core.sh, shapes with ``limit 1M``).

    ``latency 50ms`` gave 130 KB at 10 Mbit/s: two GSO packets.  TCP then lost ~500 segments
    in 7 s, and each recovery released a burst of held-back data at the receiver at once: the
    receiver's in-order byte count over a 3 s window read once +2.8 % (counter +0.02 %).  With
    room for the sender's window, the queue holds what TCP sends, as HTB's 32-packet leaf does."""
    return max(1 << 20, rate_bps // 8 // 10)


@dataclass
class TBF:
    rate: object
    burst: int | None = None
    limit: int | None = None  # bytes; default tbf_limit(rate)

    def apply(self, dev: Link) -> Shaper:
        asked = rate = parse_rate(self.rate)
        # at least one 64 KiB GSO packet, so large packets need no segmenting
        burst = self.burst or default_burst(rate)
        dev.ns.nl.tc("add", "tbf", dev.index, handle(1), rate=rate // 8, burst=burst,
                     limit=self.limit or tbf_limit(rate))
        return Shaper(dev, "tbf", None, asked)


def htb_classes(dev: Link, rates: dict[int, object], default: int) -> dict[int, Shaper]:
    """Root HTB 1: with one leaf class 1:<minor> per entry of ``rates``."""
    nl = dev.ns.nl
    nl.tc("add", "htb", dev.index, handle(1), default=default)
    out = {}
    for minor, rate in rates.items():
        asked = parse_rate(rate)
        bps = asked
        nl.tc("add-class", "htb", dev.index, handle(1, minor), parent=handle(1),
              rate=bps // 8, ceil=bps // 8, quantum=_quantum(bps), burst=default_burst(bps),
              cburst=default_burst(bps))
        out[minor] = Shaper(dev, "htb", handle(1, minor), asked)
    return out


def classify_dport(dev: Link, port: int, classid: int, prio: int = 1,
                   parent: int | None = None, proto: int = socket.IPPROTO_TCP) -> None:
    """u32 on the IPv4 destination port: ``match ip protocol 6 0xff match ip dport P 0xffff``
    (TCP, or ``proto``; on the root qdisc 1:, or on the qdisc ``parent``)."""
    dev.ns.nl.tc("add-filter", "u32", dev.index, parent=parent or handle(1), prio=prio,
                 protocol=ETH_P_IP, target=classid,
                 keys=[f"0x00{proto:02x}0000/0x00ff0000+8", f"0x{port:08x}/0x0000ffff+20"])


def skbedit_dport(dev: Link, port: int, prio: int, priority: int | None = None,
                  mark: int | None = None) -> None:
    """Before the root qdisc sees them (clsact egress), packets to TCP port ``port`` get their
    skb priority and/or mark set by an skbedit action:
    ``u32 match ip dport P action skbedit priority 1:10 mark 0x20``."""
    nl = dev.ns.nl
    if "clsact" not in [kind for kind, _ in qdiscs(dev)]:
        nl.tc("add", "clsact", dev.index)
    action = {"kind": "skbedit"}
    if priority is not None:
        action["priority"] = priority
    if mark is not None:
        action.update(mark=mark, mask=0xFFFFFFFF)
    nl.tc("add-filter", "u32", dev.index, parent=TC_H_CLSACT_EGRESS, prio=prio,
          protocol=ETH_P_IP, target=handle(1, 1),
          keys=["0x00060000/0x00ff0000+8", f"0x{port:08x}/0x0000ffff+20"], action=[action])


def classify_mark(dev: Link, mark: int, classid: int, prio: int = 1) -> None:
    """The fw classifier on the root HTB: ``handle MARK fw classid C``."""
    dev.ns.nl.tc("add-filter", "fw", dev.index, parent=handle(1), prio=prio, handle=mark,
                 classid=classid, protocol=ETH_P_ALL)


def classify_cgroup(dev: Link, prio: int = 1) -> None:
    """The cgroup classifier on the root HTB: the class is the sending socket's net_cls
    classid.  (pyroute2 has no cls_cgroup module; the filter needs a handle and an empty
    TCA_OPTIONS, so the request is built from a bare tcmsg.)"""
    m = tcmsg()
    m["index"], m["parent"], m["handle"] = dev.index, handle(1), 1
    m["info"] = (prio << 16) | socket.htons(ETH_P_ALL)
    m["attrs"] = [["TCA_KIND", "cgroup"], ["TCA_OPTIONS", ""]]
    m["header"]["type"] = RTM_NEWTFILTER
    m["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    dev.ns.nl.nlm_request_batch([m])
    dev.ns.recipe.add("tc", "-n", dev.ns.name, "filter", "add", "dev", dev.name, "parent", "1:",
                      "prio", prio, "protocol", "all", "handle", "1", "cgroup")


def filter_kinds(dev: Link, parent: int) -> list[str]:
    """The kinds of the filters under ``parent``, as the kernel lists them."""
    return [m.get_attr("TCA_KIND") for m in dev.ns.nl.get_filters(index=dev.index, parent=parent)]


def _stats(msg) -> dict:
    s2 = msg.get_attr("TCA_STATS2")
    basic = dict(s2.get_attr("TCA_STATS_BASIC")) if s2 else {}
    queue = dict(s2.get_attr("TCA_STATS_QUEUE") or {}) if s2 else {}
    return {"bytes": basic.get("bytes", 0), "packets": basic.get("packets", 0),
            "drops": queue.get("drops", 0), "overlimits": queue.get("overlimits", 0),
            "qlen": queue.get("qlen", 0), "backlog": queue.get("backlog", 0)}


def qdisc_stats(dev: Link, h: int) -> dict:
    for msg in dev.ns.nl.get_qdiscs(index=dev.index):
        if msg["handle"] == h:
            return _stats(msg)
    raise LookupError(f"no qdisc {fmt_handle(h)} on {dev.name}")


def class_stats(dev: Link, classid: int) -> dict:
    for msg in dev.ns.nl.get_classes(index=dev.index):
        if msg["handle"] == classid:
            return _stats(msg)
    raise LookupError(f"no class {fmt_handle(classid)} on {dev.name}")


def classes(dev: Link) -> list[int]:
    return [m["handle"] for m in dev.ns.nl.get_classes(index=dev.index)]


def qdiscs(dev: Link) -> list[tuple[str, str]]:
    return [(m.get_attr("TCA_KIND"), fmt_handle(m["handle"]))
            for m in dev.ns.nl.get_qdiscs(index=dev.index)]


def qdisc_drops(dev: Link) -> int:
    """Packets dropped by all qdiscs of ``dev`` (e.g. a full default queue on an ifb)."""
    return sum(_stats(m)["drops"] for m in dev.ns.nl.get_qdiscs(index=dev.index))


def u32_actions(dev: Link, kind: str, hook: str = "ingress"):
    """The ``kind`` actions (mirred, police, ...) of ``dev``'s u32 filters on its ``ingress``
    qdisc, or on its clsact ``egress`` hook, with their counters: (action message, packets,
    bytes, drops)."""
    parent = {"ingress": INGRESS, "egress": TC_H_CLSACT_EGRESS}[hook]
    for msg in dev.ns.nl.get_filters(index=dev.index, parent=parent):
        opts = msg.get_attr("TCA_OPTIONS")
        acts = opts.get_attr("TCA_U32_ACT") if opts else None
        for _, act in acts["attrs"] if acts else []:
            if act.get_attr("TCA_ACT_KIND") != kind:
                continue
            stats = act.get_attr("TCA_ACT_STATS")
            st = stats.get_attr("TCA_STATS_BASIC")
            yield (act, st["packets"], st["bytes"],
                   (stats.get_attr("TCA_STATS_QUEUE") or {}).get("drops", 0))


def mirred_stats(dev: Link, hook: str = "ingress") -> dict:
    """Packets and bytes counted by the mirred actions of ``dev``'s filters on its ``ingress``
    qdisc, or on its clsact ``egress`` hook."""
    total = {"packets": 0, "bytes": 0, "drops": 0, "targets": []}
    for act, packets, nbytes, drops in u32_actions(dev, "mirred", hook):
        total["packets"] += packets
        total["bytes"] += nbytes
        total["drops"] += drops
        parms = act.get_attr("TCA_ACT_OPTIONS").get_attr("TCA_MIRRED_PARMS")
        total["targets"].append(parms["ifindex"])
    return total


__all__ = [n for n in dir() if not n.startswith("_") and n not in ("socket", "dataclass", "faults")]
