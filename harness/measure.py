"""Turning traffic into figures: counter windows, expected goodput, errors.

Shapers count whole frames.  HTB and TBF charge a packet its length at the device, which on an
ifb fed by mirred from an Ethernet device includes the 14-byte Ethernet header: a 1500-byte MTU
TCP segment with timestamps carries 1448 payload bytes in a 1514-byte frame, so 100 Mbit/s of
shaping delivers 100 x 1448/1514 = 95.64 Mbit/s of goodput.

The kernel-counter figure follows the selftests (sch_tbf_core.sh): let the initial burst drain,
then count the shaper's bytes over a fixed window.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

ETH_HLEN = 14
IPV4_HLEN, IPV6_HLEN = 20, 40
TCP_HLEN, TCP_TIMESTAMPS = 20, 12


def tcp_payload(mtu: int, ipv6: bool = False, timestamps: bool = True) -> int:
    """TCP payload bytes of a full-sized segment (the MSS in use)."""
    return mtu - (IPV6_HLEN if ipv6 else IPV4_HLEN) - TCP_HLEN - (TCP_TIMESTAMPS if timestamps else 0)


def frame_bytes(mtu: int) -> int:
    """Bytes a shaper charges for a full-sized packet on an Ethernet-like device."""
    return mtu + ETH_HLEN


def expected_goodput(rate_bps: float, mtu: int = 1500, ipv6: bool = False,
                     timestamps: bool = True) -> float:
    """TCP goodput a shaper of ``rate_bps`` lets through at ``mtu``: rate x payload / frame."""
    return rate_bps * tcp_payload(mtu, ipv6, timestamps) / frame_bytes(mtu)


def error(measured: float, expected: float) -> float:
    """Relative error, e.g. -0.012 for 1.2 % below."""
    return measured / expected - 1.0


@dataclass
class CounterWindow:
    """A kernel byte counter read twice: after the burst drained and ``seconds`` later."""

    start_bytes: int
    end_bytes: int
    seconds: float
    warmup: float

    @property
    def rate_bps(self) -> float:
        return (self.end_bytes - self.start_bytes) * 8 / self.seconds

    def as_record(self) -> dict:
        d = asdict(self)
        d["rate_bps"] = self.rate_bps
        return d


def delta(before: dict, after: dict) -> dict:
    """How much each counter of ``before`` moved by ``after``."""
    return {k: after[k] - before[k] for k in before}


def wait_for_traffic(counters: dict, min_bytes: int = 30_000, timeout: float = 60.0) -> float:
    """Wait until every counter has moved by ``min_bytes``: the generator really sends.
    (A generator's start-up can take seconds, e.g. Python under emulation.)  Returns the wait."""
    t0 = time.monotonic()
    first = {k: c() for k, c in counters.items()}
    waiting = set(counters)
    while waiting:
        if time.monotonic() - t0 > timeout:
            from .errors import HarnessError

            raise HarnessError(f"no traffic through {sorted(map(str, waiting))} after {timeout:.0f} s")
        time.sleep(0.02)
        waiting = {k for k in waiting if counters[k]() - first[k] < min_bytes}
    return time.monotonic() - t0


def counter_windows(counters: dict, warmup: float, window: float,
                    wait_on=None) -> dict[str, CounterWindow]:
    """Wait for traffic, sleep ``warmup`` (the burst drains), then read every counter over
    ``window`` seconds, all at the same instants; the wait for traffic watches the byte
    counters named in ``wait_on`` (default: all)."""
    wait_for_traffic({k: counters[k] for k in (wait_on or counters)})
    time.sleep(warmup)
    t0 = time.monotonic()
    first = {k: c() for k, c in counters.items()}
    time.sleep(window)
    t1 = time.monotonic()
    last = {k: c() for k, c in counters.items()}
    return {k: CounterWindow(first[k], last[k], t1 - t0, warmup) for k in counters}


def settled(read, quiet: float = 0.2, timeout: float = 5.0):
    """Read counters until two reads ``quiet`` seconds apart agree (late packets such as a
    final ACK or an IPv6 neighbour message have landed), then return that reading."""
    deadline = time.monotonic() + timeout
    last = read()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = read()
        if now == last:
            return now
        last = now
    return last


@dataclass
class ShapedRun:
    """One generator run through a shaper: the generator's view and the kernel's."""

    traffic: object  # TrafficResult
    window: CounterWindow
    rate_bps: int
    expected_goodput_bps: float
    throttled: int = 0  # shaper overlimits during the window

    @property
    def sender_limited(self) -> bool:
        """The shaper never had to hold a packet back during the window: the sender (CPU),
        not the shaper, set the rate, and the figures say nothing about shaping accuracy."""
        return self.throttled == 0

    @property
    def goodput_error(self) -> float:
        return error(self.traffic.goodput_bps, self.expected_goodput_bps)

    @property
    def counter_error(self) -> float:
        return error(self.window.rate_bps, self.rate_bps)

    def derived(self) -> dict:
        return {"configured_bps": self.rate_bps, "expected_goodput_bps": self.expected_goodput_bps,
                "goodput_bps": self.traffic.goodput_bps, "goodput_error": self.goodput_error,
                "counter_rate_bps": self.window.rate_bps, "counter_error": self.counter_error,
                "shaper_throttled": self.throttled}


def shaped_run(generator, src, dst, shaper, mtu: int, warmup: float = 2.0, window: float = 3.0,
               **traffic_kwargs) -> ShapedRun:
    """Run ``generator`` from ``src`` to ``dst`` and watch ``shaper``'s byte counter meanwhile."""
    seconds = int(warmup + window + 2)
    flow = generator.start(src, dst, seconds, **traffic_kwargs)
    try:
        from .checkpoint import checkpoint

        checkpoint("traffic-running")
        wins = counter_windows({"bytes": shaper.counter, "throttled": shaper.throttled},
                               warmup, window, wait_on=["bytes"])
        result = flow.wait()
    except BaseException:
        flow.stop()
        raise
    thr = wins["throttled"]
    return ShapedRun(result, wins["bytes"], shaper.rate, expected_goodput(shaper.rate, mtu),
                     thr.end_bytes - thr.start_bytes)
