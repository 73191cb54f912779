"""What a run found, in one glance: the first thing a report shows after its title (a frame of
the deck, the first screen of the HTML page, the first lines of the Markdown).

- the labs x kernels matrix of verdicts (each test counted once, by its last attempt);
- each lab's finding as one sentence with its number, from the ``[headline]`` of its
  ``slides.toml`` (``HTB and TBF on an ifb: 32 figures, worst +0.07 % on 6.1.0-57-amd64``);
- what needs a person: failures, regressions and verdicts a nightly gave (its
  ``nightly.json`` beside the records), kernel splats by fingerprint, lost kernel logs.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field

from ..core.errors import HarnessError
from ..core.figures import check_path
from . import presentation
from .tables import Run, labs_of, splat_note

ORDER = ("failed", "flaky", "passed", "skipped")


@dataclass
class Summary:
    kernels: list[str]
    labs: list[str]
    cells: dict[tuple[str, str], Counter]  # (lab, kernel label) -> verdict counts
    headlines: list[str] = field(default_factory=list)
    attention: list[str] = field(default_factory=list)

    @property
    def totals(self) -> Counter:
        return sum(self.cells.values(), Counter())

    def cell(self, lab: str, kernel: str) -> str:
        """One matrix cell: what did not pass first, in capitals when it failed."""
        c = self.cells.get((lab, kernel))
        if not c:
            return "-"
        parts = [f"{c[v]} {'FAILED' if v == 'failed' else v}" for v in ORDER if c[v]]
        return ", ".join(parts)

    def line(self) -> str:
        t = self.totals
        n = sum(t.values())
        told = ", ".join(f"{t[v]} {v}" for v in ORDER if t[v]) or "nothing ran"
        return (f"{n} test{'s' if n != 1 else ''} of {len(self.labs)} lab"
                f"{'s' if len(self.labs) != 1 else ''} on {len(self.kernels)} kernel"
                f"{'s' if len(self.kernels) != 1 else ''}: {told}")


def final_verdicts(records: list[dict]) -> dict[str, str]:
    """test id -> the verdict of its last attempt."""
    last: dict[str, tuple[int, str]] = {}
    for r in records:
        attempt = r.get("attempt", 1)
        if attempt >= last.get(r["test_id"], (0, ""))[0]:
            last[r["test_id"]] = (attempt, r.get("verdict", "?"))
    return {test: v for test, (_, v) in last.items()}


def headline(lab: str, runs: list[Run]) -> str:
    """The lab's finding in one sentence with its number."""
    records = [r for run in runs for r in run.records if r["lab"] == lab]
    pres = presentation.load(lab, records=records)
    spec = pres.headline
    verdicts = Counter(final_verdicts(records).values())
    default = (f"{pres.title}: {verdicts['passed'] + verdicts['flaky']} of "
               f"{sum(verdicts.values())} tests passed")
    if not spec.get("value"):
        return default
    carried: dict = {}
    for r in records:
        carried.update(r.get("derived", {}).get("metrics") or {})
    try:
        fig = check_path(spec["value"], f"labs/{lab}/slides.toml", carried)
    except HarnessError:
        return default
    kind = spec.get("format") or fig.format
    match = spec.get("match") or {}
    values = [(v, run.label, _case(r, spec.get("label"))) for run in runs for r in run.records
              if r["lab"] == lab and r.get("verdict") != "skipped"
              and all(presentation.get(r, k) == want for k, want in match.items())
              for v in [presentation.get(r, spec["value"])] if presentation.is_number(v)]
    if not values:
        return default
    unit = f" {spec['unit']}" if spec.get("unit") else ""
    several = len({label for _, label, _ in values}) > 1

    def said(v, on=True):  # a value with the case and the kernel it came from
        return (f"{presentation.fmt_value(v[0], kind)}{unit}" + (f" ({v[2]})" if v[2] else "")
                + (f" on {v[1]}" if several and on else ""))

    count = f"{len(values)} figure{'s' if len(values) > 1 else ''}"
    lo, hi = min(values), max(values)
    if presentation.fmt_value(lo[0], kind) == presentation.fmt_value(hi[0], kind):
        found = f"{presentation.fmt_value(lo[0], kind)}{unit} in {'all ' if len(values) > 1 else ''}{count}"
    elif spec.get("reduce") == "range":
        one = lo[1] == hi[1]  # both ends on one kernel: name it once
        found = (f"from {said(lo, not one)} to {said(hi, not one)}"
                 + (f" on {lo[1]}" if one and several else "") + f", {count}")
    else:
        reduce = spec.get("reduce", "worst")
        pick = {"worst": lambda vs: max(vs, key=lambda v: abs(v[0])), "max": max, "min": min}[reduce]
        word = {"worst": "worst", "max": "at most", "min": "at least"}[reduce]
        found = f"{count}, {word} {said(pick(values))}"
    return f"{spec.get('text', pres.title)}: {found}"


def _case(record: dict, paths) -> str:
    """What names a figure's case in a headline: the values at ``label``'s paths."""
    if not paths:
        return ""
    return ", ".join(str(v) for p in ([paths] if isinstance(paths, str) else paths)
                     for v in [presentation.get(record, p)] if v not in (None, ""))


def _nightly_notes(runs: list[Run]) -> list[str]:
    """A nightly's verdicts that are not PASS, and its regressions, from ``nightly.json`` in the
    run folders."""
    notes = []
    for folder in dict.fromkeys(run.folder for run in runs):
        path = os.path.join(folder, "nightly.json")
        if not os.path.isfile(path):
            continue
        try:
            with open(path) as f:
                kernels = json.load(f)
        except (OSError, ValueError) as e:
            notes.append(f"{path}: unreadable ({e})")
            continue
        for k in kernels if isinstance(kernels, list) else []:
            if k.get("verdict") not in (None, "PASS"):
                notes.append(f"{k.get('spec')}: {k['verdict']}"
                             + (f" ({k['error']})" if k.get("error") else ""))
            for line in (k.get("regressions") or [])[:3]:
                notes.append(f"{k.get('spec')}: {line}")
    return notes


JUNIT_OUTCOMES = {"failure": "failed", "error": "failed", "skipped": "skipped"}


def session_outcomes(folders) -> dict[tuple[str, str], dict[str, str]]:
    """(lab, kernel label) -> {test id: outcome} from the junit.xml of every session folder
    (one with its run.json) under ``folders``: the tests that wrote no record (a skip
    usually writes none) are counted from here."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for folder in dict.fromkeys(folders):
        for root, _, files in os.walk(folder):
            if "junit.xml" not in files or "run.json" not in files:
                continue
            try:
                with open(os.path.join(root, "run.json")) as f:
                    k = json.load(f).get("kernel") or {}
                cases = ET.parse(os.path.join(root, "junit.xml")).getroot().iter("testcase")
            except (OSError, ValueError, ET.ParseError):
                continue
            label = Run.label_of(k.get("release", "?"), k.get("where", "?"))
            for case in cases:
                parts = (case.get("classname") or "").split(".")
                if len(parts) < 3 or parts[0] != "labs":
                    continue
                test = "/".join(parts) + ".py::" + (case.get("name") or "")
                outcome = next((v for tag, v in JUNIT_OUTCOMES.items()
                                if case.find(tag) is not None), "passed")
                out.setdefault((parts[1], label), {})[test] = outcome
    return out


def summarize(runs: list[Run]) -> Summary:
    labs = labs_of(runs)
    kernels = list(dict.fromkeys(run.label for run in runs))
    cells: dict[tuple[str, str], Counter] = {}
    sessions = session_outcomes(run.folder for run in runs)
    for run in runs:
        for lab in labs:
            verdicts = final_verdicts([r for r in run.records if r["lab"] == lab])
            unrecorded = {test: v for test, v in sessions.get((lab, run.label), {}).items()
                          if test not in verdicts}
            verdicts.update(unrecorded)
            if verdicts:
                cells[(lab, run.label)] = cells.get((lab, run.label), Counter()) + \
                    Counter(verdicts.values())
    s = Summary(kernels, labs, cells)
    s.headlines = [headline(lab, [run for run in runs if any(r["lab"] == lab for r in run.records)])
                   for lab in labs]
    for (lab, kernel), c in cells.items():
        if c["failed"]:
            s.attention.append(f"{lab} on {kernel}: {c['failed']} failed")
    s.attention += _nightly_notes(runs)
    splats = splat_note([r for run in runs for r in run.records])
    if splats:
        s.attention.append(splats)
    return s
