"""What a traffic generator reports, whatever the tool: :class:`TrafficResult`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


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
