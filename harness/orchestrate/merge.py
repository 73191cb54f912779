"""``kernel-lab merge``: shards' run folders joined into one run.

    kernel-lab merge results/shard-1 results/shard-2 --into 20261128-nightly [--baseline NAME]

Each shard (``--shard I/N`` on its own machine) leaves a run folder with a ``plan.json`` (the
cells it set out to run, and all the cells of the matrix) and one folder per cell,
``<lab>/<release>/``.  Merging copies the cell folders into ``results/<into>/`` (a cell that two
shards both ran is refused: the same cell twice is a wrong CI definition, not a retry), writes
``merged.json`` (the sources), a plan whose cells are the union of the shards', and then does
what ``kernel-lab nightly`` does after its own cells: verdicts, baselines, report, exports.  A
cell of the matrix that no shard ran (a shard missing, a machine lost) is infrastructure.
"""

from __future__ import annotations

import json
import os
import shutil

from ..core.errors import HarnessError
from ..results.cellfiles import read_cells, read_plan, write_plan
from .nightly import finish


def _refuse_links(folder: str) -> None:
    """A shard's cell folder comes from another machine: a symbolic link in it would make the
    copy (root's) read, and later writes land, where the link points.  Refused."""
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            if os.path.islink(path):
                raise HarnessError(f"{path} is a symbolic link (-> {os.readlink(path)}): a "
                                   "shard's folder must hold plain files; refused")


def merge(sources: list[str], results: str, into: str, baseline_name: str | None = None,
          save_baseline: bool = False, expect_skip: list[str] | None = None) -> int:
    run_dir = os.path.join(results, into)
    if os.path.exists(run_dir):
        raise HarnessError(f"{run_dir} exists already: merge into a new run")
    plans, cells = [], {}
    for src in sources:
        plan = read_plan(src)
        if plan is None:
            raise HarnessError(f"{src}: no plan.json, not a run of cells (pytest --cells / "
                               "--shard, kernel-lab nightly)")
        plans.append(plan)
        for cell in read_cells(src):
            folder = os.path.relpath(cell["path"], src)
            if folder in cells:
                raise HarnessError(f"cell {cell['cell']} ({folder}) is in both {cells[folder]} "
                                   f"and {src}")
            cells[folder] = src
    every = {tuple(p["all"]) for p in plans}
    if len(every) > 1:
        raise HarnessError("the runs are shards of different matrices (kernels, labs or "
                           "selection differ): " + "; ".join(
                               f"{s}: {len(p['all'])} cells" for s, p in zip(sources, plans)))
    for folder, src in sorted(cells.items()):
        _refuse_links(os.path.join(src, folder))
    os.makedirs(run_dir)
    for folder, src in sorted(cells.items()):
        shutil.copytree(os.path.join(src, folder), os.path.join(run_dir, folder))
    kernels = list(dict.fromkeys(k for p in plans for k in p["kernels"]))
    planned = sorted({c for p in plans for c in p["cells"]})
    write_plan(run_dir, {"kernels": kernels, "labs": list(dict.fromkeys(
        lab for p in plans for lab in p["labs"])), "shard": None, "all": plans[0]["all"],
        "cells": planned})
    with open(os.path.join(run_dir, "merged.json"), "w") as f:
        json.dump({"sources": [{"path": os.path.abspath(s), "shard": p.get("shard"),
                                "cells": p["cells"]} for s, p in zip(sources, plans)]},
                  f, indent=1)
    # every cell of the matrix is expected: one no shard planned means a shard is missing
    return finish(run_dir, results, kernels, plans[0]["all"], baseline_name, save_baseline,
                  expect_skip)
