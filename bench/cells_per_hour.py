#!/usr/bin/env python3
"""Cells per hour with 1 and with N jobs, side by side, and what the load does to the figures.

The same kernel x lab cells run through ``kernel-lab nightly`` once with ``--jobs 1`` and once
with ``--jobs N`` (pytest-xdist workers, one guest each), alternating over the rounds so that
drift in the machine hits both alike.  For each it prints the wall time, cells per hour, the
ratio to one job, whether the host was oversubscribed (a cell keeps two CPUs busy), and the
median and largest |goodput error| of the shaping figures, so a speed-up bought with worse
figures shows.  Nothing else should run on the machine meanwhile.

    sudo .venv/bin/python bench/cells_per_hour.py [--jobs 2] [--rounds 1]
        [--kernels debian:bookworm,debian:trixie] [--labs _example,netlink_kinds]
        [-k "tbf_holds or tap_owned"]
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def once(results: str, run_id: str, kernels: str, labs: str, jobs: int, select: str) -> dict:
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "harness.cli", "--results", results, "nightly",
                        "--kernels", kernels, "--labs", labs, "--jobs", str(jobs), "--run-id",
                        run_id, "--", "-k", select], cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - t0
    run = os.path.join(results, run_id)
    cells = [json.load(open(p)) for p in glob.glob(os.path.join(run, "*", "*", "cell.json"))]
    errors = []
    for path in glob.glob(os.path.join(run, "*", "*", "**", "*.json"), recursive=True):
        if os.path.basename(path) in ("cell.json", "run.json", "vm.json", "kernel-lacks.json"):
            continue
        with open(path) as f:
            rec = json.load(f)
        e = rec.get("derived", {}).get("goodput_error")
        if isinstance(e, (int, float)):
            errors.append(abs(e) * 100)
    return {"jobs": jobs, "rc": r.returncode, "wall": wall, "cells": len(cells),
            "oversubscribed": any(c["conditions"]["oversubscribed"] for c in cells),
            "errors": errors, "tail": r.stdout[-1500:] + r.stderr[-1500:]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--kernels", default="debian:bookworm,debian:trixie")
    ap.add_argument("--labs", default="_example,netlink_kinds")
    ap.add_argument("-k", dest="select", default="tbf_holds or tap_owned")
    args = ap.parse_args()
    results = tempfile.mkdtemp(prefix="kl-cells-bench-")
    rows = {1: [], args.jobs: []}
    for rnd in range(args.rounds):
        order = [1, args.jobs] if rnd % 2 == 0 else [args.jobs, 1]
        for jobs in order:
            r = once(results, f"r{rnd}-j{jobs}", args.kernels, args.labs, jobs, args.select)
            if r["rc"] != 0:
                print(f"round {rnd}, {jobs} job(s): nightly exited {r['rc']}\n{r['tail']}",
                      file=sys.stderr)
                return 1
            rows[jobs].append(r)
    print(f"{os.cpu_count()} host CPUs; kernels {args.kernels}; labs {args.labs} "
          f"(-k {args.select!r}); {args.rounds} round(s); results in {results}")
    print(f"{'jobs':>4} {'cells':>5} {'wall s':>8} {'cells/hour':>10} {'ratio':>6} "
          f"{'oversubscribed':>14} {'median |err| %':>14} {'max |err| %':>11}")
    base = None
    for jobs, runs in rows.items():
        wall = statistics.median(r["wall"] for r in runs)
        per_hour = runs[0]["cells"] * 3600 / wall
        base = base or per_hour
        errors = [e for r in runs for e in r["errors"]]
        print(f"{jobs:>4} {runs[0]['cells']:>5} {wall:>8.1f} {per_hour:>10.1f} "
              f"{per_hour / base:>6.2f} {str(runs[0]['oversubscribed']):>14} "
              f"{statistics.median(errors) if errors else float('nan'):>14.2f} "
              f"{max(errors) if errors else float('nan'):>11.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
