"""Runs as the report sees them: records grouped per run and kernel, measurements, verdicts
(the last attempt decides), kernel splats, and the detail table of every figure.  The report
never re-runs anything: it reads records (harness.results.records)."""

from __future__ import annotations

import os
import statistics
from collections import defaultdict

from ..core.errors import HarnessError
from ..core.units import format_rate
from ..results.records import load_records

FORMATS = {"md": "github", "latex": "latex_booktabs", "html": "html"}


# -- loading ------------------------------------------------------------------------------------
class Run:
    """The records of one run folder (a ``--kernel`` run's guest folder counts as its own run)."""

    def __init__(self, folder: str, records: list[dict], problems: list[str]):
        self.folder, self.records, self.problems = folder, records, problems
        k = records[0].get("kernel", {}) if records else {}
        self.release = k.get("release", "?")
        self.where = k.get("where", "?")
        self.run_id = os.path.basename(os.path.normpath(folder))  # the run folder's name

    @property
    def label(self) -> str:
        return self.label_of(self.release, self.where)

    @staticmethod
    def label_of(release: str, where: str) -> str:
        return f"{release} ({where})"


def load_runs(folders: list[str], validate: bool = True) -> list[Run]:
    """Each folder is a run; a folder whose records sit in kernel sub-folders (a guest's, the
    cells of a matrix, merged shards) gives one run per kernel: release and where."""
    runs = []
    for folder in folders:
        records, problems = load_records(folder, validate=validate)
        groups = defaultdict(list)
        for r in records:
            groups[(r.get("kernel", {}).get("release"), r.get("kernel", {}).get("where"))].append(r)
        if not groups:
            runs.append(Run(folder, [], problems))
        for i, (_, recs) in enumerate(sorted(groups.items(), key=lambda kv: str(kv[0]))):
            runs.append(Run(folder, recs, problems if i == 0 else []))
    return runs


def resolve_run(results_root: str, run: str | None) -> str:
    """A run folder from a name, a path, or (None) the latest run."""
    if run and os.path.isdir(run):
        return run
    candidate = os.path.join(results_root, run or "latest")
    if os.path.isdir(candidate):
        return os.path.realpath(candidate)
    raise HarnessError(f"no run {run or 'latest'} under {results_root}")


# -- aggregation ----------------------------------------------------------------------------------
def verdict_of(records: list[dict]) -> str:
    """The verdict of a measurement: the last attempt of each test decides; earlier failed
    attempts (under --retries) are kept and counted beside it."""
    final: dict[str, tuple[int, str]] = {}
    for r in records:
        attempt = r.get("attempt", 1)
        if attempt >= final.get(r["test_id"], (0, ""))[0]:
            final[r["test_id"]] = (attempt, r.get("verdict", "?"))
    verdicts = {v for _, v in final.values()}
    verdict = next((v for v in ("failed", "flaky", "skipped") if v in verdicts),
                   verdicts.pop() if len(verdicts) == 1 else "mixed")
    retried = sum(1 for r in records if r.get("attempt", 1) < final[r["test_id"]][0])
    return verdict + (f" ({retried} failed attempt{'s' if retried > 1 else ''} kept)"
                      if retried else "")


def splat_note(records: list[dict]) -> str:
    """The kernel splats of these records, one short line each: one per fingerprint (the same
    bug in several tests is one line), the fingerprint in brackets."""
    seen, prints = [], set()
    for r in records:
        for s in r.get("kernel_log", {}).get("splats", []):
            fp = s.get("fingerprint")
            line = f"kernel {s['kind']}{f' [{fp}]' if fp else ''}: {s['first_line'][:100]}"
            if (fp or line) not in prints:
                prints.add(fp or line)
                seen.append(line)
    lost = sum(r.get("kernel_log", {}).get("lost_records", 0) for r in records)
    if lost:  # a splat may have been among them: never shown as clean
        seen.append(f"kernel log: {lost} record(s) lost to a ring overrun, health unknown")
    return "; ".join(seen)


def spread(values: list[float], fmt) -> str:
    values = [v for v in values if isinstance(v, (int, float))]
    if not values:
        return ""
    med = statistics.median(values)
    if len(values) == 1:
        return fmt(med)
    return f"{fmt(med)} ({fmt(min(values))} - {fmt(max(values))})"


def pct(x) -> str:
    return f"{x * 100:+.2f} %"


def rate(x) -> str:
    return format_rate(float(x))


def by_measurement(records: list[dict]) -> dict:
    groups = defaultdict(list)
    for r in records:
        groups[(r["lab"], r.get("name") or r["test_id"].split("::")[-1])].append(r)
    return groups


def _values(recs, key):
    return [r.get("derived", {}).get(key) for r in recs]


def details(records: list[dict]) -> tuple[list[str], list[list]]:
    """Every measurement with every figure (the HTML report's detail view)."""
    headers = ["measurement", "parameters", "configured", "expected goodput", "goodput",
               "goodput error", "kernel counter", "counter error", "other", "tolerance", "n",
               "verdict"]
    rows = []
    for (_, name), recs in sorted(by_measurement(records).items()):
        d0, p0 = recs[0].get("derived", {}), recs[0].get("params", {})
        params = ", ".join(f"{k}={v}" for k, v in p0.items())
        other = []
        for key, fmt in (("fragments_per_datagram", lambda x: f"{x:.2f}"),
                         ("datagram_loss", lambda x: f"{x:.2%}"),
                         ("expected_loss", lambda x: f"{x:.2%}"),
                         ("overhead", lambda x: f"{x} B")):
            if isinstance(d0.get(key), (int, float)):
                other.append(f"{key.replace('_', ' ')} {spread(_values(recs, key), fmt)}")
        if splat_note(recs):
            other.append(splat_note(recs))
        tol = recs[0].get("tolerance")
        rows.append([
            name, params,
            spread(_values(recs, "configured_bps"), rate),
            spread(_values(recs, "expected_goodput_bps"), rate),
            spread(_values(recs, "goodput_bps"), rate),
            spread(_values(recs, "goodput_error"), pct),
            spread(_values(recs, "counter_rate_bps"), rate),
            spread(_values(recs, "counter_error"), pct),
            "; ".join(other),
            "" if tol is None else f"±{tol * 100:.2g} %",
            len(recs), verdict_of(recs),
        ])
    keep = [i for i in range(len(headers)) if i in (0, 10, 11) or any(row[i] for row in rows)]
    return [headers[i] for i in keep], [[row[i] for i in keep] for row in rows]


# -- rendering -------------------------------------------------------------------------------------
def labs_of(runs: list[Run]) -> list[str]:
    """The labs a report shows: those of the records, but the template (``_example``, any lab
    named ``_...``) when a real lab is among them: a deck shows the labs a user chose."""
    labs = sorted({r["lab"] for run in runs for r in run.records})
    chosen = [lab for lab in labs if not lab.startswith("_")]
    return chosen or labs
