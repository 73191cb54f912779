"""The files a cell leaves beside its records: ``<run>/<lab>/<kernel>/cell.json`` (which kernel
and lab, exit code, infrastructure error, start, end, duration, load) and ``cell.log``."""

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
