"""Baselines for nightly regression: save a run's figures, compare a later run against them.

    kernel-lab baseline save RUN [--name NAME]
    kernel-lab compare RUN --baseline NAME          (or: pytest --baseline NAME)

A baseline is ``results/baselines/<NAME>.json``: for every measurement (lab and name) the
median of each metric below.  A comparison gives, per metric, the change in % against the
baseline and a verdict.  Each metric knows which way is better and its threshold; metrics
that are themselves errors or shares (an error of 0.1 % that becomes 0.3 % is +200 %) are
judged on their absolute change in percentage points.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import statistics
from dataclasses import dataclass

from tabulate import tabulate

from .errors import HarnessError


@dataclass(frozen=True)
class Metric:
    key: str
    better: str  # "higher" | "lower"
    threshold: float  # relative (0.10 = 10 %) or, with absolute=True, in the metric's unit
    absolute: bool = False
    transform: str = ""  # "abs": judge |value|


METRICS = [
    Metric("goodput_bps", "higher", 0.10),
    Metric("goodput_error", "lower", 0.02, absolute=True, transform="abs"),
    Metric("counter_error", "lower", 0.02, absolute=True, transform="abs"),
    Metric("datagram_loss", "lower", 0.03, absolute=True),
    Metric("fragments_per_datagram", "lower", 0.10, absolute=True),
]


def _value(metric: Metric, derived: dict):
    v = derived.get(metric.key)
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return None
    return abs(v) if metric.transform == "abs" else v


def figures(records: list[dict]) -> dict[str, dict[str, float]]:
    """{"lab::name": {metric: median}} over the records (repeats folded into the median)."""
    raw: dict[str, dict[str, list]] = {}
    for r in records:
        if r.get("verdict") not in ("passed", "flaky"):
            continue
        key = f"{r['lab']}::{r.get('name') or r['test_id']}"
        for m in METRICS:
            v = _value(m, r.get("derived", {}))
            if v is not None:
                raw.setdefault(key, {}).setdefault(m.key, []).append(v)
    return {k: {m: statistics.median(vs) for m, vs in d.items()} for k, d in raw.items()}


def baseline_path(results_root: str, name: str) -> str:
    if not name or "/" in name or name.startswith("."):
        raise HarnessError(f"bad baseline name {name!r}")
    return os.path.join(results_root, "baselines", f"{name}.json")


def save(records: list[dict], results_root: str, name: str, source: str) -> str:
    figs = figures(records)
    if not figs:
        raise HarnessError(f"{source} has no passed measurements to keep as a baseline")
    path = baseline_path(results_root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    kernel = records[0].get("kernel", {})
    with open(path, "w") as f:
        json.dump({"schema": 1, "name": name, "source": source, "kernel": kernel,
                   "saved": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                   "figures": figs}, f, indent=1)
    return path


def load(results_root: str, name: str) -> dict:
    path = baseline_path(results_root, name)
    try:
        with open(path) as f:
            data = json.load(f)
        if "figures" not in data:
            raise ValueError("no figures")
        return data
    except FileNotFoundError:
        raise HarnessError(f"no baseline {name!r} ({path}); save one with "
                           "`kernel-lab baseline save RUN --name NAME`") from None
    except ValueError as exc:
        raise HarnessError(f"baseline file {path} is not a kernel-lab baseline: {exc}") from None


@dataclass
class Change:
    measurement: str
    metric: Metric
    baseline: float
    now: float

    @property
    def change(self) -> float | None:
        """Relative change (0.05 = +5 %), None when the baseline is 0."""
        return None if self.baseline == 0 else self.now / self.baseline - 1

    @property
    def verdict(self) -> str:
        m = self.metric
        diff = (self.now - self.baseline) if m.absolute else (self.change or 0.0)
        worse = diff < 0 if m.better == "higher" else diff > 0
        if abs(diff) <= m.threshold:
            return "ok"
        return "REGRESSION" if worse else "improved"


def compare(records: list[dict], baseline: dict) -> list[Change]:
    now = figures(records)
    out = []
    by_key = {m.key: m for m in METRICS}
    for meas, base in sorted(baseline["figures"].items()):
        for key, bval in base.items():
            nval = now.get(meas, {}).get(key)
            if nval is not None and key in by_key:
                out.append(Change(meas, by_key[key], bval, nval))
    return out


def render(changes: list[Change], fmt: str = "github") -> str:
    def show(metric, v):
        if metric.key.endswith("_bps"):
            from .units import format_rate

            return format_rate(v)
        return f"{v * 100:.2f} %" if metric.key != "fragments_per_datagram" else f"{v:.2f}"

    rows = [[c.measurement, c.metric.key, show(c.metric, c.baseline), show(c.metric, c.now),
             "" if c.change is None else f"{c.change * 100:+.1f} %",
             f"{'±' + format(c.metric.threshold * 100, 'g') + ' pts' if c.metric.absolute else '±' + format(c.metric.threshold * 100, 'g') + ' %'}",
             f"{c.metric.better} is better", c.verdict] for c in changes]
    return tabulate(rows, headers=["measurement", "metric", "baseline", "now", "change",
                                   "threshold", "direction", "verdict"], tablefmt=fmt)


def regressions(changes: list[Change]) -> list[Change]:
    return [c for c in changes if c.verdict == "REGRESSION"]
