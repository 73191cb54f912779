"""What a traffic generator reports, whatever the tool: :class:`TrafficResult`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..core.figures import COUNT, HIGHER, LOWER, RATE, SHARE, figure

#: a generator's figures.  An unshaped rate is higher-is-better (a shaped one is two-sided
#: against its rate: harness.measure.shaping says so in the record); 0.5 % is the smallest
#: move the nights' spread may call noise-free.
GOODPUT = figure("goodput_bps", RATE, "goodput", better=HIGHER, threshold=0.10, resolution=0.005)
RETRANSMITS = figure("retransmits", COUNT, "retransmits")
DATAGRAM_LOSS = figure("datagram_loss", SHARE, "datagram loss", better=LOWER, threshold=0.03,
                       absolute=True, resolution=0.001)


@dataclass
class TrafficResult:
    tool: str  # iperf3 | netperf
    protocol: str  # tcp | udp
    seconds: float  # measured duration
    goodput_bps: float  # payload bits per second delivered to the receiver
    sent_bytes: int = 0
    received_bytes: int = 0
    retransmits: int | None = None
    datagrams_sent: int | None = None
    datagrams_lost: int | None = None
    intervals_bps: list = field(default_factory=list)  # raw per-interval samples
    tool_version: str = ""
    raw: dict = field(default_factory=dict)

    @property
    def datagram_loss(self) -> float | None:
        if not self.datagrams_sent:
            return None
        return (self.datagrams_lost or 0) / self.datagrams_sent

    def as_record(self) -> dict:
        d = asdict(self)
        d["datagram_loss"] = self.datagram_loss
        return d
