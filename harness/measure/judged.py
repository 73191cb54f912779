"""How a figure is judged against a baseline, declared by the measurement that makes it.

    derived["metrics"] = judged("goodput_bps", TWO_SIDED) | judged("tunnel_loss", TWO_SIDED,
                                                                  sigma=0.0042)

``better``: which way is good tonight, where the measurement knows better than the figure's
declaration (a shaped goodput and an injected loss are two-sided: both ways off their
prediction are wrong); ``sigma``: the figure's own standard error where the measurement knows
it (a count's binomial interval).  The recorder completes them with each compared figure's
declaration (harness.core.figures), and harness.results.baseline reads them from the records.

``not_judged``: why the measurement did not judge this figure tonight (a receiver's goodput
read through a loss recovery of this machine's own): it is kept in the record, and a baseline
neither compares nor saves it."""

from __future__ import annotations

from ..core.figures import HIGHER, LOWER, TWO_SIDED

__all__ = ["HIGHER", "LOWER", "TWO_SIDED", "judged", "binomial_sigma"]


def judged(key: str, better: str | None = None, sigma: float | None = None,
           not_judged: str | None = None) -> dict:
    if better not in (None, HIGHER, LOWER, TWO_SIDED):
        raise ValueError(f"{key}: better must be {HIGHER}, {LOWER} or {TWO_SIDED}")
    if sigma is not None and not sigma >= 0:
        raise ValueError(f"{key}: sigma must be a number >= 0, not {sigma!r}")
    return {key: {k: v for k, v in (("better", better), ("sigma", sigma),
                                    ("not_judged", not_judged)) if v is not None}}


def binomial_sigma(share: float, trials: int) -> float:
    """Standard error of a share observed over ``trials`` independent draws."""
    return (share * (1 - share) / max(trials, 1)) ** 0.5
