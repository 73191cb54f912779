"""``kernel-lab matrix``: the same labs on several kernels, one table.

    kernel-lab matrix --kernels running,debian:trixie --labs ingress_ifb

The kernel x lab cells run like the nightly job's (harness.orchestrate.nightly: ``--jobs N`` at
once, the same run folder layout, report and exports); the table is lab x kernel:
passed/failed/skipped from each cell's JUnit XML and the key figures from its records.
"""

from __future__ import annotations

import datetime as _dt
import os
import statistics

from tabulate import tabulate

from ..core.units import format_rate
from ..results.cellfiles import read_cells
from .cells import KernelResult, by_kernel
from .nightly import nightly


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


def table(kernels: list[KernelResult], labs: list[str]) -> str:
    headers = ["lab"] + [k.label for k in kernels]
    rows = []
    for lab in labs:
        row = [lab]
        for k in kernels:
            counts = k.per_lab.get(lab)
            if counts is None:
                error = next((e for e in k.errors if e.startswith(f"{lab}:")), "no result")
                row.append(f"no result ({error})")
                continue
            verdict = "PASS" if counts["failed"] == 0 and counts["passed"] > 0 else "FAIL"
            figures = key_figures([r for r in k.records if r["lab"] == lab])
            row.append(f"{verdict}: {counts['passed']} passed, {counts['failed']} failed, "
                       f"{counts['skipped']} skipped" + (f"; {figures}" if figures else ""))
        rows.append(row)
    return tabulate(rows, headers=headers, tablefmt="github")


def matrix(kernels: list[str], lab_paths: list[str], results: str, timeout: float = 1800.0,
           jobs: int = 1) -> int:
    matrix_id = _dt.datetime.now().strftime("%Y%m%d-%H%M%S") + "-matrix"
    rc = nightly(kernels, lab_paths, results, None, vm_timeout=timeout, run_id=matrix_id,
                 jobs=jobs)
    folder = os.path.join(results, matrix_id)
    text = table(by_kernel(read_cells(folder), kernels),
                 [os.path.basename(os.path.normpath(p)) for p in lab_paths])
    print(text)
    with open(os.path.join(folder, "matrix.md"), "w") as f:
        f.write(text + "\n")
    print(f"kernel-lab matrix: results in {folder}")
    return rc
