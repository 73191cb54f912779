"""``kernel-lab matrix``: the same labs on several kernels, one table.

    kernel-lab matrix --kernels running,debian:trixie --labs ingress_ifb

Each kernel runs in turn (the running one directly, the others booted with virtme-ng), all into
``results/<matrix-id>/<kernel-release>/``.  The table is lab x kernel: passed/failed/skipped
from each run's JUnit XML and the key figures from its records.
"""

from __future__ import annotations

import datetime as _dt
import os
import statistics

from tabulate import tabulate

from ..core.units import format_rate
from .cells import Cell, run_cell


def key_figures(records: list[dict]) -> str:
    errors = [abs(r["derived"][k]) for r in records for k in ("goodput_error", "counter_error")
              if isinstance(r.get("derived", {}).get(k), (int, float))]
    base = [r["derived"]["goodput_bps"] for r in records if r.get("derived", {}).get("baseline")]
    parts = []
    if errors:
        parts.append(f"median abs. error {statistics.median(errors) * 100:.2f} %, "
                     f"max {max(errors) * 100:.2f} %")
    if base:
        parts.append(f"veth {format_rate(base[0])}")
    return "; ".join(parts)


def table(cells: list[Cell], labs: list[str]) -> str:
    headers = ["lab"] + [c.label for c in cells]
    rows = []
    for lab in labs:
        row = [lab]
        for c in cells:
            counts = c.per_lab.get(lab)
            if c.error or counts is None:
                row.append(f"no result ({c.error or f'exit {c.rc}'})")
                continue
            verdict = "PASS" if counts["failed"] == 0 and counts["passed"] > 0 else "FAIL"
            figures = key_figures([r for r in c.records if r["lab"] == lab])
            row.append(f"{verdict}: {counts['passed']} passed, {counts['failed']} failed, "
                       f"{counts['skipped']} skipped" + (f"; {figures}" if figures else ""))
        rows.append(row)
    return tabulate(rows, headers=headers, tablefmt="github")


def matrix(kernels: list[str], lab_paths: list[str], results: str, timeout: float = 1800.0) -> int:
    matrix_id = _dt.datetime.now().strftime("%Y%m%d-%H%M%S") + "-matrix"
    cells = [run_cell(Cell(k), lab_paths, results, matrix_id, timeout) for k in kernels]
    text = table(cells, [os.path.basename(os.path.normpath(p)) for p in lab_paths])
    print(text)
    folder = os.path.join(results, matrix_id)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "matrix.md"), "w") as f:
        f.write(text + "\n")
    print(f"kernel-lab matrix: results in {folder}")
    if any(c.error for c in cells):
        return 2
    return 0 if all(c.verdict == "PASS" for c in cells) else 1
