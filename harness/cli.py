"""The ``kernel-lab`` command.

    kernel-lab caps [--kernel IMAGE]        what this kernel (and IMAGE's) can do
    kernel-lab run [--kernel IMAGE] LAB...  run labs (pytest) on this kernel or inside IMAGE
    kernel-lab report [RUN ...] [--format md|latex|html] [--out DIR] [--write]
    kernel-lab baseline save [RUN] [--name NAME]
    kernel-lab compare [RUN] --baseline NAME
    kernel-lab sweep [--dry-run]            remove what dead runs left behind
    kernel-lab matrix --kernels running,IMAGE --labs LAB[,LAB]   labs x kernels, one table
"""

from __future__ import annotations

import argparse
import os
import sys

from .errors import HarnessError


def _need_root(what: str):
    if os.geteuid() != 0:
        raise HarnessError(f"{what} needs root")


def cmd_caps(args) -> int:
    from tabulate import tabulate

    from .kernel import FEATURES, Kernel

    _need_root("kernel-lab caps")
    from .run import Run

    run = Run(results_root=args.results)
    try:
        probe_ns = run.scratch_namespace("probe")
        k = Kernel(probe_namespace=probe_ns, allow_modprobe=not args.no_modprobe)
        columns = {f"running {k.release}": {c.feature.name: _cap_cell(c) for c in k.table()}}
        if args.kernel:
            from .vm import image_capabilities

            release, caps = image_capabilities(args.kernel)
            columns[f"image {release}"] = caps
    finally:
        run.close()
    rows = []
    for name, f in FEATURES.items():
        rows.append([name, f.config] + [col.get(name, "") for col in columns.values()])
    print(tabulate(rows, headers=["feature", "config"] + list(columns), tablefmt="github"))
    return 0


def _cap_cell(c) -> str:
    if c.available is False:
        return "missing"
    return c.how or ("present" if c.available else c.config)


def cmd_sweep(args) -> int:
    from .sweeper import sweep

    _need_root("kernel-lab sweep")
    removed = sweep(dry_run=args.dry_run)
    for line in removed:
        print(("would remove " if args.dry_run else "removed ") + line)
    if not removed:
        print("nothing left behind by dead runs")
    return 0


def cmd_report(args) -> int:
    from .report import load_runs, render, resolve_run, write_report

    folders = [resolve_run(args.results, r) for r in (args.runs or [None])]
    runs = load_runs(folders)
    if not any(run.records for run in runs):
        problems = [p for run in runs for p in run.problems]
        raise HarnessError(f"no records in {', '.join(folders)}"
                           + (f" ({problems[0]})" if problems else ""))
    out = args.out or (folders[0] if args.write else None)
    if out:
        paths = write_report(runs, out, formats=(args.format,) if args.out else ("md", "html"))
        for key, path in paths.items():
            for p in path if isinstance(path, list) else [path]:
                print(f"wrote {p}")
    if not args.out:
        print(render(runs, fmt=args.format))
    return 0


def _run_records(results: str, run: str) -> tuple[str, list]:
    from .report import resolve_run
    from .results import load_records

    folder = resolve_run(results, run)
    records, problems = load_records(folder)
    for p in problems:
        print(f"kernel-lab: skipped file: {p}", file=sys.stderr)
    return folder, records


def cmd_baseline(args) -> int:
    from . import baseline

    folder, records = _run_records(args.results, args.run)
    name = args.name or os.path.basename(os.path.realpath(folder))
    path = baseline.save(records, args.results, name, source=os.path.realpath(folder))
    print(f"saved baseline {name}: {path}")
    return 0


def cmd_compare(args) -> int:
    from . import baseline

    _, records = _run_records(args.results, args.run)
    base = baseline.load(args.results, args.baseline)
    changes = baseline.compare(records, base)
    if not changes:
        raise HarnessError(f"nothing in common between the run and baseline {args.baseline}")
    print(baseline.render(changes))
    bad = baseline.regressions(changes)
    print(f"{len(bad)} regression(s) against baseline {args.baseline}" if bad
          else f"no regression against baseline {args.baseline}")
    return 1 if bad else 0


def cmd_run(args) -> int:
    import pytest

    labs = []
    for lab in args.labs:
        path = lab if os.path.exists(lab) else os.path.join("labs", lab)
        if not os.path.exists(path):
            raise HarnessError(f"unknown lab {lab!r}: no folder {path}")
        labs.append(path)
    argv = labs + ["--results", args.results] + (["--kernel", args.kernel] if args.kernel else [])
    return int(pytest.main(argv + args.pytest_args))


def cmd_matrix(args) -> int:
    from .matrix import matrix

    _need_root("kernel-lab matrix")
    kernels = [k.strip() for k in args.kernels.split(",") if k.strip()]
    labs = [x.strip() for x in args.labs.split(",") if x.strip()]
    if not kernels or not labs:
        raise HarnessError("matrix needs --kernels and --labs (comma-separated)")
    return matrix(kernels, labs, os.path.abspath(args.results), args.vm_timeout)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kernel-lab", description=__doc__.split("\n")[0])
    p.add_argument("--results", default=os.environ.get("KERNEL_LAB_RESULTS", "results"))
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("caps", help="capability table of the kernel")
    c.add_argument("--kernel", help="also show this kernel image's capabilities (from its config)")
    c.add_argument("--no-modprobe", action="store_true", help="do not load modules")
    c.set_defaults(func=cmd_caps)
    s = sub.add_parser("sweep", help="remove what dead runs left")
    s.add_argument("--dry-run", action="store_true")
    s.set_defaults(func=cmd_sweep)
    r = sub.add_parser("report", help="tables and plots from runs' records")
    r.add_argument("runs", nargs="*", help="run ids or folders (default: latest); several "
                                           "runs are shown side by side")
    r.add_argument("--format", choices=["md", "latex", "html"], default="md")
    r.add_argument("--out", help="write report.<ext> and the plots into this folder")
    r.add_argument("--write", action="store_true",
                   help="also write report.md, report.html and plots into the (first) run folder")
    r.set_defaults(func=cmd_report)
    b = sub.add_parser("baseline", help="keep a run's figures as a baseline")
    bsub = b.add_subparsers(dest="action", required=True)
    bs = bsub.add_parser("save")
    bs.add_argument("run", nargs="?", help="run id or folder (default: latest)")
    bs.add_argument("--name", help="baseline name (default: the run id)")
    bs.set_defaults(func=cmd_baseline)
    c2 = sub.add_parser("compare", help="compare a run with a baseline; non-zero on regression")
    c2.add_argument("run", nargs="?", help="run id or folder (default: latest)")
    c2.add_argument("--baseline", required=True)
    c2.set_defaults(func=cmd_compare)
    u = sub.add_parser("run", help="run labs with pytest")
    u.add_argument("labs", nargs="+")
    u.add_argument("--kernel", help="boot this kernel image with virtme-ng and run inside it")
    u.add_argument("pytest_args", nargs=argparse.REMAINDER)
    u.set_defaults(func=cmd_run)
    m = sub.add_parser("matrix", help="labs x kernels, one table")
    m.add_argument("--kernels", required=True, help="running and/or kernel images, comma-separated")
    m.add_argument("--labs", required=True, help="lab names, comma-separated")
    m.add_argument("--vm-timeout", type=float, default=1800.0)
    m.set_defaults(func=cmd_matrix)
    return p


def main(argv=None) -> int:
    import signal

    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `kernel-lab caps | head` ends quietly
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HarnessError as exc:
        print(f"kernel-lab: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
