#!/usr/bin/env python3
"""Run ``pytest labs/ingress_ifb`` N times and print passes, failures and the spread of the
shaping error across runs (from the records each run wrote), against issue #19's goals: every
judged figure (shaper counter, steady-state goodput) within the goal band (0.5 % on the host),
median |error| at most 0.1 %, every run passing.  The generators' whole-run goodput (first
bucket included, not judged) is shown apart.

    .venv/bin/python bench/repeat_ingress_ifb.py [--runs 10] [--goal 0.5] [-- extra pytest args]
    (e.g. -- --kernel debian:bookworm --goal 2 for a Debian guest)
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--goal", type=float, default=0.5, help="band for every judged figure, %%")
    ap.add_argument("--run-prefix", default="run", help="run ids: PREFIX00, PREFIX01, ...")
    ap.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    results = tempfile.mkdtemp(prefix="kl-repeat-")
    whole = defaultdict(list)
    outcomes, errors = [], defaultdict(list)
    tolerances, skipped = set(), defaultdict(int)
    for i in range(args.runs):
        rc = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              "labs/ingress_ifb", "--results", results,
                              "--run-id", f"{args.run_prefix}{i:02d}",
                              *[a for a in args.pytest_args if a != "--"]],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        outcomes.append(rc)
        run_dir = os.path.join(results, f"{args.run_prefix}{i:02d}")
        for path in glob.glob(os.path.join(run_dir, "**", "ingress_ifb", "*.json"), recursive=True):
            rec = json.load(open(path))
            d = rec.get("derived", {})
            if rec.get("tolerance") is not None and "goodput_error" in d:
                tolerances.add(rec["tolerance"])
            if rec.get("verdict") == "skipped" and "goodput_error" in d:
                skipped[rec["name"]] += 1
            if "goodput_error" in d and rec.get("verdict") == "passed":
                errors[rec["name"] + " goodput"].append(d["goodput_error"])
                errors[rec["name"] + " counter"].append(d["counter_error"])
                if "whole_run_goodput_error" in d:
                    whole[rec["name"]].append(d["whole_run_goodput_error"])
        print(f"run {i + 1}/{args.runs}: {'pass' if rc == 0 else f'FAIL (exit {rc})'}", flush=True)
    passed = sum(rc == 0 for rc in outcomes)
    print(f"\n{passed} of {args.runs} runs passed, {args.runs - passed} failed")
    print(f"{'measurement':45} {'median':>9} {'min':>9} {'max':>9} {'stdev':>8}")
    allerr = []
    for name in sorted(errors):
        e = [x * 100 for x in errors[name]]
        allerr += e
        sd = statistics.stdev(e) if len(e) > 1 else 0.0
        print(f"{name:45} {statistics.median(e):+8.3f}% {min(e):+8.3f}% {max(e):+8.3f}% {sd:7.3f}%")
    met = False
    if allerr:
        worst = max(abs(x) for x in allerr)
        med = statistics.median(abs(x) for x in allerr)
        inside = sum(abs(x) <= args.goal for x in allerr)
        met = worst <= args.goal and med <= 0.1 and passed == args.runs
        print(f"judged figures: {len(allerr)}, {inside} within ±{args.goal:g} %, max |error| "
              f"{worst:.3f} %, median |error| {med:.3f} % (tolerance of the tests: "
              f"{', '.join(f'{t * 100:g} %' for t in sorted(tolerances))})")
        if skipped:
            print("skipped as sender-limited (not judged): "
                  + ", ".join(f"{n} x{k}" for n, k in sorted(skipped.items())))
        print(f"goals (all within ±{args.goal:g} %, median |error| <= 0.1 %, {args.runs} of "
              f"{args.runs} runs pass): {'met' if met else 'NOT met'}")
    if whole:
        w = [abs(x) * 100 for v in whole.values() for x in v]
        print(f"not judged: the generators' whole-run goodput, first bucket included: median "
              f"|error| {statistics.median(w):.3f} %, max {max(w):.3f} % over {len(w)} figures")
    print(f"records: {results}")
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
