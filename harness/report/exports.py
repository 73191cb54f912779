"""A run in the formats kernel CI reads: JUnit (one suite per kernel), KTAP, KCIDB.

    kernel-lab export --junit|--ktap|--kcidb [RUN] [--out FILE]

All three come from the run's records (every test leaves at least one) and from its cells'
``cell.json`` (a cell that could not run has no records but is an ERROR in each format).  A
test's status is its last attempt's verdict; a kernel or lab fails when one of its tests does.

- JUnit: ``<testsuites>`` with one ``<testsuite>`` per kernel (name: release and where), one
  ``<testcase>`` per test (classname ``labs.<lab>``), written with junitparser.
- KTAP (Documentation/dev-tools/ktap.rst, the kselftest convention the netdev CI parses):
  nested kernel -> lab -> test, ``# SKIP reason`` for skips, ``# ERROR`` for a cell that could
  not run, a diagnostic line with the reason before a failed test.
- KCIDB (the KernelCI common database's submission format, schema of kcidb-io): one checkout
  and one build per kernel, one test per measurement with its headline figure as ``number``
  (value and unit) and the other figures under ``misc``; validated with kcidb-io before it is
  written.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from dataclasses import dataclass, field

from ..results.cellfiles import junit_outcomes, read_cells
from .presentation import is_number
from .tables import Run, load_runs

ORIGIN = "kernel_lab"


@dataclass
class Outcome:
    lab: str
    test_id: str
    verdict: str  # passed | failed | skipped | flaky
    reason: str
    attempts: int
    records: list


@dataclass
class Kernel:
    label: str
    release: str
    where: str
    spec: str
    info: dict
    labs: dict = field(default_factory=dict)  # lab -> [Outcome]
    errors: dict = field(default_factory=dict)  # lab -> infrastructure error

    def failed(self) -> bool:
        return bool(self.errors) or any(t.verdict == "failed" for ts in self.labs.values()
                                        for t in ts)


def _tests(records: list[dict]) -> dict[str, list[Outcome]]:
    by_test: dict[str, list[dict]] = {}
    for r in records:
        by_test.setdefault(r["test_id"], []).append(r)
    labs: dict[str, list[Outcome]] = {}
    for test_id, recs in by_test.items():
        last = max(r.get("attempt", 1) for r in recs)
        final = [r for r in recs if r.get("attempt", 1) == last]
        verdicts = {r["verdict"] for r in final}
        verdict = next(v for v in ("failed", "flaky", "skipped", "passed") if v in verdicts)
        if verdict == "passed" and last > 1:
            verdict = "flaky"
        reason = next((r.get("reason", "") for r in final if r.get("reason")), "")
        labs.setdefault(recs[0]["lab"], []).append(
            Outcome(recs[0]["lab"], test_id, verdict, reason, last, sorted(
                final, key=lambda r: r.get("measurement", 0))))
    return labs


def _add_outcomes(k: Kernel, outcomes: dict[str, tuple[str, str, str]]) -> None:
    have = {t.test_id: t for ts in k.labs.values() for t in ts}
    for test_id, (lab, verdict, reason) in outcomes.items():
        if test_id not in have:
            k.labs.setdefault(lab, []).append(Outcome(lab, test_id, verdict, reason, 1, []))
        elif verdict == "failed" and have[test_id].verdict != "failed":
            have[test_id].verdict, have[test_id].reason = "failed", reason


def kernels_of(run_dir: str) -> list[Kernel]:
    """The run's kernels, their labs' tests (from records, and from the sessions' JUnit XML
    for tests that left none), and the cells that could not run."""
    kernels: dict[tuple, Kernel] = {}
    for run in load_runs([run_dir], validate=False):
        if not run.records:
            continue
        k = run.records[0].get("kernel", {})
        kernels[(run.release, run.where)] = Kernel(run.label, run.release, run.where,
                                                   k.get("spec", run.release), k,
                                                   _tests(run.records))
    cells = read_cells(run_dir)
    for cell in cells:
        info = cell.get("kernel") or {}
        release = info.get("release") or cell["kernel_spec"]
        where = "host" if info.get("kind") == "running" else "vm"
        k = kernels.setdefault((release, where), Kernel(
            Run.label_of(release, where) if info else cell["kernel_spec"], release, where,
            cell["kernel_spec"], info))
        if cell.get("error"):
            k.errors[cell["lab"]] = cell["error"]
        else:
            _add_outcomes(k, junit_outcomes(cell["path"], labs_only=True))
    if not cells and len(kernels) == 1:  # one session's run: its own JUnit XML
        _add_outcomes(next(iter(kernels.values())), junit_outcomes(run_dir, labs_only=True))
    return list(kernels.values())


# -- JUnit ----------------------------------------------------------------------------------------
def _seconds(rec: dict) -> float:
    try:
        return max((_dt.datetime.fromisoformat(rec["ended"])
                    - _dt.datetime.fromisoformat(rec["started"])).total_seconds(), 0.0)
    except (KeyError, ValueError):
        return 0.0


def junit(kernels: list[Kernel]):
    """A junitparser JUnitXml: one suite per kernel."""
    from junitparser import Error, Failure, JUnitXml, Skipped, TestCase, TestSuite

    xml = JUnitXml("kernel-lab")
    for k in kernels:
        suite = TestSuite(k.label)
        suite.add_property("kernel_spec", k.spec)
        suite.add_property("release", k.release)
        for lab, tests in k.labs.items():
            for t in tests:
                case = TestCase(t.test_id.split("::", 1)[-1], f"labs.{lab}",
                                sum(_seconds(r) for r in t.records))
                if t.verdict == "failed":
                    case.result = [Failure(t.reason or "failed")]
                elif t.verdict == "skipped":
                    case.result = [Skipped(t.reason or "skipped")]
                elif t.verdict == "flaky":
                    case.system_out = f"flaky: passed on attempt {t.attempts}"
                suite.add_testcase(case)
        for lab, error in k.errors.items():
            case = TestCase(lab, f"labs.{lab}")
            case.result = [Error(error)]
            suite.add_testcase(case)
        suite.update_statistics()
        xml.add_testsuite(suite)
    xml.update_statistics()
    return xml


# -- KTAP -----------------------------------------------------------------------------------------
def _desc(text: str) -> str:
    """A KTAP description or diagnostic: one line, no '#'."""
    return re.sub(r"\s+", " ", text.replace("#", " ")).strip()


def ktap(kernels: list[Kernel]) -> str:
    lines = ["KTAP version 1", f"1..{len(kernels)}"]
    for ki, k in enumerate(kernels, 1):
        labs = list(k.labs) + [lab for lab in k.errors if lab not in k.labs]
        lines += ["  KTAP version 1", f"  1..{len(labs)}"]
        for li, lab in enumerate(labs, 1):
            tests = k.labs.get(lab, [])
            if tests:
                lines += ["    KTAP version 1", f"    1..{len(tests)}"]
            for ti, t in enumerate(tests, 1):
                name = _desc(t.test_id.split("::", 1)[-1])
                if t.verdict == "failed":
                    lines += [f"    # {_desc(t.reason or 'failed')}", f"    not ok {ti} {name}"]
                elif t.verdict == "skipped":
                    lines.append(f"    ok {ti} {name} # SKIP {_desc(t.reason)}")
                elif t.verdict == "flaky":
                    lines.append(f"    ok {ti} {name} # flaky: passed on attempt {t.attempts}")
                else:
                    lines.append(f"    ok {ti} {name}")
            if lab in k.errors:
                lines.append(f"  not ok {li} {lab} # ERROR {_desc(k.errors[lab])}")
            elif any(t.verdict == "failed" for t in tests):
                lines.append(f"  not ok {li} {lab}")
            elif tests and all(t.verdict == "skipped" for t in tests):
                lines.append(f"  ok {li} {lab} # SKIP every test skipped")
            else:
                lines.append(f"  ok {li} {lab}")
        lines.append(f"{'not ok' if k.failed() else 'ok'} {ki} {_desc(k.label)}")
    return "\n".join(lines) + "\n"


# -- KCIDB ----------------------------------------------------------------------------------------
#: the figure a measurement stands for, in this order: (derived key, unit, scale, prefix)
HEADLINE = [("goodput_error", "%", 100.0, None), ("counter_error", "%", 100.0, None),
            ("tunnel_loss", "%", 100.0, None), ("datagram_loss", "%", 100.0, None),
            ("fragments_per_datagram", "", 1.0, None), ("goodput_bps", "bit/s", 1.0, "metric")]
STATUS = {"passed": "PASS", "flaky": "PASS", "failed": "FAIL", "skipped": "SKIP"}


def _path_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "x"


def _number(derived: dict) -> tuple[dict | None, dict]:
    numbers = {k: v for k, v in derived.items() if is_number(v)}
    for key, unit, scale, prefix in HEADLINE:
        if key in numbers:
            n = {"value": numbers[key] * scale}
            if unit:
                n["unit"] = unit
            if prefix:
                n["prefix"] = prefix
            return n, numbers
    return None, numbers


def kcidb(kernels: list[Kernel], run_id: str, origin: str = ORIGIN) -> dict:
    """A KCIDB (schema v5) submission: checkouts, builds and tests of the run."""
    from kcidb_io.schema import LATEST

    out = {"version": {"major": LATEST.major, "minor": LATEST.minor},
           "checkouts": [], "builds": [], "tests": []}
    run = _path_part(run_id)
    for k in kernels:
        key = f"{run}:{_path_part(k.release)}-{k.where}"
        checkout_id, build_id = f"{origin}:{key}", f"{origin}:{key}"
        out["checkouts"].append({"id": checkout_id, "origin": origin, "tree_name": k.spec,
                                 "valid": True,
                                 "misc": {"kernel_spec": k.spec, "kind": k.info.get("kind")}})
        out["builds"].append({"id": build_id, "checkout_id": checkout_id, "origin": origin,
                              "architecture": os.uname().machine.replace("-", "_"),
                              "config_name": k.spec, "status": "PASS",
                              "misc": {"release": k.release, "where": k.where,
                                       "image": k.info.get("image") or ""}})
        for lab, tests in k.labs.items():
            for t in tests:
                if not t.records:  # a test that left no record (skipped before its body)
                    out["tests"].append({
                        "id": f"{origin}:{key}:{t.test_id}", "build_id": build_id,
                        "origin": origin, "status": STATUS[t.verdict],
                        "path": ".".join([ORIGIN, _path_part(lab), _path_part(t.test_id.split(
                            "::", 1)[-1])]), "misc": {"test_id": t.test_id, "reason": t.reason}})
                for r in t.records:
                    number, numbers = _number(r.get("derived", {}))
                    test = {"id": f"{origin}:{key}:{t.test_id}:{r.get('measurement', 0)}",
                            "build_id": build_id, "origin": origin,
                            "path": ".".join([ORIGIN, _path_part(lab),
                                              _path_part(r.get("name") or t.test_id)]),
                            "status": STATUS[t.verdict], "start_time": r["started"],
                            "duration": _seconds(r),
                            "misc": {"test_id": t.test_id, "attempts": t.attempts,
                                     "figures": numbers, "reason": t.reason,
                                     "conditions": r.get("conditions") or {}}}
                    if number is not None and t.verdict in ("passed", "flaky", "failed"):
                        test["number"] = number
                    if r.get("conditions", {}).get("oversubscribed"):
                        test["environment"] = {"comment": "host oversubscribed: "
                                               f"{r['conditions']['jobs']} jobs"}
                    out["tests"].append(test)
        for lab, error in k.errors.items():
            out["tests"].append({"id": f"{origin}:{key}:{lab}", "build_id": build_id,
                                 "origin": origin, "path": f"{ORIGIN}.{_path_part(lab)}",
                                 "status": "ERROR", "log_excerpt": error[:16384]})
    LATEST.validate_exactly(out)
    return out


# -- all of them ----------------------------------------------------------------------------------
def write_exports(run_dir: str) -> dict[str, str]:
    """junit.xml (one suite per kernel), results.ktap and kcidb.json in ``run_dir``."""
    kernels = kernels_of(run_dir)
    paths = {"junit": os.path.join(run_dir, "junit.xml"),
             "ktap": os.path.join(run_dir, "results.ktap"),
             "kcidb": os.path.join(run_dir, "kcidb.json")}
    junit(kernels).write(paths["junit"], pretty=True)
    with open(paths["ktap"], "w") as f:
        f.write(ktap(kernels))
    with open(paths["kcidb"], "w") as f:
        json.dump(kcidb(kernels, os.path.basename(os.path.normpath(run_dir))), f, indent=1)
    return paths
