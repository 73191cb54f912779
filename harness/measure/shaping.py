"""One generator run through a shaper, and the rule that judges it.

The rule (a shaper that does not shape must fail, never skip):

- a rate above the configured one by more than the tolerance fails, whatever the shaper's
  overlimit counter says: a shaper that ignores its rate never throttles, so "no overlimits"
  cannot excuse it;
- a rate below the tolerance while the shaper never had to hold a packet back (no overlimits
  during the window) is *sender-limited*: the CPU, not the shaper, set the rate, and the figure
  says nothing about the shaper.  That, and only that, may be skipped, and the record says so;
- a rate below the tolerance while the shaper did throttle fails (it held back too much);
- anything else is judged against the tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.checkpoint import checkpoint
from .counters import CounterWindow, counter_windows
from .expect import error, expected_goodput

PASS, FAIL, SENDER_LIMITED = "pass", "fail", "sender-limited"


@dataclass
class ShapingVerdict:
    outcome: str  # pass | fail | sender-limited
    reasons: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def judge_shaping(errors: dict[str, float], throttled: int, tolerance: float) -> ShapingVerdict:
    """Judge relative errors (``{"kernel counter": -0.01, "goodput": +0.002}``) of one shaped
    run whose shaper throttled ``throttled`` times during the window."""
    above = [f"{name} {e:+.2%} is above the configured rate by more than {tolerance:.0%}"
             for name, e in errors.items() if e > tolerance]
    if above:
        return ShapingVerdict(FAIL, above + ([] if throttled else
                                             ["the shaper never throttled: it does not shape"]))
    below = [f"{name} {e:+.2%}" for name, e in errors.items() if e < -tolerance]
    if below and throttled == 0:
        return ShapingVerdict(SENDER_LIMITED, [
            f"the sender did not fill the shaper ({', '.join(below)}, no overlimits in the "
            "window): this machine's CPU, not the shaper, set the rate"])
    if below:
        return ShapingVerdict(FAIL, [f"{b}: below the configured rate by more than "
                                     f"{tolerance:.0%} while the shaper throttled" for b in below])
    return ShapingVerdict(PASS)


@dataclass
class ShapedRun:
    """One generator run through a shaper: the generator's view and the kernel's."""

    traffic: object  # TrafficResult
    window: CounterWindow
    rate_bps: int
    expected_goodput_bps: float
    throttled: int = 0  # shaper overlimits during the window

    @property
    def goodput_error(self) -> float:
        return error(self.traffic.goodput_bps, self.expected_goodput_bps)

    @property
    def counter_error(self) -> float:
        return error(self.window.rate_bps, self.rate_bps)

    def verdict(self, tolerance: float) -> ShapingVerdict:
        return judge_shaping({"kernel counter": self.counter_error, "goodput": self.goodput_error},
                             self.throttled, tolerance)

    def derived(self, tolerance: float) -> dict:
        v = self.verdict(tolerance)
        return {"configured_bps": self.rate_bps, "expected_goodput_bps": self.expected_goodput_bps,
                "goodput_bps": self.traffic.goodput_bps, "goodput_error": self.goodput_error,
                "counter_rate_bps": self.window.rate_bps, "counter_error": self.counter_error,
                "shaper_throttled": self.throttled, "shaping_verdict": v.outcome,
                "sender_limited": v.outcome == SENDER_LIMITED, "verdict_reason": v.reason}


def shaped_run(generator, src, dst, shaper, mtu: int, warmup: float = 2.0, window: float = 3.0,
               **traffic_kwargs) -> ShapedRun:
    """Run ``generator`` from ``src`` to ``dst`` and watch ``shaper``'s byte counter meanwhile."""
    seconds = int(warmup + window + 2)
    flow = generator.start(src, dst, seconds, **traffic_kwargs)
    try:
        checkpoint("traffic-running")
        wins = counter_windows({"bytes": shaper.counter, "throttled": shaper.throttled},
                               warmup, window, wait_on=["bytes"],
                               running={generator.name: flow.running})
        result = flow.wait()
    except BaseException:
        flow.stop()
        raise
    thr = wins["throttled"]
    return ShapedRun(result, wins["bytes"], shaper.rate, expected_goodput(shaper.rate, mtu),
                     thr.end_bytes - thr.start_bytes)
