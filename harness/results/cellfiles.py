"""The files a cell leaves beside its records: ``<run>/<lab>/<kernel>/cell.json`` (which kernel
and lab, exit code, infrastructure error, start, end, duration, load), ``cell.log`` and its
session's JUnit XML; and the run's ``plan.json``."""

from __future__ import annotations

import glob
import json
import os

CELL_FILE = "cell.json"
CELL_LOG = "cell.log"


def read_cells(run_dir: str) -> list[dict]:
    """Every cell.json of a run, with ``path`` (its folder) added."""
    cells = []
    for path in sorted(glob.glob(os.path.join(run_dir, "*", "*", CELL_FILE))):
        with open(path) as f:
            cell = json.load(f)
        cells.append(dict(cell, path=os.path.dirname(path)))
    return cells


PLAN_FILE = "plan.json"


def write_plan(run_dir: str, plan: dict) -> None:
    """The cells a session (or a shard) set out to run: ``{"kernels", "labs", "shard", "all",
    "cells"}``, so that a cell that never ran is missed, not forgotten."""
    os.makedirs(run_dir, exist_ok=True)
    tmp = os.path.join(run_dir, f".{PLAN_FILE}.{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(plan, f, indent=1)
    os.replace(tmp, os.path.join(run_dir, PLAN_FILE))


def read_plan(run_dir: str) -> dict | None:
    try:
        with open(os.path.join(run_dir, PLAN_FILE)) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def junit_outcomes(folder: str, labs_only: bool = False) -> dict[str, tuple[str, str, str]]:
    """{test id: (lab, verdict, reason)} from the JUnit XML the pytest sessions under
    ``folder`` wrote (verdict: passed, failed or skipped; an error counts as failed): what a
    cell ran, also the tests that left no record (a skip before the test body ran, an error in
    a fixture).  The lab is the folder under ``labs/`` (else the module's first part);
    ``labs_only``: only tests under a ``labs/`` folder."""
    from junitparser import Error, Failure, JUnitXml, Skipped

    out = {}
    for path in sorted(glob.glob(os.path.join(folder, "**", "junit.xml"), recursive=True)):
        for suite in JUnitXml.fromfile(path):
            for case in suite:
                parts = (case.classname or "").split(".")
                in_labs = "labs" in parts[:-1]
                if labs_only and not in_labs:
                    continue
                lab = parts[parts.index("labs") + 1] if in_labs else parts[0]
                test_id = "/".join(parts) + ".py::" + case.name
                kinds = {type(r) for r in case.result}
                result = next(iter(case.result), None)
                reason = (result.message or "") if result is not None else ""
                verdict = ("failed" if kinds & {Failure, Error} else
                           "skipped" if Skipped in kinds else "passed")
                out[test_id] = (lab, verdict, reason)
    return out
