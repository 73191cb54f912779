"""Accounting along a path: what a stretch lost, apart from what the machine lost around it.

A lab is about one stretch of a path (a tunnel, a shaper, an impairment); an emulated CPU drops
packets too, at places the lab does not test (a receiver's socket buffer, a veth backlog).  So
loss is counted hop by hop with the kernel's own counters, the lab judges only its stretch, and
the drops the kernel attributes to the machine (``tx_dropped`` of a veth whose peer's backlog
was full, ``UdpRcvbufErrors``) are recorded beside it without being judged.
"""

from __future__ import annotations

from ..core.figures import COUNT, LOWER, RATIO, SHARE, TWO_SIDED, figure

#: the figures of a stretch: its own loss, and what the kernel put on the machine beside it
TUNNEL_LOSS = figure("tunnel_loss", SHARE, "tunnel loss", better=LOWER, threshold=0.01,
                     absolute=True, resolution=0.001)
FRAGMENTS = figure("fragments_per_datagram", RATIO, "fragments per datagram", better=TWO_SIDED,
                   threshold=0.10, absolute=True, resolution=0.10,
                   doc="a whole number where nothing is lost: a move either way is wrong")
REASSEMBLY_FAILURES = figure("reassembly_failures", COUNT, "reassembly failures")
RCVBUF_ERRORS = figure("receiver_rcvbuf_errors", COUNT, "receiver buffer drops")
UNDERLAY_DROPS = figure("underlay_drops", COUNT, "underlay drops")
MACHINE_DROPS = figure("machine_drops", COUNT, "machine drops",
                       doc="drops the kernel's counters put on the machine, not the stretch")


#: the figures that count what the machine lost beside the stretch a lab judges
MACHINE_COUNTS = ("machine_drops", "underlay_drops", "receiver_rcvbuf_errors")
#: end-to-end figures: they carry the machine's losses with the stretch's
END_TO_END = ("datagram_loss",)


def machine_unjudged(derived: dict) -> dict:
    """How baselines judge a record's end-to-end figures: not at all, when the machine lost
    packets beside the stretch in that record (an emulated CPU's userspace switch drops
    hundreds of frames one night and none the next: a datagram loss of 19 % then 25 % is the
    machine's, while the tunnel's own loss read 0 both nights).  The stretch's own figures
    (``tunnel_loss``) are judged as before.  {key: {"not_judged": why}} for ``metrics``."""
    lost = {k: derived[k] for k in MACHINE_COUNTS
            if isinstance(derived.get(k), (int, float)) and derived[k] > 0}
    if not lost:
        return {}
    why = ("includes what the machine lost beside the stretch ("
           + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in lost.items()) + ")")
    return {k: {"not_judged": why} for k in END_TO_END if k in derived}


def share_lost(into: int, out: int, explained: int = 0) -> float:
    """The share of the ``into`` packets that did not come ``out`` of a stretch, less the
    ``explained`` ones (drops the kernel's counters put on the machine, not on the stretch)."""
    if into <= 0:
        return 0.0
    return min(max(into - out - explained, 0) / into, 1.0)


def link_drops(*stats: dict) -> int:
    """Packets the kernel counted as dropped on these links (each a delta of link counters)."""
    return sum(s.get("tx_dropped", 0) + s.get("rx_dropped", 0) for s in stats)
