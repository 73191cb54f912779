"""Kernel counters read over a window, the way the kernel selftests count (sch_tbf_core.sh):
wait until traffic flows, let the initial burst drain, then read every counter over the window.

Unlike the selftests, every counter is read every ``period`` seconds across the window, and the
rate is the least-squares slope of bytes over time.  A counter moves in whole packets, and
through an ifb a packet is a GSO packet of up to 64 KiB: 52 ms at 10 Mbit/s, 1.7 % of a 3 s
window.  Two readings at the window's edges can each land anywhere within such a step; the
slope through 60 readings is not at the mercy of where the two edges fall (the endpoints'
figure is kept beside it, ``endpoint_rate_bps``).

A receiver's in-order byte count is different: behind a lost segment it stalls, then releases
what it held at once.  A fit through a window with such a stall in it is biased (a pair of
virtio-net ports in a guest: a 1 s stall early in the window made the fit read +9.99 % while
the bytes delivered between the edges were +0.74 %).  For such counters (``in-order``) the
fit is kept only while it agrees within ``STALL_SHARE`` with what was delivered between the
window's edges (the mean of the readings in the first and the last ``EDGE_S`` seconds);
otherwise the counter stalled, and the edges' figure is the rate (``stalled`` in the record).
A counter that stood still far longer than a 64 KiB packet takes stalled too, even where fit
and edges agree (a stall at the window's end pulls both down alike).
The fit stays the figure where it can: on a steady counter it is the closer one (averaged
edges alias with 64 KiB steps read every 50 ms).
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass, field

from ..core.errors import HarnessError

#: the span of readings averaged at each edge of a window for an ``in-order`` counter, and how
#: far its fit may stray from the averaged edges before the counter counts as stalled
EDGE_S = 0.25
STALL_SHARE = 0.01
#: an in-order counter that does not move for this long (or for the time STILL_PACKETS 64 KiB
#: GSO packets take at its mean rate, whichever is longer) waits behind a hole: a steady flow's
#: counter moves at least every 64 KiB (52 ms at 10 Mbit/s)
STILL_S, STILL_PACKETS = 0.3, 4
#: fewer readings than this over a window cannot give a slope worth judging; where a round of
#: readings is slow (an emulated guest with its CPU shared: 340-370 ms seen), the window runs on
#: until it has them, up to EXTEND times its length, while the flows still run
MIN_READINGS = 10
EXTEND = 2.0
#: each reading is taken at a random point within +-JITTER periods of its slot.  On a fixed
#: 50 ms beat a counter that steps by one packet every ~50 ms aliases: TBF with a peak rate at
#: 10 Mbit/s, MTU 9000, passes 63 KB GSO packets every 50.5 ms, every reading saw exactly one
#: step, and the fit read +0.96 % (HTB +0.53 %, TBF -0.68 %; host 6.18, run
#: 20261203-044754-73e6).  Taken at random phases the steps average out instead.
JITTER = 0.5


@dataclass
class CounterWindow:
    """A kernel byte counter read twice: after the burst drained and ``seconds`` later."""

    start_bytes: int
    end_bytes: int
    seconds: float
    warmup: float
    #: (seconds since the window opened, counter) read across the window, edges included
    samples: list = field(default_factory=list)
    #: "slope" (least squares through every reading) or "in-order" (the slope, unless it strays
    #: from the averaged edges by more than STALL_SHARE: a counter that stalled and caught up)
    method: str = "slope"

    @property
    def endpoint_rate_bps(self) -> float:
        """From the two readings at the window's edges alone."""
        return (self.end_bytes - self.start_bytes) * 8 / self.seconds

    @property
    def rate_bps(self) -> float:
        """In bit/s, by ``method``; the endpoints' figure when fewer than three readings were
        taken."""
        if len(self.samples) < 3:
            return self.endpoint_rate_bps
        return self.edges_rate_bps if self.stalled else self.fit_rate_bps

    @property
    def fit_rate_bps(self) -> float:
        """Least-squares slope of the readings, in bit/s."""
        t, v = zip(*self.samples)
        return statistics.linear_regression(t, v).slope * 8

    @property
    def stalled(self) -> bool:
        """An ``in-order`` counter whose fit strays from its averaged edges by > STALL_SHARE,
        or that stood still longer than STILL_S (or than STILL_PACKETS 64 KiB packets take at
        its mean rate): a stall at the window's end leaves fit and edges both low, and
        agreeing."""
        if self.method != "in-order" or len(self.samples) < 3:
            return False
        edges = self.edges_rate_bps
        if abs(self.fit_rate_bps - edges) > STALL_SHARE * abs(edges):
            return True
        mean = (self.samples[-1][1] - self.samples[0][1]) / max(self.seconds, 1e-9)  # bytes/s
        return self.longest_still_s > max(STILL_S, STILL_PACKETS * 65536 / max(mean, 1.0))

    @property
    def longest_still_s(self) -> float:
        """The longest time between two readings of the same value."""
        longest, since = 0.0, self.samples[0]
        for t, v in self.samples[1:]:
            if v != since[1]:
                since = (t, v)
            longest = max(longest, t - since[0])
        return longest

    @property
    def edges_rate_bps(self) -> float:
        """Between the means of the readings in the first and the last EDGE_S seconds."""
        first = [s for s in self.samples if s[0] - self.samples[0][0] <= EDGE_S]
        last = [s for s in self.samples if self.samples[-1][0] - s[0] <= EDGE_S]
        (ta, va), (tb, vb) = ([statistics.fmean(c) for c in zip(*g)] for g in (first, last))
        return (vb - va) * 8 / (tb - ta) if tb > ta else self.endpoint_rate_bps

    def as_record(self) -> dict:
        return {"start_bytes": self.start_bytes, "end_bytes": self.end_bytes,
                "seconds": self.seconds, "warmup": self.warmup, "method": self.method,
                "rate_bps": self.rate_bps, "stalled": self.stalled,
                "endpoint_rate_bps": self.endpoint_rate_bps,
                "samples": [[round(t, 6), v] for t, v in self.samples]}


def delta(before: dict, after: dict) -> dict:
    """How much each counter of ``before`` moved by ``after`` (what is not a number, e.g. a
    list of targets, is left out)."""
    return {k: after[k] - before[k] for k in before
            if isinstance(before[k], (int, float)) and not isinstance(before[k], bool)}


def wait_for_traffic(counters: dict, min_bytes: int = 30_000, timeout: float = 60.0) -> float:
    """Wait until every counter has moved by ``min_bytes``: the generator really sends.
    (A generator's start-up can take seconds, e.g. Python under emulation.)  Returns the wait."""
    t0 = time.monotonic()
    first = {k: c() for k, c in counters.items()}
    waiting = set(counters)
    while waiting:
        if time.monotonic() - t0 > timeout:
            raise HarnessError(f"no traffic through {sorted(map(str, waiting))} after {timeout:.0f} s")
        time.sleep(0.02)
        waiting = {k for k in waiting if counters[k]() - first[k] < min_bytes}
    return time.monotonic() - t0


def _read_all(counters: dict, t0: float) -> dict:
    """Read every counter once: {name: (seconds since t0 at the middle of its read, value)}."""
    out = {}
    for k, c in counters.items():
        before = time.monotonic()
        value = c()
        out[k] = ((before + time.monotonic()) / 2 - t0, value)
    return out


def counter_windows(counters: dict, warmup: float, window: float, wait_on=None,
                    running: dict | None = None, period: float = 0.05,
                    in_order=()) -> dict[str, CounterWindow]:
    """Wait for traffic, sleep ``warmup`` (the burst drains), then read every counter every
    ``period`` seconds for ``window`` seconds (longer, up to EXTEND x, until MIN_READINGS were
    taken); the wait for traffic watches the byte counters named in ``wait_on`` (default:
    all).  The counters named in ``in_order`` may stall and catch
    up (a receiver's in-order bytes): see ``in-order`` above.

    ``running``: name -> callable telling whether that flow still runs.  A flow that ended
    before the window closed would make the window count idle time (a generator that started
    late, and the other one already finishing): that is an error, never a figure."""
    wait_for_traffic({k: counters[k] for k in (wait_on or counters)})
    # every counter read once before the window: a reader's first call may pay for set-up
    # (an import: 0.4 s in an emulated guest) that must not shift its first reading's time
    _read_all(counters, 0.0)
    time.sleep(warmup)
    t0 = time.monotonic()
    readings = [_read_all(counters, t0)]
    # the window is time, not a count of readings: a kernel (or an emulated CPU) on which one
    # round of readings takes longer than ``period`` gets fewer readings, not a longer window.
    # Each reading falls at a random point of its period (JITTER): read on a fixed beat, a
    # counter that moves in packets spaced about that beat apart aliases (see JITTER)
    beat = random.Random()

    def slot(i: int) -> float:
        return t0 + period * (i + beat.uniform(-JITTER, JITTER))

    while time.monotonic() - t0 < window:
        next_at = slot(len(readings))
        time.sleep(max(0.0, min(next_at, t0 + window) - time.monotonic()))
        readings.append(_read_all(counters, t0))
    ended = sorted(str(k) for k, alive in (running or {}).items() if not alive())

    def alive() -> bool:
        return all(is_alive() for is_alive in (running or {}).values())

    # too few readings (slow rounds): run on while every flow runs; a round in which a flow
    # ended is not kept (it may count idle time)
    while not ended and len(readings) < MIN_READINGS and time.monotonic() - t0 < EXTEND * window:
        time.sleep(max(0.0, slot(len(readings)) - time.monotonic()))
        reading = _read_all(counters, t0)
        if not alive():
            break
        readings.append(reading)
    first = next(iter(counters))
    span = readings[-1][first][0] - readings[0][first][0]
    rounds = span / max(len(readings) - 1, 1)
    if ended:
        raise HarnessError(f"flow(s) {', '.join(ended)} ended before the counting window closed "
                           f"({span:.1f} s after {warmup:.1f} s of warm-up, {len(readings)} "
                           f"readings, {rounds * 1000:.0f} ms apart): run them longer")
    if len(readings) < MIN_READINGS:
        raise HarnessError(f"only {len(readings)} readings of the counters in {span:.1f} s "
                           f"({rounds * 1000:.0f} ms each, {period * 1000:.0f} ms wanted): "
                           "reading them is too slow here to fit a rate")
    out = {}
    for k in counters:
        samples = [r[k] for r in readings]
        out[k] = CounterWindow(samples[0][1], samples[-1][1], samples[-1][0] - samples[0][0],
                               warmup, samples, "in-order" if k in in_order else "slope")
    return out


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
