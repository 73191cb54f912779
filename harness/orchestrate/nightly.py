"""``kernel-lab nightly``: the labs on every kernel the job cares about, one verdict each.

    kernel-lab nightly [--kernels running,debian:bookworm,debian:trixie,debian:sid]
                       [--labs ingress_ifb,...] [--baseline NAME [--save-baseline]]

Each kernel runs as its own pytest session (the running kernel directly, the others booted
with virtme-ng) into one run folder, ``results/<id>-nightly/<release>/``.  Afterwards: a
report across the kernels (Markdown and HTML with plots, the same figure for every kernel side
by side), each kernel compared with its own baseline (``results/baselines/NAME/<kernel>.json``),
and a one-screen summary.  Exit code: 0 when every kernel passed and nothing regressed, 1 on a
failed test, a kernel splat or a regression, 2 when a kernel could not be fetched, booted or
run (infrastructure, not the kernel under test).
"""

from __future__ import annotations

import datetime as _dt
import json
import os

from tabulate import tabulate

from ..core.errors import HarnessError
from ..report.files import write_report
from ..report.tables import load_runs
from ..results import baseline
from ..vm.kernels import RUNNING
from .cells import Cell, run_cell

DEFAULT_KERNELS = [RUNNING, "debian:bookworm", "debian:trixie", "debian:sid"]
EXIT_OK, EXIT_FAILED, EXIT_INFRA = 0, 1, 2


def compare_cell(cell: Cell, results: str, name: str, save: bool) -> None:
    """Compare the kernel with its own baseline ``name`` (and keep this run as it, if asked)."""
    if cell.kernel is None:
        return
    records = cell.records
    stored = f"{name}@{cell.kernel.key}"
    try:
        changes = baseline.compare(records, baseline.load(results, stored))
        cell.regressions = baseline.regressions(changes)
        cell.baseline_note = (f"{len(cell.regressions)} regression(s)" if cell.regressions
                              else f"no regression ({len(changes)} figures)")
    except HarnessError:
        cell.baseline_note = "no baseline yet"
    if save and cell.verdict == "PASS":
        baseline.save(records, results, stored, source=cell.folder)
        cell.baseline_note += "; saved as the new baseline"


def summary(cells: list[Cell]) -> str:
    rows = []
    for c in cells:
        if c.error and not c.per_lab:
            rows.append([c.label, "-", "-", "-", "-", "-", f"INFRA: {c.error}"])
            continue
        n = c.counts
        rows.append([c.label, n["passed"], n["failed"], n["skipped"], c.splats,
                     c.baseline_note or "-", c.verdict + (f" ({c.error})" if c.error else "")])
    return tabulate(rows, headers=["kernel", "passed", "failed", "skipped", "kernel splats",
                                   "baseline", "verdict"], tablefmt="github")


def nightly(kernels: list[str], lab_paths: list[str], results: str, baseline_name: str | None,
            save_baseline: bool = False, vm_timeout: float = 3600.0, extra: list[str] | None = None,
            run_id: str | None = None) -> int:
    run_id = run_id or _dt.datetime.now().strftime("%Y%m%d-%H%M%S") + "-nightly"
    cells = [run_cell(Cell(spec), lab_paths, results, run_id, vm_timeout, extra or [])
             for spec in kernels]
    if baseline_name:
        for cell in cells:
            if not cell.error:
                compare_cell(cell, results, baseline_name, save_baseline)
    folder = os.path.join(results, run_id)
    os.makedirs(folder, exist_ok=True)
    runs = [r for r in load_runs([c.folder for c in cells if c.folder and os.path.isdir(c.folder)])
            if r.records]
    if runs:
        write_report(runs, folder, formats=("md", "html"))
    text = summary(cells)
    with open(os.path.join(folder, "nightly.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(folder, "nightly.json"), "w") as f:
        json.dump([{"spec": c.spec, "kernel": c.kernel.as_record() if c.kernel else None,
                    "folder": c.folder, "rc": c.rc, "error": c.error, "counts": c.per_lab,
                    "splats": c.splats, "baseline": c.baseline_note, "verdict": c.verdict}
                   for c in cells], f, indent=1)
    print("\n" + text)
    print(f"kernel-lab nightly: {folder} (report.md, report.html, nightly.md)")
    if any(c.verdict == "INFRA" for c in cells):
        return EXIT_INFRA
    return EXIT_FAILED if any(c.verdict == "FAIL" for c in cells) else EXIT_OK
