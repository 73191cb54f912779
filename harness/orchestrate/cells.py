"""Cells: the kernel x lab matrix, one cell per (kernel, lab), each a pytest session of its own.

A cell runs its lab's selected tests on its kernel: on the running kernel directly, on any
other booted with virtme-ng.  Its folder is ``<run>/<lab>/<kernel-release>/`` (records, JUnit,
the guest's console) with ``cell.json`` (what ran, how it ended, how long it took) and
``cell.log`` (the session's output) beside them.  The same cell gives the same records whether
it runs alone, beside another on a second pytest-xdist worker, or on another machine's shard.

Which cells run where is deterministic: ``shard(cells, i, n)`` takes every n-th cell of the
cells sorted by id, so N machines given the same kernels and labs cover every cell exactly
once.  Within a session the longest cells start first, by the durations of the newest earlier
run that had them (unknown ones count as longest), as the netdev CI does.
"""

from __future__ import annotations

import datetime as _dt
import glob
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field

from tabulate import tabulate

from ..core.errors import HarnessError
from ..core.procs import run_unwinding
from ..results.cellfiles import CELL_FILE, CELL_LOG, junit_outcomes
from ..results.baseline import failed_attempts
from ..results.records import CONDITIONS_ENV, load_records
from ..vm.boot import GUEST_CPUS
from ..vm.kernels import RUNNING, KernelUnderTest, resolve

#: pytest / kernel-lab exit codes that mean the infrastructure failed, not a test:
#: 2 interrupted, 3 internal error / guest panic or timeout, 4 usage / could not boot
INFRA_CODES = {2, 3, 4}
#: CPUs one cell keeps busy: a guest's vCPUs, or sender and receiver on the host
CPUS_PER_CELL = GUEST_CPUS


@dataclass(frozen=True)
class CellSpec:
    """One cell: a kernel as the user named it, and a lab (its folder's name)."""

    kernel: str
    lab: str

    @property
    def id(self) -> str:
        return f"{self.lab}@{self.kernel}"


def cells_of(kernels: list[str], labs: list[str]) -> list[CellSpec]:
    return [CellSpec(k, lab) for k in kernels for lab in labs]


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> (2, 4); one-line refusal for anything else."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise HarnessError(f"--shard takes I/N with 1 <= I <= N, not {text!r}")
    return int(m.group(1)), int(m.group(2))


def shard(cells: list[CellSpec], index: int, total: int) -> list[CellSpec]:
    """Shard ``index`` of ``total`` (1-based): the same cells on every machine."""
    return sorted(cells, key=lambda c: c.id)[index - 1::total]


def previous_durations(results_root: str, newest: int = 30) -> dict[str, float]:
    """{cell id: seconds} from the newest earlier runs' cell.json files (newest run wins)."""
    found: dict[str, float] = {}
    runs = sorted((d for d in glob.glob(os.path.join(results_root, "*")) if os.path.isdir(d)
                   and not os.path.islink(d)), key=os.path.getmtime, reverse=True)[:newest]
    for run in runs:
        for path in glob.glob(os.path.join(run, "*", "*", CELL_FILE)):
            try:
                with open(path) as f:
                    cell = json.load(f)
                found.setdefault(cell["cell"], float(cell["seconds"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
    return found


def longest_first(cells: list[CellSpec], durations: dict[str, float]) -> list[CellSpec]:
    return sorted(cells, key=lambda c: (-durations.get(c.id, math.inf), c.id))


def dealt(cells: list[CellSpec], workers: int, max_chunk: int | None = None) -> list[CellSpec]:
    """``cells`` (longest first) in the order that makes pytest-xdist's load scheduler start
    worker k on the k-th longest cell.  That scheduler hands each worker a first chunk of
    consecutive items (at least two when there are at least two per worker, so a worker knows
    its next item), then one at a time to whoever is free; left in plain longest-first order,
    the two longest cells would land on one worker, one after the other."""
    n = len(cells)
    if workers < 2 or n < 2 * workers:  # round-robin: worker k gets k, k+workers, ...
        return list(cells)
    chunk = max(min((n // workers) // 4, max_chunk or n), 2)
    head = [cells[j * workers + k] for k in range(workers) for j in range(chunk)]
    return head + list(cells[chunk * workers:])


def conditions(jobs: int) -> dict:
    """What else the host carried while a cell ran: ``jobs`` cells of CPUS_PER_CELL each."""
    cpus = os.cpu_count() or 1
    return {"jobs": jobs, "host_cpus": cpus, "cpus_per_job": CPUS_PER_CELL,
            "oversubscribed": jobs * CPUS_PER_CELL > cpus}


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_") or "kernel"


def _repeat_of(forwarded: list[str]) -> int:
    for i, arg in enumerate(forwarded):
        if arg == "--repeat" and i + 1 < len(forwarded):
            return int(forwarded[i + 1])
        if arg.startswith("--repeat="):
            return int(arg.split("=", 1)[1])
    return 1


def repeated(nodeids: list[str], n: int) -> list[str]:
    """The ids pytest-repeat gives a test run ``n`` times: ``[<params>-i-n]`` or ``[i-n]``
    (the cell's session repeats; the session that planned the cells did not)."""
    if n <= 1:
        return list(nodeids)
    return [f"{nid[:-1]}-{i}-{n}]" if nid.endswith("]") else f"{nid}[{i}-{n}]"
            for nid in nodeids for i in range(1, n + 1)]


def cell_argv(kernel: KernelUnderTest, lab: str, tests: list[str], results_root: str,
              run_id: str, vm_timeout: float, forwarded: list[str],
              rootdir: str | None = None) -> list[str]:
    """The cell's session; ``rootdir``: the one its node ids are relative to (said outright:
    pytest may take ``--results``' folder for a path when it looks for one)."""
    tests = repeated(tests, _repeat_of(forwarded))
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            *(["--rootdir", rootdir] if rootdir else []), *tests,
            "--results", results_root, *forwarded]
    if kernel.kind == RUNNING:
        return argv + ["--run-id", f"{run_id}/{lab}/{kernel.release}"]
    return argv + ["--kernel", kernel.spec, "--run-id", f"{run_id}/{lab}",
                   "--vm-timeout", str(vm_timeout)]


def run_cell(spec: CellSpec, tests: list[str], results_root: str, run_id: str,
             vm_timeout: float = 3600.0, forwarded: list[str] | None = None, jobs: int = 1,
             cwd: str | None = None) -> dict:
    """Run one cell; returns (and writes) its cell.json."""
    started = _dt.datetime.now(_dt.timezone.utc)
    t0 = time.monotonic()
    lab_dir = os.path.join(results_root, run_id, spec.lab)
    os.makedirs(lab_dir, exist_ok=True)
    result = {"cell": spec.id, "kernel_spec": spec.kernel, "lab": spec.lab, "kernel": None,
              "tests": len(tests), "rc": None, "error": "", "conditions": conditions(jobs),
              "worker": os.environ.get("PYTEST_XDIST_WORKER", ""), "host": os.uname().nodename,
              "started": started.isoformat(timespec="milliseconds")}
    log_tmp = os.path.join(lab_dir, f".{_safe(spec.kernel)}.{os.getpid()}.log")
    try:
        kernel = resolve(spec.kernel, log=lambda *a: None)
    except HarnessError as exc:
        kernel, result["error"] = None, str(exc)
        folder = os.path.join(lab_dir, _safe(spec.kernel))
    else:
        result["kernel"] = kernel.as_record()
        folder = os.path.join(lab_dir, kernel.release)
        env = dict(os.environ, **{CONDITIONS_ENV: json.dumps(result["conditions"])})
        env.pop("PYTEST_XDIST_WORKER", None)  # the cell's own session is not an xdist worker
        env.pop("PYTEST_XDIST_TESTRUNUID", None)
        with open(log_tmp, "w") as log:
            # interrupted, the cell's session unwinds (and stops its guest) before any kill
            result["rc"] = run_unwinding(
                cell_argv(kernel, spec.lab, tests, results_root, run_id, vm_timeout,
                          forwarded or [], rootdir=cwd), stdout=log, stderr=subprocess.STDOUT,
                env=env, cwd=cwd).returncode
        if result["rc"] in INFRA_CODES:
            result["error"] = (f"the session ended with exit code {result['rc']} "
                               + ("before any test ran" if not junit_counts(folder)
                                  else "(guest panic or timeout?)"))
    os.makedirs(folder, exist_ok=True)
    if os.path.exists(log_tmp):
        shutil.move(log_tmp, os.path.join(folder, CELL_LOG))
    ended = _dt.datetime.now(_dt.timezone.utc)
    result.update(ended=ended.isoformat(timespec="milliseconds"),
                  seconds=round(time.monotonic() - t0, 1),
                  folder=os.path.relpath(folder, os.path.join(results_root, run_id)))
    with open(os.path.join(folder, CELL_FILE), "w") as f:
        json.dump(result, f, indent=1)
    return result


def junit_counts(folder: str) -> dict[str, dict[str, int]]:
    """Per lab: passed, failed, skipped, from the JUnit XML files under ``folder``."""
    counts: dict[str, dict[str, int]] = {}
    for lab, verdict, _ in junit_outcomes(folder).values():
        counts.setdefault(lab, {"passed": 0, "failed": 0, "skipped": 0})[verdict] += 1
    return counts


@dataclass
class KernelResult:
    """One kernel's cells of a run, as one verdict."""

    spec: str
    kernel: KernelUnderTest | None = None
    cells: list = field(default_factory=list)
    per_lab: dict = field(default_factory=dict)
    records: list = field(default_factory=list)
    errors: list = field(default_factory=list)  # a cell could not be fetched, booted or run
    rcs: list = field(default_factory=list)
    regressions: list = field(default_factory=list)
    flaky_changes: list = field(default_factory=list)
    baseline_note: str = ""
    baseline_kernel: dict | None = None  # the kernel the baseline was measured on
    skip_expected: bool = False  # the user named this kernel knowing every test would skip

    @property
    def error(self) -> str:
        """The errors once each, with the labs they stopped: ``cause (lab, lab)``."""
        labs_of: dict[str, list[str]] = {}
        for e in self.errors:
            lab, _, text = e.partition(": ")
            labs_of.setdefault(text, []).append(lab)
        return "; ".join(f"{text} ({', '.join(labs)})" for text, labs in labs_of.items())

    @property
    def folders(self) -> list[str]:
        return [c["path"] for c in self.cells]

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
    def log_lost(self) -> int:
        """Kernel log records lost to ring overruns during tests: their health is unknown."""
        return sum(r.get("kernel_log", {}).get("lost_records", 0) for r in self.records)

    @property
    def splat_cell(self):
        """The summary's "kernel splats" column: never a bare 0 when records were lost."""
        return (f"{self.splats} ({self.log_lost} log records lost: health unknown)"
                if self.log_lost else self.splats)

    @property
    def flaky(self) -> list[str]:
        """``lab::name: test attempt N failed: reason`` for each measurement that passed only
        on retry (its failed attempt's record is in the cell folder)."""
        return [f"{k}: {v}" for k, v in sorted(failed_attempts(self.records).items())]

    @property
    def verdict(self) -> str:
        """INFRA (a cell could not run), FAIL (a failed test, splat, regression or non-zero
        exit), NOTHING RAN (no test ran at all), ALL SKIPPED (every test skipped: nothing was
        verified; ``ALL SKIPPED (expected)`` when the user said this kernel would skip), FLAKY
        (passed, but only on retry), else PASS.  All but PASS, FLAKY and an expected skip
        fail the night."""
        if self.errors:
            return "INFRA"
        n = self.counts
        if n["failed"] or self.splats or self.regressions or any(rc != 0 for rc in self.rcs):
            return "FAIL"
        if n["passed"] == 0 and n["skipped"] == 0:
            return "NOTHING RAN"
        if n["passed"] == 0:
            return "ALL SKIPPED (expected)" if self.skip_expected else "ALL SKIPPED"
        if self.flaky:
            return "FLAKY"
        return "PASS"

    @property
    def failed_night(self) -> bool:
        return self.verdict in ("FAIL", "NOTHING RAN", "ALL SKIPPED")

    @property
    def label(self) -> str:
        return self.kernel.label if self.kernel else self.spec


def by_kernel(cells: list[dict], order: list[str] | None = None) -> list[KernelResult]:
    """The cells of a run joined per kernel (in ``order`` of specs, then as found)."""
    results: dict[str, KernelResult] = {}
    for spec in order or []:
        results[spec] = KernelResult(spec)
    for cell in cells:
        k = results.setdefault(cell["kernel_spec"], KernelResult(cell["kernel_spec"]))
        k.cells.append(cell)
        if cell.get("kernel") and k.kernel is None:
            k.kernel = KernelUnderTest(**cell["kernel"])
        if cell.get("error"):
            k.errors.append(f"{cell['lab']}: {cell['error']}")
        if cell.get("rc") is not None:
            k.rcs.append(cell["rc"])
        for lab, counts in junit_counts(cell["path"]).items():
            have = k.per_lab.setdefault(lab, {"passed": 0, "failed": 0, "skipped": 0})
            for key in have:
                have[key] += counts[key]
        k.records += load_records(cell["path"])[0]
    return [k for k in results.values() if k.cells]


def summary_table(kernels: list[KernelResult]) -> str:
    """One line per kernel: counts, splats, baseline, verdict."""
    rows = []
    for k in kernels:
        if k.errors and not k.per_lab:
            rows.append([k.label, "-", "-", "-", "-", "-", f"INFRA: {k.error}"])
            continue
        n = k.counts
        rows.append([k.label, n["passed"], n["failed"], n["skipped"], k.splat_cell,
                     k.baseline_note or "-", k.verdict + (f" ({k.error})" if k.errors else "")])
    table = tabulate(rows, headers=["kernel", "passed", "failed", "skipped", "kernel splats",
                                    "baseline", "verdict"], tablefmt="github")
    flaky = [f"FLAKY on {k.label}: {line}" for k in kernels for line in k.flaky]
    return "\n".join([table, *flaky])
