"""Nights in a row: each test's outcomes and flip rate, each figure's trend, each splat's nights.

A night is a run folder under the results root with a ``nightly.json`` (``kernel-lab nightly``
writes it, and ``merge`` for shards).  Per kernel of a night (its spec: ``debian:sid``,
``running``...) the records of its folders give:

- each test's outcome: ``passed``, ``failed``, ``crashed`` (failed with a kernel splat),
  ``retried`` (an attempt failed, a later one passed), ``skipped``;
- each figure's value (the mean of its passed records; with ``--repeat``, with its interval);
- each splat's fingerprint (:mod:`harness.kernel.fingerprint`).

Over the nights, a test's **flip rate** is how often its outcome changed from one night it ran
to the next (passed against failed; a retried night counts as failed).  A test is labelled
**flaky** when, in the window, it both failed and passed and flipped at least twice, or passed
only on a retry; never when any of its failures came with a kernel splat (a crash is a bug,
not noise), and the label never changes a verdict: it only says "failed 3 of the last 10
nights".  NIPA labels netdev's flaky tests by the same count (its flakes page).

    h = History.read(results_root, since=10)
    h.label("debian:sid", test_id)   ->  "flaky: failed 3 of the last 10 nights (...)"
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field

from ..measure.stats import summarize
from .baseline import _unjudged, _value, key_of, metrics_of
from .records import load_records

NIGHTLY = "nightly.json"
WINDOW = 10
PASSED, FAILED, CRASHED, RETRIED, SKIPPED = "passed", "failed", "crashed", "retried", "skipped"
RED = (FAILED, CRASHED, RETRIED)


@dataclass
class Night:
    run: str  # its folder's name
    folder: str
    started: str
    kernels: dict[str, list[dict]] = field(default_factory=dict)  # spec -> records
    junit: dict[str, dict[str, str]] = field(default_factory=dict)  # spec -> test -> outcome


def _folder(run_dir: str, recorded: str) -> str:
    """A kernel folder named in nightly.json, found again if the results were moved."""
    if os.path.isdir(recorded):
        return recorded
    parts = recorded.rstrip("/").split("/")
    name = os.path.basename(run_dir)
    if name in parts:
        return os.path.join(run_dir, *parts[parts.index(name) + 1:])
    return recorded


def read_night(run_dir: str) -> Night | None:
    """A nightly's run folder, or None when it is not one."""
    path = os.path.join(run_dir, NIGHTLY)
    try:
        with open(path) as f:
            kernels = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(kernels, list):
        return None
    night = Night(os.path.basename(run_dir.rstrip("/")), run_dir, "")
    starts = []
    for k in kernels:
        if not isinstance(k, dict) or not isinstance(k.get("spec"), str):
            continue
        recs, junit = [], {}
        for folder in k.get("folders") or []:
            found, _ = load_records(_folder(run_dir, folder), validate=False)
            recs += found
            junit.update(junit_outcomes(os.path.join(_folder(run_dir, folder), "junit.xml")))
        night.kernels[k["spec"]] = recs
        night.junit[k["spec"]] = junit
        starts += [r["started"] for r in recs if isinstance(r.get("started"), str)]
    night.started = min(starts) if starts else _mtime(path)
    return night


def _mtime(path: str) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(os.path.getmtime(path), dt.timezone.utc).isoformat()


def find_nights(results_root: str, runs: list[str] | None = None,
                since: int | None = None) -> list[Night]:
    """The nights under ``results_root`` (or the ``runs`` named: ids or folders), oldest
    first; with ``since``, the last ``since`` of them."""
    if runs:
        folders = [r if os.path.isdir(r) else os.path.join(results_root, r) for r in runs]
    else:
        try:
            names = sorted(os.listdir(results_root))
        except FileNotFoundError:
            names = []
        folders = [os.path.join(results_root, n) for n in names
                   if n != "latest" and not os.path.islink(os.path.join(results_root, n))]
    nights = [n for n in (read_night(f) for f in folders) if n is not None]
    nights.sort(key=lambda n: (n.started, n.run))
    return nights[-since:] if since else nights


SPLAT_WORDS = ("kernel splat during", "guest kernel panicked")


def junit_outcomes(path: str) -> dict[str, str]:
    """Each test's outcome from a session's junit.xml: it names every test, also one that
    failed before it recorded anything (a record-only view would miss it)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return {}
    out = {}
    for case in root.iter("testcase"):
        classname, name = case.get("classname") or "", case.get("name") or ""
        test = f"{classname.replace('.', '/')}.py::{name}" if classname else name
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        reruns = [c for c in case if c.tag in ("rerunFailure", "rerunError", "rerun")]
        if bad is not None:
            text = f"{bad.get('message') or ''} {bad.text or ''}"
            out[test] = CRASHED if any(w in text for w in SPLAT_WORDS) else FAILED
        elif case.find("skipped") is not None:
            out[test] = SKIPPED
        else:
            out[test] = RETRIED if reruns else PASSED
    return out


def outcomes(records: list[dict], junit: dict[str, str] | None = None) -> dict[str, str]:
    """Each test's outcome in one night on one kernel (see the module's docstring): junit's
    word for each test it names, made ``crashed`` or ``retried`` by what the records add."""
    out = dict(junit or {})
    for test, outcome in _record_outcomes(records).items():
        if test not in out or outcome in (CRASHED, RETRIED) and out[test] != CRASHED:
            out[test] = outcome
    return out


def _record_outcomes(records: list[dict]) -> dict[str, str]:
    by_test: dict[str, dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r.get("test_id"):
            by_test[r["test_id"]][int(r.get("attempt") or 1)].append(r)
    out = {}
    for test, attempts in by_test.items():
        verdicts = {a: {r.get("verdict") for r in recs} for a, recs in attempts.items()}
        splat = any(r.get("kernel_log", {}).get("splats") for recs in attempts.values()
                    for r in recs)
        last = verdicts[max(verdicts)]
        if "failed" in last:
            out[test] = CRASHED if splat else FAILED
        elif last <= {"skipped"}:
            out[test] = SKIPPED
        elif any("failed" in v for a, v in verdicts.items() if a != max(verdicts)) \
                or "flaky" in last:
            out[test] = CRASHED if splat else RETRIED
        else:
            out[test] = PASSED
    return out


@dataclass
class TestHistory:
    kernel: str
    test: str
    nights: list[tuple[str, str]]  # (run, outcome), oldest first; only nights it ran

    @property
    def ran(self) -> list[tuple[str, str]]:
        return [(n, o) for n, o in self.nights if o != SKIPPED]

    @property
    def failed_nights(self) -> list[str]:
        return [n for n, o in self.ran if o in RED]

    @property
    def flips(self) -> int:
        states = [o in RED for _, o in self.ran]
        return sum(1 for a, b in zip(states, states[1:]) if a != b)

    @property
    def flip_rate(self) -> float:
        n = len(self.ran)
        return self.flips / (n - 1) if n > 1 else 0.0

    @property
    def crashed(self) -> bool:
        return any(o == CRASHED for _, o in self.nights)

    @property
    def flaky(self) -> bool:
        if self.crashed:
            return False
        red = self.failed_nights
        retried = any(o == RETRIED for _, o in self.ran)
        return retried or (0 < len(red) < len(self.ran) and self.flips >= 2)

    def label(self) -> str:
        """One line: what the nights say of this test; "" when it passed every night."""
        red, n = self.failed_nights, len(self.ran)
        if not red:
            return ""
        count = f"failed {len(red)} of the last {n} night{'s' if n != 1 else ''}"
        nights = ", ".join(red[-5:]) + (" ..." if len(red) > 5 else "")
        if self.crashed:
            return f"kernel splat: {count} ({nights}); a crash is never flaky"
        if self.flaky:
            return f"flaky: {count} ({nights}), flip rate {self.flip_rate:.2f}"
        streak = 0
        for _, o in reversed(self.ran):
            if o not in RED:
                break
            streak += 1
        if streak == len(red) and streak < n:
            return (f"new: {count}, the last {streak} in a row "
                    f"(passed until {self.ran[n - streak - 1][0]})")
        return count


def measured(records: list[dict]) -> dict[tuple[str, str], tuple[list[float], bool]]:
    """{(measurement, metric): (values, any failed)} as measured (signed), failed tests'
    figures included: a trend must show the night a figure jumped, which is the night its test
    failed (baselines keep passed figures only; see harness.results.baseline.samples)."""
    out: dict[tuple[str, str], tuple[list[float], bool]] = {}
    for r in records:
        if r.get("verdict") not in ("passed", "flaky", "failed"):
            continue
        unjudged = _unjudged(r)
        for key, m in metrics_of(r).items():
            v = _value(m, r.get("derived", {}), transformed=False)
            if v is None or key in unjudged:
                continue
            values, failed = out.get((key_of(r), key), ([], False))
            out[(key_of(r), key)] = (values + [v], failed or r.get("verdict") == "failed")
    return out


@dataclass
class Trend:
    kernel: str
    measurement: str
    metric: str
    points: list[dict]  # {"run", "value", "half_width", "n"} oldest first


@dataclass
class SplatSeen:
    fingerprint: str
    kind: str
    first_line: str
    signature: str
    nights: list[str] = field(default_factory=list)
    kernels: list[str] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)


class History:
    def __init__(self, nights: list[Night]):
        self.nights = nights
        self.tests: dict[tuple[str, str], TestHistory] = {}
        self.trends: dict[tuple[str, str, str], Trend] = {}
        self.splats: dict[str, SplatSeen] = {}
        for night in nights:
            for spec, recs in night.kernels.items():
                for test, outcome in outcomes(recs, night.junit.get(spec)).items():
                    self.tests.setdefault((spec, test), TestHistory(spec, test, [])) \
                        .nights.append((night.run, outcome))
                for (meas, metric), (values, failed) in measured(recs).items():
                    s = summarize(values)
                    self.trends.setdefault((spec, meas, metric), Trend(spec, meas, metric, [])) \
                        .points.append({"run": night.run, "value": s.mean, "n": s.n,
                                        "half_width": s.half_width,
                                        "failed": failed})
                for r in recs:
                    for sp in r.get("kernel_log", {}).get("splats", []):
                        fp = sp.get("fingerprint")
                        if not fp:
                            continue
                        seen = self.splats.setdefault(fp, SplatSeen(
                            fp, sp.get("kind", ""), sp.get("first_line", ""),
                            sp.get("signature", "")))
                        for lst, item in ((seen.nights, night.run), (seen.kernels, spec),
                                          (seen.tests, key_of(r))):
                            if item not in lst:
                                lst.append(item)

    @classmethod
    def read(cls, results_root: str, runs: list[str] | None = None,
             since: int | None = WINDOW) -> History:
        return cls(find_nights(results_root, runs, since))

    def label(self, kernel: str, test: str) -> str:
        t = self.tests.get((kernel, test))
        return t.label() if t else ""

    def red(self) -> list[TestHistory]:
        """The tests that failed on some night, most failures first."""
        return sorted((t for t in self.tests.values() if t.failed_nights),
                      key=lambda t: (-len(t.failed_nights), t.kernel, t.test))

    def as_record(self) -> dict:
        return {
            "nights": [{"run": n.run, "started": n.started, "kernels": sorted(n.kernels)}
                       for n in self.nights],
            "tests": [{"kernel": t.kernel, "test": t.test, "nights": t.nights,
                       "failed": len(t.failed_nights), "ran": len(t.ran), "flips": t.flips,
                       "flip_rate": round(t.flip_rate, 3), "flaky": t.flaky,
                       "crashed": t.crashed, "label": t.label()}
                      for t in sorted(self.tests.values(), key=lambda t: (t.kernel, t.test))],
            "trends": [{"kernel": t.kernel, "measurement": t.measurement, "metric": t.metric,
                        "points": t.points} for t in self.trends.values()],
            "splats": [vars(s) for s in self.splats.values()],
        }
