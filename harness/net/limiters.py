"""Every Linux rate limiter, built one way: ``Limiter(rate).apply(dev)`` puts it on ``dev``'s
egress and returns a :class:`~harness.net.tc.Shaper` whose counter reads the bytes it let
through, so ``shaped_run`` measures each exactly as it measures HTB and TBF.

Shapers (they queue):

- ``TBFPeak``: ``tbf rate R burst B peakrate P mtu M`` (a second bucket caps the burst's speed);
- ``HFSC``: one class with a real-time and a link-sharing curve at R, and an upper limit at R
  (without it, link sharing is work-conserving and would hand the class the whole link);
- ``CAKE``: ``cake bandwidth R besteffort``;
- ``FQ``: ``fq maxrate R``: per-flow pacing, one flow gets R (counts no overlimits: ``held``
  by its queue);
- ``NetemRate``: ``netem rate R`` (likewise);
- ``HTBTree``: a parent class and children that borrow up to their ceil;
- ``DRRShares``: TBF at R with DRR inside, classes weighted by their quantum.

Policer (it drops): ``Police`` on the ingress hook, no ifb: ``tc filter ... u32 match u32 0 0
action police rate R burst B mtu 256k drop``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.units import parse_rate
from .tc import (ETH_P_ALL, INGRESS, Shaper, _quantum, add_ingress, default_burst, handle,
                 tbf_limit, u32_actions)
from .topology import Link

#: largest packet a policer lets through at all: a veth hands GSO packets of up to 64 KiB to
#: the ingress hook whole, and tc's default (255 cells of the rate table, ~2 KB) drops them all
POLICE_MTU = 1 << 18


@dataclass
class TBFPeak:
    rate: object
    peak: object = None  # default 1.5 x rate
    burst: int | None = None
    pburst: int = 65536 + 1514  # the peak bucket: one GSO packet

    def apply(self, dev: Link) -> Shaper:
        rate = parse_rate(self.rate)
        peak = parse_rate(self.peak) if self.peak else rate * 3 // 2
        dev.ns.nl.tc("add", "tbf", dev.index, handle(1), rate=rate // 8,
                     burst=self.burst or default_burst(rate), limit=tbf_limit(rate),
                     peak=peak // 8, pburst=self.pburst, mtu=self.pburst)
        return Shaper(dev, "tbf-peakrate", None, rate)


@dataclass
class HFSC:
    rate: object

    def apply(self, dev: Link) -> Shaper:
        rate = parse_rate(self.rate)
        curve = {"m2": rate // 8}
        nl = dev.ns.nl
        nl.tc("add", "hfsc", dev.index, handle(1), default=0x10)
        nl.tc("add-class", "hfsc", dev.index, handle(1, 0x10), parent=handle(1),
              rsc=curve, fsc=curve, usc=curve)
        return Shaper(dev, "hfsc", handle(1, 0x10), rate)


@dataclass
class CAKE:
    rate: object

    def apply(self, dev: Link) -> Shaper:
        rate = parse_rate(self.rate)
        dev.ns.nl.tc("add", "cake", dev.index, handle(1), bandwidth=rate,
                     diffserv_mode="besteffort")
        return Shaper(dev, "cake", None, rate)


@dataclass
class FQ:
    rate: object

    def apply(self, dev: Link) -> Shaper:
        rate = parse_rate(self.rate)
        dev.ns.nl.tc("add", "fq", dev.index, handle(1), maxrate=rate // 8)
        return Shaper(dev, "fq", None, rate, held="queue")


@dataclass
class NetemRate:
    rate: object
    limit: int = 10000  # packets: room for a TCP window at the rate

    def apply(self, dev: Link) -> Shaper:
        rate = parse_rate(self.rate)
        dev.ns.nl.tc("add", "netem", dev.index, handle(1), rate=rate // 8, limit=self.limit)
        return Shaper(dev, "netem-rate", None, rate, held="queue")


@dataclass
class HTBTree:
    """``htb`` with parent class 1:1 at ``total`` and one child 1:<minor> per entry of
    ``children`` ({minor: (rate, ceil)}): a child may borrow its parent's unused share up to its
    ceil.  ``apply`` returns {minor: Shaper at the child's rate}."""

    total: object
    children: dict = field(default_factory=dict)
    default: int | None = None

    def apply(self, dev: Link) -> dict[int, Shaper]:
        total = parse_rate(self.total)
        nl = dev.ns.nl
        nl.tc("add", "htb", dev.index, handle(1), default=self.default or min(self.children))
        nl.tc("add-class", "htb", dev.index, handle(1, 1), parent=handle(1), rate=total // 8,
              ceil=total // 8, quantum=_quantum(total), burst=default_burst(total),
              cburst=default_burst(total))
        out = {}
        for minor, (rate, ceil) in self.children.items():
            rate, ceil = parse_rate(rate), parse_rate(ceil)
            nl.tc("add-class", "htb", dev.index, handle(1, minor), parent=handle(1, 1),
                  rate=rate // 8, ceil=ceil // 8, quantum=_quantum(rate),
                  burst=default_burst(rate), cburst=default_burst(ceil))
            out[minor] = Shaper(dev, "htb", handle(1, minor), rate)
        return out


@dataclass
class DRRShares:
    """TBF at ``rate`` (1:) with DRR (10:) inside it; one DRR class 10:<minor> per entry of
    ``quanta`` ({minor: quantum in bytes}), each flow classified by ``classify`` (u32 on the
    destination port), everything else (ARP, neighbour discovery) into the first class: DRR
    drops what no filter classifies.  ``apply`` returns {minor: Shaper of the class} (its
    ``rate`` is TBF's: the share is judged as a ratio)."""

    rate: object
    quanta: dict = field(default_factory=dict)

    def apply(self, dev: Link) -> dict[int, Shaper]:
        rate = parse_rate(self.rate)
        nl = dev.ns.nl
        nl.tc("add", "tbf", dev.index, handle(1), rate=rate // 8, burst=default_burst(rate),
              limit=tbf_limit(rate))
        nl.tc("add", "drr", dev.index, handle(0x10), parent=handle(1, 1))
        out = {}
        for minor, quantum in self.quanta.items():
            nl.tc("add-class", "drr", dev.index, handle(0x10, minor), parent=handle(0x10),
                  quantum=quantum)
            out[minor] = Shaper(dev, "drr", handle(0x10, minor), rate)
        first = min(self.quanta)
        nl.tc("add-filter", "u32", dev.index, parent=handle(0x10), prio=9, protocol=ETH_P_ALL,
              keys=["0x0/0x0+0"], target=handle(0x10, first))
        return out


@dataclass
class Policed:
    """A policer's counters on a device's ingress hook."""

    link: Link
    rate: int
    burst: int

    def drops(self) -> int:
        """Packets the police actions of the device's ingress hook dropped."""
        return sum(drops for _, _, _, drops in u32_actions(self.link, "police"))


@dataclass
class Police:
    """``tc qdisc add dev D handle ffff: ingress; tc filter add dev D parent ffff: protocol
    all u32 match u32 0 0 action police rate R burst B mtu 256k drop``: what arrives faster
    than R, beyond a bucket of B bytes, is dropped, never queued."""

    rate: object
    burst: int | None = None  # bytes; default: the shapers' (20 ms at R, at least 64 KiB)

    def apply(self, dev: Link) -> Policed:
        rate = parse_rate(self.rate)
        burst = default_burst(rate) if self.burst is None else self.burst
        add_ingress(dev)
        dev.ns.nl.tc("add-filter", "u32", dev.index, parent=INGRESS, prio=1, protocol=ETH_P_ALL,
                     keys=["0x0/0x0+0"], target=handle(1, 1),
                     action=[{"kind": "police", "rate": rate // 8, "burst": burst,
                              "mtu": POLICE_MTU, "action": "drop"}])
        return Policed(dev, rate, burst)
