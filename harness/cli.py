"""The ``kernel-lab`` command.

    kernel-lab caps [--kernel IMAGE]        what this kernel (and IMAGE's) can do
    kernel-lab run [--kernel IMAGE] LAB...  run labs (pytest) on this kernel or inside IMAGE
    kernel-lab report [RUN] [--format md|latex|html] [--out DIR]
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
    from .report import render_run, resolve_run

    run_dir = resolve_run(args.results, args.run)
    text = render_run(run_dir, fmt=args.format)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        ext = {"md": "md", "latex": "tex", "html": "html"}[args.format]
        path = os.path.join(args.out, f"report.{ext}")
        with open(path, "w") as f:
            f.write(text)
        print(f"wrote {path}")
    else:
        print(text)
    return 0


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
    r = sub.add_parser("report", help="tables from a run's records")
    r.add_argument("run", nargs="?", help="run id or folder (default: latest)")
    r.add_argument("--format", choices=["md", "latex", "html"], default="md")
    r.add_argument("--out", help="write into this folder instead of printing")
    r.set_defaults(func=cmd_report)
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
