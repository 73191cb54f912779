"""A TCP flow through a policer, measured as a shaped run is: the receiver's steady-state
goodput over a counting window, beside the policer's drops in that window, the sender's
retransmits, and the RTT the sender sees (a shaper's queue adds to it; a policer's drops do
not).

Why a lab compares the two: without an ifb, traffic arriving on a device can only be policed
(``tc filter ... action police``: what exceeds the rate beyond a bucket is dropped), never
shaped (queued).  TCP answers each drop by halving its window, so a policer carries less than
its rate, by an amount set by its bucket; a shaper queues the excess and TCP fills the rate.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.figures import BYTES, COUNT, SHARE, figure
from .counters import CounterWindow
from .expect import error, expected_goodput
from .shaping import counted_flow

GOODPUT_SHARE = figure("goodput_share", SHARE, "goodput / rate",
                       doc="steady-state goodput over what the rate carries (rate x 1448/1514)")
LIMITER_DROPS = figure("limiter_drops", COUNT, "drops in the window")
BURST = figure("burst_bytes", BYTES, "burst (bytes)")


@dataclass
class PolicedRun:
    traffic: object  # TrafficResult
    received: CounterWindow  # the receiver's TCP payload bytes, in order
    drops: CounterWindow  # packets the policer dropped (its counter, as a "bytes" window)
    rate_bps: int
    burst: int
    expected_goodput_bps: float
    rtt_s: float | None
    #: what arrived in order or not (harness.net.diag.tcp_senders), same instants
    delivered: CounterWindow | None = None

    @property
    def goodput_bps(self) -> float:
        """What arrived over the window: a policer drops all along, and behind each drop the
        receiver's in-order count holds back what arrives after the hole, then releases it at
        once (ShapedRun.goodput_window); the in-order figure is kept beside it."""
        return (self.delivered or self.received).rate_bps

    def most_share(self, tolerance: float) -> float:
        """The most a token bucket (rate, burst) lets through over the window, as a share of
        what the rate carries, plus ``tolerance``: rate x T + burst.  A bucket that TCP's
        backing off let fill is spent on top of the rate (2 MiB over 3 s at 100 Mbit/s:
        +5.6 %)."""
        seconds = (self.delivered or self.received).seconds
        return 1 + tolerance + self.burst * 8 / (self.rate_bps * max(seconds, 1e-9))

    @property
    def goodput_share(self) -> float:
        return self.goodput_bps / self.expected_goodput_bps

    @property
    def window_drops(self) -> int:
        return self.drops.end_bytes - self.drops.start_bytes

    def derived(self) -> dict:
        return {"configured_bps": self.rate_bps, "expected_goodput_bps": self.expected_goodput_bps,
                "goodput_bps": self.goodput_bps, "in_order_goodput_bps": self.received.rate_bps,
                "goodput_error": error(self.goodput_bps, self.expected_goodput_bps),
                "goodput_share": self.goodput_share, "limiter_drops": self.window_drops,
                "retransmits": self.traffic.retransmits, "burst_bytes": self.burst,
                "sender_rtt_ms": None if self.rtt_s is None else self.rtt_s * 1000}

    def samples(self) -> dict:
        return {"received": self.received.as_record(), "drops": self.drops.as_record(),
                **({"delivered": self.delivered.as_record()} if self.delivered else {}),
                "traffic": self.traffic.as_record()}


def policed_run(generator, src, dst, policed, mtu: int, warmup: float | None = None,
                window: float = 3.0, **traffic_kwargs) -> PolicedRun:
    """Run ``generator`` from ``src`` to ``dst`` through ``policed`` (harness.net.limiters.Police
    as applied) and count over one window, after ``warmup`` (default: the shapers')."""
    wins, rtt, result = counted_flow(generator, src, dst, {"drops": policed.drops}, policed.rate,
                                     warmup, window, ["received"], delivered=True,
                                     **traffic_kwargs)
    return PolicedRun(result, wins["received"], wins["drops"], policed.rate, policed.burst,
                      expected_goodput(policed.rate, mtu), rtt, wins.get("delivered"))
