"""Baselines for nightly regression: save a run's figures, compare a later run against them.

    kernel-lab baseline save RUN [--name NAME]
    kernel-lab compare RUN --baseline NAME [--allow-missing]   (or: pytest --baseline NAME)

A baseline is ``results/baselines/<NAME>.json``: for every measurement (lab and name) the
median of each metric below over the passed records.  A comparison gives, per metric, the
change against the baseline and a verdict.  Each metric keeps its direction: higher is better,
lower is better, or two-sided (a move either way beyond the threshold is a regression, e.g.
fragments per datagram, which should stay exactly 2).  Metrics that are themselves errors or
shares are judged on their absolute change in points (an error of 0.1 % that becomes 0.3 % is
not "+200 %").

Under ``--repeat N`` a metric has N samples: the baseline keeps their mean and 95 % confidence
interval (Student's t, ``harness.measure.stats``) beside the median, and a change beyond the
threshold is a regression only when the two intervals separate: the noise of repeats is not a
regression, a real move is.  With one sample on either side there is no interval, and the
threshold alone decides.

Each threshold follows the figure's own spread, strongest source first:

1. a count's binomial interval: a record may declare a figure's standard error next to the
   measurement that makes it (harness.measure.judged: ``derived["metrics"] =
   judged("tunnel_loss", TWO_SIDED, sigma=0.0042)``); two draws differ by more than
   ``Z_COUNT`` x sqrt(sb^2 + sn^2) with a chance of 7e-6;
2. under ``--repeat``, the two 95 % intervals must separate (as well as the threshold below);
3. the run-to-run spread of a single-sample figure, kept with the baseline: every save adds
   the night's figure to the baseline's ``history`` (the last HISTORY nights); from 3 nights
   on, the baseline is their mean and the threshold their 99.9 % prediction interval
   (Student's t x s x sqrt(1 + 1/n));
4. otherwise the figure's declared first-night threshold (harness.core.figures; a CPU-bound
   rate gets CPU_BOUND_FIRST).

Which figures are compared, and how, comes from their declarations (harness.core.figures),
which every record carries (``derived.metrics``): there is no list of figures here, and a new
lab's figure gets a baseline as soon as it is declared.

A record's declaration may also set the direction: a shaped goodput is two-sided (3 % above
the configured rate is a shaper that went fast, not an improvement), and so is a loss the lab
injects on purpose (a loss that falls to 0 is a broken impairment).

A measurement the baseline has and the new run lacks, or has only as failed or skipped, is a
change too: ``missing``, ``failed`` or ``skipped``, and it counts as a regression unless the
user says otherwise (``allow_missing``): a nightly job must not go green because a test
stopped producing its figure.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import statistics
from dataclasses import asdict, dataclass

from tabulate import tabulate

from ..core.errors import HarnessError
from ..core.units import format_rate
from ..core.figures import ERROR, HIGHER, LOWER, RATE, RESERVED, SHARE, TWO_SIDED, declared
from ..measure import accounting, shaping  # noqa: F401 - they declare their figures
from ..traffic import result  # noqa: F401
from ..measure.stats import Summary, separated, summarize, t999



@dataclass(frozen=True)
class Metric:
    """How a figure is judged: its declaration (harness.core.figures) as the record carries it,
    with tonight's direction where the measurement said one."""
    key: str
    better: str  # higher | lower | two-sided
    threshold: float  # relative (0.10 = 10 %) or, with absolute=True, in the metric's unit
    absolute: bool = False
    transform: str = ""  # "abs": judge |value|
    resolution: float = 0.0  # the smallest threshold a history may set
    unit: str = ""

    @classmethod
    def of(cls, key: str, decl: dict | None) -> "Metric | None":
        """From a record's declaration of ``key`` (``derived.metrics``), completed by the
        figure's declaration where the record predates them; None for a figure not compared."""
        decl = decl if isinstance(decl, dict) else {}
        if "unit" not in decl:  # written before records carried declarations
            fig = declared(key)
            decl = {**(fig.as_record() if fig else {}), **decl}
        if decl.get("better") not in (HIGHER, LOWER, TWO_SIDED) or \
                not isinstance(decl.get("threshold"), (int, float)):
            return None
        return cls(key, decl["better"], float(decl["threshold"]), bool(decl.get("absolute")),
                   decl.get("transform", ""), float(decl.get("resolution") or 0.0),
                   decl.get("unit", ""))


def metrics_of(record: dict) -> dict[str, Metric]:
    """The compared figures of a record, each as judged."""
    derived = record.get("derived", {})
    said = _declared(record)
    out = {}
    for key in derived:
        if key in RESERVED:
            continue
        m = Metric.of(key, said.get(key))
        if m is not None:
            out[key] = m
    return out


#: the first nights' threshold of an unshaped (CPU-bound, higher-is-better) rate, before a
#: history knows its spread: only gross breakage.  Such a rate measures the machine's CPU as
#: much as the kernel: an emulated Debian 6.12 guest's unshaped flow through the ifb read
#: 727.7 then 587.3 Mbit/s on two nights with nothing changed (-19.3 %, runs
#: 20261201-ev23-night1/2), and the host's unshaped veth rate tripped 10 % on two of ten nights
#: (bench/replay_nights.py); 50 % is 2.5x the widest move seen.  A shaped rate is two-sided
#: against its configured rate and keeps its 10 %; its error keeps 1 point.
CPU_BOUND_FIRST = 0.50
#: the same under software emulation (a guest that systemd-detect-virt calls "qemu", not
#: "kvm"), where such a rate measures the emulator: ovs_gre's VM behind GRE in Debian 6.1
#: read 33.6, 65.9, 45.3 and 22.4 Mbit/s on four nights with nothing changed (runs
#: 20261202-quiet10-night1/2, -quiet12-night1/2; -50.5 % from one night to the next tripped
#: 50 %).  85 % (a rate that falls to less than a sixth) is 1.3x the widest fall seen (-66 %).
CPU_BOUND_FIRST_EMULATED = 0.85
#: standard errors between two binomial draws that make a regression (two-sided 7e-6)
Z_COUNT = 4.5
#: nights of figures a baseline keeps; from MIN_HISTORY on they set the threshold
HISTORY, MIN_HISTORY = 10, 3


def _declared(record: dict) -> dict:
    metrics = record.get("derived", {}).get("metrics")
    return metrics if isinstance(metrics, dict) else {}


def _unjudged(record: dict) -> set:
    """The metrics the record says it did not judge tonight (``not_judged``)."""
    return {k for k, d in _declared(record).items() if isinstance(d, dict) and d.get("not_judged")}


def _value(metric: Metric, derived: dict, transformed: bool = True):
    v = derived.get(metric.key)
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return None
    return abs(v) if transformed and metric.transform == "abs" else v


def key_of(record: dict) -> str:
    return f"{record['lab']}::{record.get('name') or record['test_id']}"


def samples(records: list[dict], transformed: bool = True) -> dict[str, dict[str, list]]:
    """{"lab::name": {metric: [value of each passed record]}} (repeats are several); with
    ``transformed`` as judged (``|error|``), else as measured (signed)."""
    raw: dict[str, dict[str, list]] = {}
    for r in records:
        if r.get("verdict") not in ("passed", "flaky"):
            continue
        unjudged = _unjudged(r)
        for key, m in metrics_of(r).items():
            if key in unjudged:  # kept in the record, never a figure to compare or save
                continue
            v = _value(m, r.get("derived", {}), transformed)
            if v is not None:
                raw.setdefault(key_of(r), {}).setdefault(key, []).append(v)
    return raw


def figures(records: list[dict]) -> dict[str, dict[str, float]]:
    """{"lab::name": {metric: median}} over the passed records (repeats folded in)."""
    return {k: {m: statistics.median(vs) for m, vs in d.items()}
            for k, d in samples(records).items()}


def declarations(records: list[dict]) -> dict[str, dict[str, dict]]:
    """{"lab::name": {metric: declaration}}: how the passed records judge each figure (the
    figure's declaration with tonight's direction; under repeats the last one's, and their
    sigmas combined as the median's).  A baseline keeps them: a figure is judged as it was
    declared, wherever the lab's code is."""
    out: dict[str, dict[str, dict]] = {}
    sig: dict[tuple, list] = {}
    for r in records:
        if r.get("verdict") not in ("passed", "flaky"):
            continue
        said = _declared(r)
        for key, m in metrics_of(r).items():
            d = out.setdefault(key_of(r), {}).setdefault(key, {})
            d.update({k: v for k, v in asdict(m).items() if k != "key"})
            decl = said.get(key) if isinstance(said.get(key), dict) else {}
            if isinstance(decl.get("sigma"), (int, float)) and decl["sigma"] >= 0:
                sig.setdefault((key_of(r), key), []).append(float(decl["sigma"]))
    for (meas, key), values in sig.items():  # n draws: the median's error is about s/sqrt(n)
        out[meas][key]["sigma"] = statistics.fmean(values) / len(values) ** 0.5
    return out


def intervals(records: list[dict], transformed: bool = True) -> dict[str, dict[str, dict]]:
    """{"lab::name": {metric: {n, mean, ci95_half_width, stdev}}} for the metrics with two
    samples or more (the records of ``--repeat N``); ``transformed`` as for :func:`samples`."""
    return {k: {m: summarize(vs).as_record() for m, vs in d.items() if len(vs) >= 2}
            for k, d in samples(records, transformed).items()
            if any(len(vs) >= 2 for vs in d.values())}


def _interval(data: dict | None) -> Summary | None:
    if not data or data.get("ci95_half_width") is None:
        return None
    return Summary(data["n"], data["mean"], data["ci95_half_width"], data.get("stdev"))


class NoBaseline(HarnessError):
    """No baseline of that name was ever saved (a first night): not an error, never a pass
    either.  Any other HarnessError of :func:`load` (unreadable, corrupt) is infrastructure."""


BASELINE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@+-]*")


def baseline_path(results_root: str, name: str) -> str:
    if not name or not BASELINE_NAME.fullmatch(name) or ".." in name:
        raise HarnessError(f"bad baseline name {name!r}: letters, digits and _ . : @ + - only")
    return os.path.join(results_root, "baselines", f"{name}.json")


def save(records: list[dict], results_root: str, name: str, source: str,
         previous: dict | None = None, under_test: dict | None = None) -> str:
    """Keep the run's figures as baseline ``name``; with ``previous`` (the baseline it
    replaces) the history of the last HISTORY nights goes on, which sets the thresholds.
    ``under_test``: the kernel as ``--kernel`` named it (a bisect from a later regression
    starts there)."""
    figs = figures(records)
    if not figs:
        raise HarnessError(f"{source} has no passed measurements to keep as a baseline")
    path = baseline_path(results_root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    kernel = records[0].get("kernel", {})
    history = {}
    old = (previous or {}).get("history") or {}
    for meas, values in figs.items():
        history[meas] = {}
        for key, v in values.items():
            past = old.get(meas, {}).get(key) if isinstance(old.get(meas), dict) else None
            past = [x for x in past if isinstance(x, (int, float))] if isinstance(past, list) else []
            history[meas][key] = (past + [v])[-HISTORY:]
    # a figure not judged tonight keeps its last night's value and history: not judging it
    # once must not end its comparisons
    unjudged = {(key_of(r), k) for r in records for k in _unjudged(r)}
    before = (previous or {}).get("figures") or {}
    for meas, key in sorted(unjudged):
        kept = before.get(meas, {}).get(key) if isinstance(before.get(meas), dict) else None
        if meas in figs and isinstance(kept, (int, float)) and key not in figs[meas]:
            figs[meas][key] = kept
            if isinstance(old.get(meas), dict) and isinstance(old[meas].get(key), list):
                history[meas][key] = old[meas][key][-HISTORY:]
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump({"schema": 1, "name": name, "source": source, "kernel": kernel,
                   "kernel_under_test": under_test,
                   "saved": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                   "figures": figs, "intervals": intervals(records),
                   "declared": declarations(records), "history": history}, f, indent=1)
    os.replace(tmp, path)  # a reader never sees half a baseline
    return path


def load(results_root: str, name: str) -> dict:
    path = baseline_path(results_root, name)
    try:
        with open(path) as f:
            data = json.load(f)
        if not isinstance(data, dict) or not isinstance(data.get("figures"), dict):
            raise ValueError("no figures")
        return data
    except FileNotFoundError:
        raise NoBaseline(f"no baseline {name!r} ({path}); save one with "
                           "`kernel-lab baseline save RUN --name NAME`") from None
    except (ValueError, TypeError) as exc:
        raise HarnessError(f"baseline file {path} is not a kernel-lab baseline: {exc}") from None
    except OSError as exc:
        raise HarnessError(f"baseline file {path} cannot be read: {exc}") from None


@dataclass
class Change:
    measurement: str
    metric: Metric | None  # None for a measurement that is missing, failed or skipped
    baseline: float | None
    now: float | None
    status: str = "measured"  # measured | missing | failed | skipped | not judged tonight
    allowed: bool = False  # the user said a missing measurement is not a regression
    base_interval: Summary | None = None  # mean +- 95 % CI, with repeats on that side
    now_interval: Summary | None = None
    flaky: str = ""  # the failed attempt(s) of a measurement that passed on retry
    sigma_base: float | None = None  # declared standard errors (a count's binomial interval)
    sigma_now: float | None = None
    history: tuple = ()  # the baseline's earlier nights of this figure
    emulated: bool = False  # tonight's figure was measured in a software-emulated guest

    @property
    def threshold(self) -> tuple[float, str]:
        """The largest change that is still noise, in the metric's unit (relative for a
        relative metric), and where it comes from."""
        m = self.metric
        if self.sigma_base is not None and self.sigma_now is not None:
            spread = (self.sigma_base ** 2 + self.sigma_now ** 2) ** 0.5
            if m.absolute:
                return Z_COUNT * spread, f"{Z_COUNT:g} sigma of two draws"
            return Z_COUNT * spread / abs(self.baseline or 1), f"{Z_COUNT:g} sigma of two draws"
        if len(self.history) >= MIN_HISTORY:
            n = len(self.history)
            sd = statistics.stdev(self.history)
            width = t999(n - 1) * sd * (1 + 1 / n) ** 0.5
            if not m.absolute:
                width /= abs(self.baseline or 1)
            return max(width, m.resolution), f"99.9 % prediction from {n} nights"
        if m.unit == RATE and m.better == HIGHER and self.emulated:
            return CPU_BOUND_FIRST_EMULATED, ("fixed for a CPU-bound rate under emulation until "
                                              "3 nights give its spread")
        if m.unit == RATE and m.better == HIGHER:
            return CPU_BOUND_FIRST, "fixed for a CPU-bound rate until 3 nights give its spread"
        return m.threshold, "fixed (no spread known yet)"

    @property
    def within_noise(self) -> bool:
        """Both sides were repeated and their 95 % intervals overlap."""
        return (self.base_interval is not None and self.now_interval is not None
                and not separated(self.base_interval, self.now_interval))

    @property
    def change(self) -> float | None:
        """Relative change (0.05 = +5 %), None when it cannot be computed."""
        if self.status != "measured" or not self.baseline:
            return None
        return self.now / self.baseline - 1

    @property
    def verdict(self) -> str:
        """The judgement; a figure that passed only on retry reads ``FLAKY: ...`` before it."""
        return f"FLAKY: {self.judged}" if self.flaky else self.judged

    @property
    def judged(self) -> str:
        if self.status != "measured":
            return self.status if self.allowed else f"REGRESSION ({self.status})"
        m = self.metric
        diff = (self.now - self.baseline) if m.absolute else (self.change or 0.0)
        if abs(diff) <= self.threshold[0]:
            return "ok"
        if self.within_noise:
            return "ok (within noise)"
        if m.better == TWO_SIDED:
            return "REGRESSION"
        worse = diff < 0 if m.better == HIGHER else diff > 0
        return "REGRESSION" if worse else "improved"

    @property
    def regression(self) -> bool:
        return self.judged.startswith("REGRESSION")


def compare(records: list[dict], baseline: dict, allow_missing: bool = False) -> list[Change]:
    now = figures(records)
    now_iv, base_iv = intervals(records), baseline.get("intervals", {})
    now_decl, base_decl = declarations(records), baseline.get("declared") or {}
    history = baseline.get("history") or {}
    verdicts: dict[str, set] = {}
    for r in records:
        verdicts.setdefault(key_of(r), set()).add(r.get("verdict"))
    retried = failed_attempts(records)
    unjudged = {(key_of(r), k) for r in records for k in _unjudged(r)}
    emulated = {key_of(r) for r in records if _emulated(r)}
    out = []
    for meas, base in sorted(baseline["figures"].items()):
        if meas not in now:
            seen = verdicts.get(meas, set())
            status = "failed" if "failed" in seen else "skipped" if "skipped" in seen else "missing"
            out.append(Change(meas, None, None, None, status, allow_missing))
            continue
        for key, bval in base.items():
            nval = now[meas].get(key)
            nd = now_decl.get(meas, {}).get(key, {})
            bd = base_decl.get(meas, {}).get(key, {}) if isinstance(base_decl.get(meas), dict) else {}
            metric = Metric.of(key, nd or bd)
            if metric is None:  # a figure no declaration says to compare
                continue
            if nval is None and (meas, key) in unjudged:
                out.append(Change(meas, metric, bval, None, "not judged tonight", True))
            elif nval is None:
                out.append(Change(meas, metric, bval, None, "missing", allow_missing))
            else:
                biv = _interval(base_iv.get(meas, {}).get(key))
                niv = _interval(now_iv.get(meas, {}).get(key))
                past = tuple(v for v in (history.get(meas, {}).get(key) or [])
                             if isinstance(v, (int, float))) if isinstance(history.get(meas), dict) else ()
                if len(past) >= MIN_HISTORY and biv is None:
                    bval = statistics.fmean(past)  # the nights' mean the prediction is about
                # repeated: the figure is the mean its interval is centred on
                out.append(Change(meas, metric, biv.mean if biv else bval,
                                  niv.mean if niv else nval, base_interval=biv, now_interval=niv,
                                  sigma_base=bd.get("sigma"), sigma_now=nd.get("sigma"),
                                  history=past,
                                  emulated=meas in emulated))
    for c in out:
        if "flaky" in verdicts.get(c.measurement, ()):
            c.flaky = retried.get(c.measurement) or "failed before it passed on retry"
    return out


def _emulated(record: dict) -> bool:
    """Measured in a guest under software emulation: systemd-detect-virt says "qemu" for
    TCG ("kvm" with hardware virtualization)."""
    virt = (record.get("host") or {}).get("virtualization") or {}
    return virt.get("vm") == "qemu"


def failed_attempts(records: list[dict]) -> dict[str, str]:
    """{"lab::name": "test id attempt 1 failed: reason; ..."}: the failed attempts of each
    measurement that passed on a later attempt (verdict ``flaky``)."""
    flaky = {(r["lab"], r["test_id"], r.get("measurement", 0)) for r in records
             if r.get("verdict") == "flaky"}
    out: dict[str, list[str]] = {}
    for r in sorted(records, key=lambda r: r.get("attempt", 1)):
        if (r["lab"], r["test_id"], r.get("measurement", 0)) in flaky and r.get("verdict") == "failed":
            out.setdefault(key_of(r), []).append(
                f"{r['test_id']} attempt {r.get('attempt', 1)} failed: "
                f"{(r.get('reason') or 'no reason recorded')[:200]}")
    return {k: "; ".join(v) for k, v in out.items()}


def _show(metric: Metric | None, v, iv: Summary | None = None) -> str:
    """The figure, and its 95 % interval when it was repeated: ``0.12 ± 0.05 %``."""
    if v is None or metric is None:
        return "-"
    pm = iv is not None
    if metric.unit == RATE:
        return format_rate(v) + (f" ± {format_rate(iv.half_width)}" if pm else "")
    if not _in_points(metric):
        return f"{v:.2f}" + (f" ± {iv.half_width:.2f}" if pm else "")
    return f"{v * 100:.2f}" + (f" ± {iv.half_width * 100:.2f}" if pm else "") + " %"


def _in_points(m: Metric) -> bool:
    """An error or a share: shown in %, its change in points."""
    return m.unit in (ERROR, SHARE)


def _show_change(c: Change) -> str:
    """Relative for a figure (+1.2 %), in points for an error or a share (+0.57 pts: an error
    of 0.07 % that became 0.64 % is not "+820 %")."""
    m = c.metric
    if c.status != "measured" or m is None:
        return ""
    if m.absolute and _in_points(m):
        return f"{(c.now - c.baseline) * 100:+.2f} pts"
    if m.absolute:
        return f"{c.now - c.baseline:+.2f}"
    return "" if c.change is None else f"{c.change * 100:+.1f} %"


def _threshold(c: Change) -> str:
    m = c.metric
    if m is None or c.status != "measured":
        return "-"
    value, how = c.threshold
    unit = " pts" if m.absolute and _in_points(m) else " %" if not m.absolute else ""
    scale = 100 if unit else 1
    return f"±{value * scale:.3g}{unit} ({how})"


def describe(c: Change) -> str:
    """One line: which figure moved, from what to what, against which threshold."""
    if c.metric is None:
        return f"{c.measurement}: {c.verdict}"
    return (f"{c.measurement} {c.metric.key}: {_show(c.metric, c.baseline, c.base_interval)} -> "
            f"{_show(c.metric, c.now, c.now_interval)} ({_show_change(c) or c.status}, "
            f"threshold {_threshold(c)}): {c.verdict}")


def render(changes: list[Change], fmt: str = "github") -> str:
    rows = [[c.measurement, c.metric.key if c.metric else "(measurement)",
             _show(c.metric, c.baseline, c.base_interval), _show(c.metric, c.now, c.now_interval),
             _show_change(c), _threshold(c),
             f"{c.metric.better} is better" if c.metric and c.metric.better != TWO_SIDED
             else (TWO_SIDED if c.metric else "-"), c.verdict] for c in changes]
    table = tabulate(rows, headers=["measurement", "metric", "baseline", "now", "change",
                                    "threshold", "direction", "verdict"], tablefmt=fmt)
    return "\n".join([table, *flaky_lines(changes)])


def flaky_lines(changes: list[Change]) -> list[str]:
    """One line per flaky measurement with its failed attempt(s), for under the table."""
    seen, lines = set(), []
    for c in changes:
        if c.flaky and c.measurement not in seen:
            seen.add(c.measurement)
            lines.append(f"FLAKY {c.measurement}: {c.flaky}")
    return lines


def regressions(changes: list[Change]) -> list[Change]:
    return [c for c in changes if c.regression]
