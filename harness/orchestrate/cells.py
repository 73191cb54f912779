"""One kernel's share of a run of runs: resolve the kernel, run the labs on it as a pytest
session of its own, read back what happened (JUnit counts per lab, records, splats)."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from ..core.errors import HarnessError
from ..results.records import load_records
from ..vm.kernels import RUNNING, KernelUnderTest, resolve

#: pytest / kernel-lab exit codes that mean the infrastructure failed, not a test:
#: 2 interrupted, 3 internal error / guest panic or timeout, 4 usage / could not boot
INFRA_CODES = {2, 3, 4}


def junit_counts(path: str) -> dict[str, dict[str, int]]:
    """Per lab: passed, failed, skipped, from a JUnit XML file."""
    counts: dict[str, dict[str, int]] = {}
    if not os.path.exists(path):
        return counts
    for case in ET.parse(path).getroot().iter("testcase"):
        parts = case.get("classname", "").split(".")
        lab = parts[parts.index("labs") + 1] if "labs" in parts[:-1] else parts[0]
        c = counts.setdefault(lab, {"passed": 0, "failed": 0, "skipped": 0})
        if case.find("failure") is not None or case.find("error") is not None:
            c["failed"] += 1
        elif case.find("skipped") is not None:
            c["skipped"] += 1
        else:
            c["passed"] += 1
    return counts


@dataclass
class Cell:
    """One kernel of a run of runs."""

    spec: str
    kernel: KernelUnderTest | None = None
    folder: str = ""
    rc: int | None = None
    error: str = ""  # the kernel could not be fetched, booted or run
    per_lab: dict = field(default_factory=dict)
    records: list = field(default_factory=list)
    regressions: list = field(default_factory=list)
    baseline_note: str = ""

    @property
    def counts(self) -> dict[str, int]:
        total = {"passed": 0, "failed": 0, "skipped": 0}
        for c in self.per_lab.values():
            for k in total:
                total[k] += c[k]
        return total

    @property
    def splats(self) -> int:
        return sum(len(r.get("kernel_log", {}).get("splats", [])) for r in self.records)

    @property
    def verdict(self) -> str:
        if self.error:
            return "INFRA"
        if self.counts["failed"] or self.splats or self.regressions or self.rc not in (0, 5):
            return "FAIL"
        return "PASS"

    @property
    def label(self) -> str:
        return self.kernel.label if self.kernel else self.spec


def pytest_argv(k: KernelUnderTest, lab_paths: list[str], results: str, run_id: str,
                vm_timeout: float, extra: list[str]) -> list[str]:
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *lab_paths,
            "--results", results, *extra]
    if k.kind == RUNNING:
        return argv + ["--run-id", f"{run_id}/{k.release}"]
    return argv + ["--kernel", k.spec, "--run-id", run_id, "--vm-timeout", str(vm_timeout)]


def run_cell(cell: Cell, lab_paths: list[str], results: str, run_id: str, vm_timeout: float,
             extra: list[str] | None = None) -> Cell:
    try:
        cell.kernel = resolve(cell.spec)
    except HarnessError as exc:
        cell.error = str(exc)
        print(f"kernel-lab: {cell.spec}: {exc}", file=sys.stderr, flush=True)
        return cell
    cell.folder = os.path.join(results, run_id, cell.kernel.release)
    print(f"kernel-lab: {cell.kernel.label}", flush=True)
    cell.rc = subprocess.call(pytest_argv(cell.kernel, lab_paths, results, run_id, vm_timeout,
                                          extra or []))
    cell.per_lab = junit_counts(os.path.join(cell.folder, "junit.xml"))
    cell.records = load_records(cell.folder)[0] if os.path.isdir(cell.folder) else []
    if cell.rc in INFRA_CODES and not cell.per_lab:
        cell.error = f"the session ended with exit code {cell.rc} before any test ran"
    elif cell.rc in INFRA_CODES:
        cell.error = f"the session ended with exit code {cell.rc} (guest panic or timeout?)"
    return cell
