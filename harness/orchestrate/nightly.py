"""``kernel-lab nightly``: the labs on every kernel the job cares about, one verdict each.

    kernel-lab nightly [--kernels running,debian:bookworm,debian:trixie,debian:sid]
                       [--labs ingress_ifb,...] [--jobs N] [--shard I/N]
                       [--baseline NAME [--save-baseline]] [-- PYTEST-ARGS]

The kernel x lab cells run as pytest items (harness.plugin.cells): one session per cell, the
running kernel directly, the others booted with virtme-ng, ``--jobs N`` of them at once on
pytest-xdist workers, longest first; ``--shard I/N`` runs this machine's share.  All cells
write into one run folder, ``results/<id>-nightly/<lab>/<release>/``.  Afterwards
(:func:`finish`, also what ``kernel-lab merge`` does with shards' folders): each kernel compared
with its own baseline (``results/baselines/NAME@<kernel>.json``), a report across the kernels,
JUnit with one suite per kernel, KTAP and KCIDB, and a one-screen summary.  Exit code: 0 when
every kernel passed (or was FLAKY: passed on retry, listed with its failed attempt) and nothing
regressed, 1 on a failed test, a kernel splat, a regression, a kernel where no test ran, or one
where every test skipped (unless named with ``--expect-skip``), 2 when a cell could not be
fetched, booted or run or a baseline cannot be read (infrastructure, not the kernel under
test).  A kernel without a baseline says "no baseline".
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import statistics
import sys

from tabulate import tabulate

from ..core.errors import HarnessError
from ..core.procs import run_unwinding
from ..measure.shaping import COUNTER_ERROR, GOODPUT_ERROR
from ..report.exports import write_exports
from ..report.files import write_report
from ..core.units import format_rate
from ..report.tables import load_runs
from ..results import baseline, pending
from ..vm.kernels import RUNNING
from ..results.cellfiles import read_cells, read_plan
from .bisect_line import command_for
from .cells import KernelResult, by_kernel, cells_of, parse_shard, shard, summary_table

DEFAULT_KERNELS = [RUNNING, "debian:bookworm", "debian:trixie", "debian:sid"]
EXIT_OK, EXIT_FAILED, EXIT_INFRA = 0, 1, 2

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_cells(kernels: list[str], lab_paths: list[str], results: str, run_id: str,
              vm_timeout: float, extra: list[str] | None = None, jobs: int = 1,
              shard_spec: str | None = None) -> int:
    """The cells through pytest (and pytest-xdist for ``jobs`` > 1); pytest's exit code.
    The rootdir is kernel-lab's own folder, said outright: pytest takes an option's value that
    names an existing folder (``--results /elsewhere/results``) as a path when it looks for its
    rootdir, and a results folder inside another checkout gave the cells node ids relative to
    the lab's folder ("file or directory not found: test_example.py::...")."""
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", ROOT,
            "--cells",
            "--kernel", ",".join(kernels), "--results", results, "--run-id", run_id,
            "--vm-timeout", str(vm_timeout), *lab_paths, *(extra or [])]
    if jobs > 1:
        argv += ["-n", str(jobs)]
    if shard_spec:
        argv += ["--shard", shard_spec]
    return run_unwinding(argv).returncode  # interrupted, the cells unwind before any kill


def _measured_on(stored: dict) -> dict | None:
    """The kernel a baseline was measured on, as --kernel can name it again."""
    if isinstance(stored.get("kernel_under_test"), dict):
        return stored["kernel_under_test"]
    rec = stored.get("kernel") if isinstance(stored.get("kernel"), dict) else {}
    if rec.get("image"):
        return {"kind": "image", "image": rec["image"], "spec": rec["image"]}
    return {"spec": rec.get("release") or "?"}


def _settle(k: KernelResult) -> None:
    """The evidence each cell kept until now: kept for what regressed, deleted otherwise; the
    report, read from the folders afterwards, shows what was kept."""
    regressed = {c.measurement: baseline.describe(c) for c in k.regressions}
    for folder in k.folders:
        pending.settle(folder, regressed)


def compare_kernel(k: KernelResult, results: str, name: str, save: bool) -> None:
    """Compare the kernel with its own baseline ``name`` (and keep this run as it, if asked).
    No baseline yet says so ("no baseline", never "no regression"); a baseline that cannot be
    read is an infrastructure error of the kernel, and is never overwritten."""
    if k.kernel is None:
        return
    stored = f"{name}@{k.kernel.key}"
    previous = None
    try:
        previous = baseline.load(results, stored)
        k.baseline_kernel = _measured_on(previous)
        changes = baseline.compare(k.records, previous)
    except baseline.NoBaseline:
        k.baseline_note = "no baseline"
    except HarnessError as exc:
        k.baseline_note = "baseline unreadable"
        k.errors.append(f"baseline: {exc}")
        _settle(k)
        return
    else:
        k.regressions = baseline.regressions(changes)
        k.flaky_changes = [c for c in changes if c.flaky]
        k.baseline_note = (f"{len(k.regressions)} regression(s)" if k.regressions
                           else f"no regression ({len(changes)} figures)")
    _settle(k)
    if save and k.verdict == "PASS":
        baseline.save(k.records, results, stored, source=",".join(k.folders), previous=previous,
                      under_test=k.kernel.as_record())
        k.baseline_note += "; saved as the new baseline"


def judged_errors(rec: dict) -> list[float]:
    """A record's rate errors that were held to a bound: none from a record without a
    tolerance (a policer's goodput falls short by design: -80 % is its finding, not an
    error), no goodput error the test left unjudged (a sender-limited flow)."""
    d = rec.get("derived", {})
    if rec.get("tolerance") is None:
        return []
    goodput, counter = GOODPUT_ERROR.key, COUNTER_ERROR.key
    return [abs(d[k]) for k in (goodput, counter) if isinstance(d.get(k), (int, float))
            and not (k == goodput and d.get("goodput_judged") is False)]


def key_figures(records: list[dict]) -> str:
    errors = [e for r in records for e in judged_errors(r)]
    base = [r["derived"]["goodput_bps"] for r in records if r.get("derived", {}).get("baseline")]
    parts = []
    if errors:
        parts.append(f"median abs. error {statistics.median(errors) * 100:.2f} %, "
                     f"max {max(errors) * 100:.2f} %")
    if base:
        parts.append(f"veth {format_rate(base[0])}")
    return "; ".join(parts)


def lab_table(kernels: list[KernelResult], labs: list[str]) -> str:
    """Lab x kernel: passed/failed/skipped of each cell and its key figures."""
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


def finish(run_dir: str, results: str, order: list[str] | None = None,
           expected: list[str] | None = None, baseline_name: str | None = None,
           save_baseline: bool = False, expect_skip: list[str] | None = None) -> int:
    """Verdicts, baselines, report, exports and summary of a run of cells; the exit code.
    ``expected``: cell ids that should have run (one that did not is infrastructure); by
    default the cells of the run's plan.json.  ``expect_skip``: kernel specs the user knows
    will skip every test (their ALL SKIPPED does not fail the night)."""
    cells = read_cells(run_dir)
    if expected is None:
        plan = read_plan(run_dir)
        expected = plan["cells"] if plan else []
        order = order or (plan["kernels"] if plan else None)
    kernels = by_kernel(cells, order)
    ran = {c["cell"] for c in cells}
    for cell_id in expected or []:
        if cell_id not in ran:
            lab, spec = cell_id.split("@", 1)
            k = next((k for k in kernels if k.spec == spec), None)
            if k is None:
                k = KernelResult(spec)
                kernels.append(k)
            k.errors.append(f"{lab}: the cell did not run")
    for k in kernels:
        k.skip_expected = k.spec in (expect_skip or [])
    if baseline_name:
        for k in kernels:
            if not k.errors:
                compare_kernel(k, results, baseline_name, save_baseline)
    runs = [r for r in load_runs([run_dir]) if r.records]
    if runs:
        write_report(runs, run_dir, formats=("md", "html"))
    write_exports(run_dir)
    text = summary_table(kernels) if kernels else "no cell ran"
    labs = sorted({lab for k in kernels for lab in k.per_lab})
    if kernels and labs:  # the lab x kernel view (what kernel-lab matrix used to print)
        text += "\n\nPer lab and kernel:\n\n" + lab_table(kernels, labs)
    for k in kernels:  # which figure moved, not only how many, and how to find the commit
        if k.regressions:
            text += (f"\n\nRegressions on {k.spec} against its baseline:\n\n"
                     + baseline.render(k.regressions) + "\n\nTo find the kernel or commit "
                     "(put the kernels between the two in order):\n\n"
                     + "\n".join(f"    {command_for(c, k.baseline_kernel, k.kernel.as_record())}"
                                  for c in k.regressions))
    entries = [{"spec": k.spec, "kernel": k.kernel.as_record() if k.kernel else None,
                "folders": k.folders, "rcs": k.rcs, "error": k.error, "counts": k.per_lab,
                "splats": k.splats, "baseline": k.baseline_note,
                "regressions": [baseline.describe(c) for c in k.regressions],
                "flaky": k.flaky,
                "verdict": k.verdict}
               for k in kernels]
    with open(os.path.join(run_dir, "nightly.json"), "w") as f:
        json.dump(entries, f, indent=1)
    # what the nights before say of each test that went red tonight (a label, never a verdict)
    told = history_lines(run_dir, results)
    if told:
        for entry in entries:
            entry["history"] = told.get(entry["spec"], [])
        with open(os.path.join(run_dir, "nightly.json"), "w") as f:
            json.dump(entries, f, indent=1)
        text += "\n\nWhat the last nights say of tonight's red tests (`kernel-lab history`):\n\n" + \
            "\n".join(f"- {spec}: {line}" for spec, lines in told.items() for line in lines)
    with open(os.path.join(run_dir, "nightly.md"), "w") as f:
        f.write(text + "\n")
    print("\n" + text)
    print(f"kernel-lab: {run_dir} (report.md, report.html, nightly.md, junit.xml, "
          "results.ktap, kcidb.json)")
    if not kernels or any(k.verdict == "INFRA" for k in kernels):
        return EXIT_INFRA
    return EXIT_FAILED if any(k.failed_night for k in kernels) else EXIT_OK


def history_lines(run_dir: str, results: str) -> dict[str, list[str]]:
    """{spec: ["test: failed 3 of the last 10 nights (...)", ...]} for tonight's red tests,
    from the nights under ``results`` up to this one."""
    from ..results.history import RED, WINDOW, History, find_nights, read_night

    nights = find_nights(results)
    tonight = os.path.basename(os.path.normpath(run_dir))
    this = read_night(run_dir)
    if this is None:
        return {}
    upto = [n for n in nights if n.run != tonight and n.started <= this.started]
    h = History((upto + [this])[-WINDOW:])
    out: dict[str, list[str]] = {}
    for (spec, test), t in sorted(h.tests.items()):
        if t.nights and t.nights[-1][0] == tonight and t.nights[-1][1] in RED:
            out.setdefault(spec, []).append(f"{test}: {t.label()}")
    return out


def nightly(kernels: list[str], lab_paths: list[str], results: str, baseline_name: str | None,
            save_baseline: bool = False, vm_timeout: float = 3600.0, extra: list[str] | None = None,
            run_id: str | None = None, jobs: int = 1, shard_spec: str | None = None,
            expect_skip: list[str] | None = None) -> int:
    run_id = run_id or _dt.datetime.now().strftime("%Y%m%d-%H%M%S") + "-nightly"
    if shard_spec:
        parse_shard(shard_spec)
    if baseline_name:  # a passed test keeps its evidence until it is known not to regress
        extra = [*(extra or []), "--evidence-until-compare"]
    run_cells(kernels, lab_paths, results, run_id, vm_timeout, extra, jobs, shard_spec)
    run_dir = os.path.join(results, run_id)
    os.makedirs(run_dir, exist_ok=True)
    expected = None  # the session's plan.json: the cells it selected (-k / -m apply)
    if read_plan(run_dir) is None:  # pytest ended before it planned: every cell is missing
        labs = [os.path.basename(os.path.normpath(p)) for p in lab_paths]
        cells = cells_of(kernels, labs)
        expected = [c.id for c in (shard(cells, *parse_shard(shard_spec)) if shard_spec
                                   else cells)]
    return finish(run_dir, results, kernels, expected, baseline_name, save_baseline, expect_skip)
