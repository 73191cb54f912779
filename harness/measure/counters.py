"""Kernel counters read over a window, the way the kernel selftests count (sch_tbf_core.sh):
wait until traffic flows, let the initial burst drain, then read every counter at the same two
instants."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from ..core.errors import HarnessError


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
            raise HarnessError(f"no traffic through {sorted(map(str, waiting))} after {timeout:.0f} s")
        time.sleep(0.02)
        waiting = {k for k in waiting if counters[k]() - first[k] < min_bytes}
    return time.monotonic() - t0


def counter_windows(counters: dict, warmup: float, window: float, wait_on=None,
                    running: dict | None = None) -> dict[str, CounterWindow]:
    """Wait for traffic, sleep ``warmup`` (the burst drains), then read every counter over
    ``window`` seconds, all at the same instants; the wait for traffic watches the byte
    counters named in ``wait_on`` (default: all).

    ``running``: name -> callable telling whether that flow still runs.  A flow that ended
    before the window closed would make the window count idle time (a generator that started
    late, and the other one already finishing): that is an error, never a figure."""
    wait_for_traffic({k: counters[k] for k in (wait_on or counters)})
    time.sleep(warmup)
    t0 = time.monotonic()
    first = {k: c() for k, c in counters.items()}
    time.sleep(window)
    t1 = time.monotonic()
    last = {k: c() for k, c in counters.items()}
    ended = sorted(str(k) for k, alive in (running or {}).items() if not alive())
    if ended:
        raise HarnessError(f"flow(s) {', '.join(ended)} ended before the counting window closed "
                           f"({t1 - t0:.1f} s after {warmup:.1f} s of warm-up): run them longer")
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
