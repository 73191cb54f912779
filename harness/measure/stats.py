"""How sure a figure is: mean and 95 % confidence interval (Student's t) over repeats.

    s = summarize([0.0012, -0.0004, 0.0021])
    s.mean, s.half_width          # mean +- half_width holds the true mean with 95 % confidence

``separated(a, b)`` says whether two such intervals do not overlap: ``kernel-lab compare``
calls a change a regression only when it exceeds the metric's threshold *and* the intervals
separate, so the noise of repeats is never read as a regression.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

#: two-sided 95 % quantiles of Student's t, by degrees of freedom (1..30); beyond, the normal's
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
       2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
       2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
Z95 = 1.960
#: two-sided 99.9 % quantiles (1..30 degrees of freedom), for prediction intervals of a
#: nightly figure: a false alarm on one figure in a thousand nights
T999 = [636.619, 31.599, 12.924, 8.610, 6.869, 5.959, 5.408, 5.041, 4.781, 4.587, 4.437, 4.318,
        4.221, 4.140, 4.073, 4.015, 3.965, 3.922, 3.883, 3.850, 3.819, 3.792, 3.768, 3.745,
        3.725, 3.707, 3.690, 3.674, 3.659, 3.646]
Z999 = 3.291


def t999(df: int) -> float:
    if df < 1:
        raise ValueError("a prediction interval needs at least two samples")
    return T999[df - 1] if df <= len(T999) else Z999


def t95(df: int) -> float:
    if df < 1:
        raise ValueError("a confidence interval needs at least two samples")
    return T95[df - 1] if df <= len(T95) else Z95


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    half_width: float | None  # None for a single sample: no interval
    stdev: float | None

    @property
    def low(self) -> float:
        return self.mean - (self.half_width or 0.0)

    @property
    def high(self) -> float:
        return self.mean + (self.half_width or 0.0)

    def as_record(self) -> dict:
        return {"n": self.n, "mean": self.mean, "ci95_half_width": self.half_width,
                "stdev": self.stdev}


def summarize(values: list[float]) -> Summary:
    values = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
              and math.isfinite(v)]
    if not values:
        raise ValueError("no values to summarize")
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Summary(1, mean, None, None)
    sd = statistics.stdev(values)
    return Summary(len(values), mean, t95(len(values) - 1) * sd / math.sqrt(len(values)), sd)


def separated(a: Summary, b: Summary) -> bool:
    """True when the two 95 % intervals do not overlap (a single sample is a point)."""
    return a.high < b.low or b.high < a.low
