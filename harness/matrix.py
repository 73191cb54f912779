"""``kernel-lab matrix``: the same labs on several kernels, one table.

    kernel-lab matrix --kernels running,/boot/vmlinuz-6.1.0-56-amd64 --labs ingress_ifb

Each kernel runs in turn (the running one directly, the others booted with virtme-ng), all into
``results/<matrix-id>/<kernel-release>/``.  The table is lab x kernel: passed/failed/skipped
from each run's JUnit XML and the key figures from its records.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import subprocess
import sys
import xml.etree.ElementTree as ET

from tabulate import tabulate

from .errors import HarnessError
from .results import load_records
from .units import format_rate


def junit_counts(path: str) -> dict[str, dict[str, int]]:
    """Per lab: passed, failed, skipped, from a JUnit XML file."""
    counts: dict[str, dict[str, int]] = {}
    if not os.path.exists(path):
        return counts
    for case in ET.parse(path).getroot().iter("testcase"):
        parts = case.get("classname", "").split(".")
        lab = parts[1] if len(parts) > 2 and parts[0] == "labs" else parts[0]
        c = counts.setdefault(lab, {"passed": 0, "failed": 0, "skipped": 0})
        if case.find("failure") is not None or case.find("error") is not None:
            c["failed"] += 1
        elif case.find("skipped") is not None:
            c["skipped"] += 1
        else:
            c["passed"] += 1
    return counts


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


def run_kernel(kernel: str, labs: list[str], results: str, matrix_id: str, timeout: float) -> tuple[str, str, int]:
    """Run ``labs`` on ``kernel``; returns (release, run folder, exit code)."""
    from .vm import kernel_release

    argv = [sys.executable, "-m", "pytest", *labs, "--results", results]
    if kernel == "running":
        release = platform.release()
        argv += ["--run-id", f"{matrix_id}/{release}"]
    else:
        release = kernel_release(kernel)
        argv += ["--kernel", kernel, "--run-id", matrix_id, "--vm-timeout", str(timeout)]
    print(f"kernel-lab matrix: {release} ({kernel})", flush=True)
    rc = subprocess.call(argv)
    return release, os.path.join(results, matrix_id, release), rc


def matrix(kernels: list[str], labs: list[str], results: str, timeout: float = 1800.0) -> int:
    lab_paths = []
    for lab in labs:
        path = os.path.join("labs", lab) if not os.path.exists(lab) else lab
        if not os.path.isdir(path):
            raise HarnessError(f"unknown lab {lab!r}: no folder {path}")
        lab_paths.append(path)
    for k in kernels:
        if k != "running" and not os.path.exists(k):
            raise HarnessError(f"kernel image {k} does not exist")
    matrix_id = _dt.datetime.now().strftime("%Y%m%d-%H%M%S") + "-matrix"
    runs = [run_kernel(k, lab_paths, results, matrix_id, timeout) for k in kernels]
    headers = ["lab"] + [f"{rel} ({'running' if k == 'running' else 'vm'})"
                         for k, (rel, _, _) in zip(kernels, runs)]
    lab_names = [os.path.basename(os.path.normpath(p)) for p in lab_paths]
    rows = []
    for lab in lab_names:
        row = [lab]
        for _, folder, rc in runs:
            c = junit_counts(os.path.join(folder, "junit.xml")).get(lab)
            records = [r for r in load_records(folder)[0] if r["lab"] == lab]
            if c is None:
                row.append(f"no result (exit {rc})")
                continue
            verdict = "PASS" if c["failed"] == 0 and c["passed"] > 0 else "FAIL"
            row.append(f"{verdict}: {c['passed']} passed, {c['failed']} failed, "
                       f"{c['skipped']} skipped; {key_figures(records)}")
        rows.append(row)
    table = tabulate(rows, headers=headers, tablefmt="github")
    print(table)
    with open(os.path.join(results, matrix_id, "matrix.md"), "w") as f:
        f.write(table + "\n")
    print(f"kernel-lab matrix: results in {os.path.join(results, matrix_id)}")
    return 0 if all(rc == 0 for _, _, rc in runs) else 1
