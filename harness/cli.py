"""The ``kernel-lab`` command.

    kernel-lab caps [--kernel K1,K2,...]    what this kernel (and those kernels' configs) can do
    kernel-lab lab [LAB ...]                every lab here, and what this kernel lacks elsewhere
    kernel-lab nightly [--kernels ...] [--labs ...] [--jobs N] [--shard I/N] [--baseline NAME]
                                            every kernel, one verdict each
    kernel-lab merge RUN... --into NAME [--baseline NAME]   shards' run folders as one run
    kernel-lab bisect --kernels GOOD,...,BAD | --tree REPO --good A --bad B  --labs LAB
                      [--figure LAB::NAME --metric M --threshold T --repeat N]
                                            the first bad kernel or commit, by verdict or figure
    kernel-lab history [RUN ...] [--since N]   nights in a row: flip rates, trends, splats
    kernel-lab export --junit|--ktap|--kcidb [RUN] [--out FILE]   formats kernel CI reads
    kernel-lab kconfig [LAB ...]            the kernel config fragment the labs need
    kernel-lab build-kernel [--source debian:bookworm] [LAB ...]   build one with it, as a tree
    kernel-lab report [RUN ...] [--format md|latex|html] [--out DIR] [--write]
    kernel-lab baseline save [RUN] [--name NAME]
    kernel-lab compare [RUN] --baseline NAME
    kernel-lab sweep [--dry-run]            remove what dead runs left behind
    kernel-lab new-lab NAME                 a new lab from labs/_example
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .core.errors import HarnessError
from .core import env
from .core.paths import check_run_id


LABS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "labs")


def _need_root(what: str):
    if os.geteuid() != 0:
        raise HarnessError(f"{what} needs root")


def cmd_caps(args) -> int:
    from tabulate import tabulate

    from .kernel.capabilities import Kernel
    from .kernel.features import FEATURES
    from .kernel.modules import ModuleLoader
    from .net.sweeper import close_run
    from .run.session import Run
    from .vm.kernels import config_capabilities, resolve

    others = [s.strip() for s in (args.kernel or "").split(",") if s.strip()]
    columns = {}
    if not others or "running" in others:
        _need_root("kernel-lab caps")
        run = Run(results_root=args.results)
        try:
            probe_ns = run.scratch_namespace("probe")
            k = Kernel(probe_namespace=probe_ns, modules=ModuleLoader(allowed=args.modprobe))
            columns[f"running {k.release}"] = {c.feature.name: _cap_cell(c) for c in k.table()}
        finally:
            close_run(run)
    for spec in others:
        if spec == "running":
            continue
        kut = resolve(spec, modules=args.modules)
        columns[kut.label] = config_capabilities(kut)
    rows = []
    for name, f in FEATURES.items():
        rows.append([name, f.config] + [col.get(name, "") for col in columns.values()])
    print(tabulate(rows, headers=["feature", "config"] + list(columns), tablefmt="github"))
    return 0


def _cap_cell(c) -> str:
    if c.available is False and c.config in ("built-in", "module"):
        return f"BROKEN: {c.how}"
    if c.available is False:
        return "missing"
    return c.how or ("present" if c.available else c.config)


def cmd_sweep(args) -> int:
    from .net.sweeper import sweep

    _need_root("kernel-lab sweep")
    removed = sweep(dry_run=args.dry_run)
    for line in removed:
        print(("would remove " if args.dry_run else "removed ") + line)
    if not removed:
        print("nothing left behind by dead runs")
    return 0


def cmd_report(args) -> int:
    from .report.files import write_report
    from .report.render import render
    from .report.tables import load_runs, resolve_run

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


def cmd_history(args) -> int:
    from .report import history_report
    from .results.history import History

    if args.since is not None and args.since < 1:
        raise HarnessError(f"--since takes a number of nights (1 or more), not {args.since}")
    h = History.read(args.results, args.runs or None, None if args.runs else args.since)
    if not h.nights:
        raise HarnessError(f"no nightly run (a folder with nightly.json) under {args.results}"
                           if not args.runs else f"none of {', '.join(args.runs)} is a nightly run")
    out = args.out or os.path.join(args.results, "history")
    written = history_report.write(h, out)
    print(history_report.markdown(h))
    print(f"kernel-lab: {out} ({', '.join(os.path.basename(p) for p in written.values())})")
    return 0


def _run_records(results: str, run: str) -> tuple[str, list]:
    from .report.tables import resolve_run
    from .results.records import load_records

    folder = resolve_run(results, run)
    records, problems = load_records(folder)
    for p in problems:
        print(f"kernel-lab: skipped file: {p}", file=sys.stderr)
    return folder, records


def cmd_baseline(args) -> int:
    from .results import baseline

    folder, records = _run_records(args.results, args.run)
    name = args.name or os.path.basename(os.path.realpath(folder))
    previous = None
    if not args.fresh:
        try:  # the nights before go on (they set the thresholds); unreadable: not overwritten
            previous = baseline.load(args.results, name)
        except baseline.NoBaseline:
            pass
    path = baseline.save(records, args.results, name, source=os.path.realpath(folder),
                         previous=previous)
    nights = max((len(v) for d in baseline.load(args.results, name)["history"].values()
                  for v in d.values()), default=1)
    print(f"saved baseline {name}: {path} ({nights} night(s) of history)")
    return 0


def cmd_compare(args) -> int:
    from .results import baseline

    _, records = _run_records(args.results, args.run)
    base = baseline.load(args.results, args.baseline)
    changes = baseline.compare(records, base, allow_missing=args.allow_missing)
    if not changes:
        raise HarnessError(f"nothing in common between the run and baseline {args.baseline}")
    print(baseline.render(changes))
    bad = baseline.regressions(changes)
    print(f"{len(bad)} regression(s) against baseline {args.baseline}" if bad
          else f"no regression against baseline {args.baseline}")
    return 1 if bad else 0


def lab_paths(names: list[str]) -> list[str]:
    """Lab folders from lab names (or paths); one line for an unknown one."""
    paths = []
    for lab in names:
        path = lab if os.path.exists(lab) else os.path.join(LABS_DIR, lab)
        if not os.path.isdir(path):
            raise HarnessError(f"unknown lab {lab!r}: no folder labs/{lab}")
        paths.append(os.path.relpath(path) if path.startswith(os.getcwd()) else path)
    return paths


def all_labs() -> list[str]:
    return sorted(d for d in os.listdir(LABS_DIR) if os.path.isdir(os.path.join(LABS_DIR, d))
                  and not d.startswith((".", "_")) and d != "__pycache__")


def cmd_nightly(args) -> int:
    from .orchestrate.nightly import DEFAULT_KERNELS, nightly

    _need_root("kernel-lab nightly")
    if args.run_id:
        check_run_id(args.run_id)
    kernels = [k.strip() for k in (args.kernels or ",".join(DEFAULT_KERNELS)).split(",") if k.strip()]
    labs = [x.strip() for x in args.labs.split(",")] if args.labs else all_labs()
    if args.save_baseline and not args.baseline:
        raise HarnessError("--save-baseline needs --baseline NAME")
    extra = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
    return nightly(kernels, lab_paths(labs), os.path.abspath(args.results), args.baseline,
                   save_baseline=args.save_baseline, vm_timeout=args.vm_timeout, extra=extra,
                   run_id=args.run_id, jobs=args.jobs, shard_spec=args.shard,
                   expect_skip=_specs(args.expect_skip))


def cmd_bisect(args) -> int:
    import datetime as _dt

    from .orchestrate.bisect import Bisect, Figure, run_step
    from .report import bisect_report

    _need_root("kernel-lab bisect")
    kernels = [k.strip() for k in (args.kernels or "").split(",") if k.strip()]
    labs = lab_paths([x.strip() for x in args.labs.split(",") if x.strip()])
    if bool(args.tree) == bool(kernels) or (args.tree and not (args.good and args.bad)):
        raise HarnessError("bisect takes --kernels GOOD,...,BAD, or --tree REPO --good COMMIT "
                           "--bad COMMIT")
    figure = None
    if args.figure or args.metric:
        if not (args.figure and args.metric and args.threshold is not None):
            raise HarnessError("figure mode needs --figure LAB::NAME, --metric and --threshold")
        if args.threshold <= 0:
            raise HarnessError(f"--threshold must be above 0, not {args.threshold:g}")
        figure = Figure(args.figure, args.metric, args.threshold)
    bisect_id = check_run_id(args.id or _dt.datetime.now().strftime("%Y%m%d-%H%M%S") + "-bisect",
                             "--id")
    folder = os.path.join(os.path.abspath(args.results), bisect_id)
    extra = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
    def runner(spec, step, repeat):
        return run_step(spec, step, repeat, labs, args.vm_timeout, extra)

    if args.tree:
        from .orchestrate.git_bisect import GitBisect
        from .plugin.kconfig import fragment
        from .vm.build_cache import BuildCache
        from .vm.git_build import build_worktree, moved_build

        frag = fragment(labs)
        if args.build_cache is not None and args.build_cache < 0:
            raise HarnessError(f"--build-cache takes a number of builds (0: none), not "
                               f"{args.build_cache}")
        cache = None if args.build_cache == 0 else BuildCache(frag, limit=args.build_cache)
        b = GitBisect(args.tree, args.good, args.bad, folder,
                      lambda worktree, log: build_worktree(worktree, frag, log), runner,
                      seed=args.seed, moved=moved_build, cache=cache, figure=figure,
                      repeat=args.repeat, max_repeat=args.max_repeat)
    else:
        b = Bisect(kernels, folder, runner, figure=figure, repeat=args.repeat,
                   max_repeat=args.max_repeat)
    code = b.run()
    with open(os.path.join(folder, "bisect.json")) as f:
        data = json.load(f)
    written = bisect_report.write(data, folder)
    print("\n" + bisect_report.markdown(data) + f"\n\nkernel-lab: {folder} (bisect.json, "
          + ", ".join(os.path.basename(p) for p in written.values()) + ")")
    return code


def cmd_merge(args) -> int:
    from .orchestrate.merge import merge
    from .report.tables import resolve_run

    if args.save_baseline and not args.baseline:
        raise HarnessError("--save-baseline needs --baseline NAME")
    check_run_id(args.into, "merge --into")
    sources = [resolve_run(args.results, r) for r in args.runs]
    return merge(sources, os.path.abspath(args.results), args.into, args.baseline,
                 args.save_baseline, expect_skip=_specs(args.expect_skip))


def _specs(text: str | None) -> list[str]:
    return [k.strip() for k in (text or "").split(",") if k.strip()]


def cmd_export(args) -> int:
    from .report import exports
    from .report.tables import resolve_run

    folder = resolve_run(args.results, args.run)
    kernels = exports.kernels_of(folder)
    if not kernels:
        raise HarnessError(f"no records and no cells in {folder}")
    if args.format == "junit":
        text = exports.junit(kernels).tostring().decode()
    elif args.format == "ktap":
        text = exports.ktap(kernels)
    else:
        import json

        text = json.dumps(exports.kcidb(kernels, os.path.basename(os.path.realpath(folder))),
                          indent=1) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_lab(args) -> int:
    import datetime as _dt

    from .orchestrate.everywhere import default_fill_in, run_everywhere

    _need_root("kernel-lab lab")
    run_id = check_run_id(args.run_id or _dt.datetime.now().strftime("%Y%m%d-%H%M%S") + "-lab")
    fill_in = None if args.no_fill_in else (args.fill_in or default_fill_in())
    return run_everywhere(lab_paths(args.labs or all_labs()), os.path.abspath(args.results),
                          run_id, fill_in)


def cmd_kconfig(args) -> int:
    from .plugin.kconfig import fragment

    print(fragment(lab_paths(args.labs or all_labs())), end="")
    return 0


def cmd_build_kernel(args) -> int:
    from .plugin.kconfig import fragment
    from .vm.source_build import build

    info = build(args.source, fragment(lab_paths(args.labs or all_labs())), args.jobs,
                 log=lambda line: print(line, file=sys.stderr))
    print(f"kernel-lab: {info['package']} {info['version']} built in {info['seconds']:.0f} s "
          f"(make -j{info['jobs']} on {info['cpus']} CPUs); boot it with "
          f"pytest --kernel {info['tree']} labs/...", file=sys.stderr)
    print(info["tree"])
    return 0


def cmd_new_lab(args) -> int:
    """Copy labs/_example to labs/NAME: a lab that passes as it is, ready to become a recipe."""
    import re

    if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", args.name):
        raise HarnessError(f"bad lab name {args.name!r}: lower-case letters, digits and _, "
                           "starting with a letter")
    into = os.path.join(args.labs_dir, args.name)
    if os.path.exists(into):
        raise HarnessError(f"{into} exists already")
    template = os.path.join(LABS_DIR, "_example")
    os.makedirs(into)
    for fn in sorted(os.listdir(template)):
        if fn.startswith(".") or fn == "__pycache__":
            continue
        target = "test_" + args.name + ".py" if fn == "test_example.py" else fn
        with open(os.path.join(template, fn)) as f:
            text = f.read().replace("_example", args.name)
        with open(os.path.join(into, target), "w") as f:
            f.write(text)
    print(f"wrote {into}: run it with `pytest {os.path.relpath(into)}`; labs/README.md says "
          "how to make it yours")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kernel-lab", description=__doc__.split("\n")[0])
    p.add_argument("--results", default=env.get("KERNEL_LAB_RESULTS"))
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("caps", help="capability table of the kernel")
    c.add_argument("--kernel", help="also show these kernels' capabilities, from their configs "
                                    "(comma-separated: images, releases, debian:SUITE, trees)")
    c.add_argument("--modules", help="with one --kernel IMAGE: its modules folder")
    c.add_argument("--modprobe", action="store_true",
                   help="load modules the config lists as =m (changes the root namespace)")
    c.set_defaults(func=cmd_caps)
    s = sub.add_parser("sweep", help="remove what dead runs left")
    s.add_argument("--dry-run", action="store_true")
    s.set_defaults(func=cmd_sweep)
    r = sub.add_parser("report", help="tables and plots from runs' records")
    r.add_argument("runs", nargs="*", help="run ids or folders (default: latest); several "
                                           "runs are shown side by side")
    r.add_argument("--format", choices=["md", "latex", "beamer", "html"], default="md",
                   help="md; latex (frames for your own deck); beamer (a whole deck, with "
                        "--out: deck.tex + figures, compiles with pdflatex); html")
    r.add_argument("--out", help="write report.<ext> and the plots into this folder")
    r.add_argument("--write", action="store_true",
                   help="also write report.md, report.html and plots into the (first) run folder")
    r.set_defaults(func=cmd_report)
    hi = sub.add_parser("history", help="nights in a row: each test's failures and flip rate "
                                        "(flaky or not), each figure's trend, each splat")
    hi.add_argument("runs", nargs="*", help="nightly run ids or folders (default: every nightly "
                                            "under --results)")
    hi.add_argument("--since", type=int, default=10, metavar="N",
                    help="the last N nights (default 10)")
    hi.add_argument("--out", help="where history.md/.html/.json and plots go "
                                  "(default: <results>/history)")
    hi.set_defaults(func=cmd_history)
    b = sub.add_parser("baseline", help="keep a run's figures as a baseline")
    bsub = b.add_subparsers(dest="action", required=True)
    bs = bsub.add_parser("save")
    bs.add_argument("run", nargs="?", help="run id or folder (default: latest)")
    bs.add_argument("--name", help="baseline name (default: the run id)")
    bs.add_argument("--fresh", action="store_true",
                    help="start a new history instead of adding this run to the baseline's")
    bs.set_defaults(func=cmd_baseline)
    c2 = sub.add_parser("compare", help="compare a run with a baseline; non-zero on regression")
    c2.add_argument("run", nargs="?", help="run id or folder (default: latest)")
    c2.add_argument("--baseline", required=True)
    c2.add_argument("--allow-missing", action="store_true",
                    help="a baseline measurement missing, failed or skipped here is reported, "
                         "not counted as a regression")
    c2.set_defaults(func=cmd_compare)
    n = sub.add_parser("new-lab", help="start a lab from labs/_example")
    n.add_argument("name")
    n.add_argument("--labs-dir", default=LABS_DIR, help=argparse.SUPPRESS)
    n.set_defaults(func=cmd_new_lab)
    ni = sub.add_parser("nightly", help="the labs on several kernels: report, baselines, verdict")
    ni.add_argument("--kernels", help="comma-separated (default: running, debian:bookworm, "
                                      "debian:trixie, debian:sid)")
    ni.add_argument("--labs", help="comma-separated lab names (default: every lab)")
    ni.add_argument("--baseline", help="compare each kernel with its own baseline NAME")
    ni.add_argument("--save-baseline", action="store_true",
                    help="keep each kernel that passed as its baseline NAME")
    ni.add_argument("--vm-timeout", type=float, default=3600.0)
    ni.add_argument("--jobs", type=int, default=1,
                    help="kernel x lab cells at once, one guest each (pytest-xdist workers)")
    ni.add_argument("--shard", metavar="I/N",
                    help="only this machine's share of the cells; join with kernel-lab merge")
    ni.add_argument("--run-id", help="the run folder's name (default: <time>-nightly)")
    ni.add_argument("--expect-skip", metavar="KERNELS",
                    help="kernels (as named in --kernels) known to skip every test: their "
                         "ALL SKIPPED does not fail the night")
    ni.add_argument("pytest_args", nargs=argparse.REMAINDER,
                    help="after --: passed to every session (e.g. -- -k accurate)")
    ni.set_defaults(func=cmd_nightly)
    la = sub.add_parser("lab", help="every lab here, and what this kernel lacks inside a "
                                    "kernel that has it; one run, one report")
    la.add_argument("labs", nargs="*", help="lab names (default: every lab)")
    la.add_argument("--fill-in", metavar="KERNEL",
                    help="the kernel for what this one lacks (default: the newest Debian "
                         "kernel in /boot, else debian:bookworm)")
    la.add_argument("--no-fill-in", action="store_true", help="this kernel only")
    la.add_argument("--run-id")
    la.set_defaults(func=cmd_lab)
    bi = sub.add_parser("bisect", help="the first bad kernel of a list (oldest first: good "
                                       "... bad), by verdict or by a figure")
    bi.add_argument("--kernels", help="comma-separated, oldest first, as --kernel takes them")
    bi.add_argument("--tree", metavar="REPO", help="a kernel git tree: bisect its commits "
                    "(built with the labs' fragment in a worktree of the bisect's own)")
    bi.add_argument("--good", metavar="COMMIT", help="with --tree: the last known good commit")
    bi.add_argument("--bad", metavar="COMMIT", help="with --tree: the first known bad commit")
    bi.add_argument("--seed", metavar="DIR", help="with --tree: a built tree of a nearby commit, "
                    "copied into the worktree with its objects (the first step rebuilds only "
                    "what differs)")
    bi.add_argument("--build-cache", type=int, metavar="N",
                    help="with --tree: keep the N most recently used builds (per commit and "
                         "fragment, ~20 MB each; default $KERNEL_LAB_BUILD_CACHE or 32; 0: none)")
    bi.add_argument("--labs", required=True, help="lab names, comma-separated")
    bi.add_argument("--figure", metavar="LAB::NAME",
                    help="figure mode: the measurement (as baselines name it)")
    bi.add_argument("--metric", help="figure mode: the derived figure, e.g. counter_error")
    bi.add_argument("--threshold", type=float,
                    help="figure mode: the move (in the metric's unit) that is a regression")
    bi.add_argument("--repeat", type=int, default=1,
                    help="samples per session (figure mode: 2 or more)")
    bi.add_argument("--max-repeat", type=int, help="figure mode: samples before a step is "
                                                   "skipped as undecided (default 3x --repeat)")
    bi.add_argument("--id", help="the bisect's folder under --results; the same id continues "
                                 "a stopped bisect")
    bi.add_argument("--vm-timeout", type=float, default=3600.0)
    bi.add_argument("pytest_args", nargs=argparse.REMAINDER,
                    help="after --: passed to every session (e.g. -- -k accurate)")
    bi.set_defaults(func=cmd_bisect)
    mg = sub.add_parser("merge", help="join shards' run folders into one run, then verdicts, "
                                      "baselines, report and exports as nightly does")
    mg.add_argument("runs", nargs="+", help="run ids or folders (one per shard)")
    mg.add_argument("--into", required=True, help="the merged run's id (a new folder)")
    mg.add_argument("--baseline", help="compare each kernel with its own baseline NAME")
    mg.add_argument("--save-baseline", action="store_true",
                    help="keep each kernel that passed as its baseline NAME")
    mg.add_argument("--expect-skip", metavar="KERNELS",
                    help="kernels known to skip every test (their ALL SKIPPED is no failure)")
    mg.set_defaults(func=cmd_merge)
    ex = sub.add_parser("export", help="a run as JUnit (one suite per kernel), KTAP or KCIDB")
    ex.add_argument("run", nargs="?", help="run id or folder (default: latest)")
    fm = ex.add_mutually_exclusive_group(required=True)
    fm.add_argument("--junit", dest="format", action="store_const", const="junit")
    fm.add_argument("--ktap", dest="format", action="store_const", const="ktap")
    fm.add_argument("--kcidb", dest="format", action="store_const", const="kcidb")
    ex.add_argument("--out", help="write here instead of standard output")
    ex.set_defaults(func=cmd_export)
    bk = sub.add_parser("build-kernel", help="build Debian's kernel source with the labs' "
                                             "config fragment; prints the tree to boot")
    bk.add_argument("labs", nargs="*", help="lab names (default: every lab)")
    bk.add_argument("--source", default="debian:bookworm",
                    help="the Debian suite whose linux-source to build (default: bookworm)")
    bk.add_argument("--jobs", type=int, help="make -jN (default: the CPUs)")
    bk.set_defaults(func=cmd_build_kernel)
    kc = sub.add_parser("kconfig", help="the kernel config fragment the labs need")
    kc.add_argument("labs", nargs="*", help="lab names (default: every lab)")
    kc.set_defaults(func=cmd_kconfig)
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
