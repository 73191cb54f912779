#!/usr/bin/env python3
"""Run ``pytest labs/ingress_ifb`` N times and print passes, failures and the spread of the
shaping error across runs (from the records each run wrote).

    .venv/bin/python bench/repeat_ingress_ifb.py [--runs 10] [-- extra pytest args]
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
    ap.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    results = tempfile.mkdtemp(prefix="kl-repeat-")
    outcomes, errors = [], defaultdict(list)
    for i in range(args.runs):
        rc = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              "labs/ingress_ifb", "--results", results, "--run-id", f"run{i:02d}",
                              *[a for a in args.pytest_args if a != "--"]],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        outcomes.append(rc)
        for path in glob.glob(os.path.join(results, f"run{i:02d}", "ingress_ifb", "*.json")):
            rec = json.load(open(path))
            d = rec.get("derived", {})
            if "goodput_error" in d:
                errors[rec["name"] + " goodput"].append(d["goodput_error"])
                errors[rec["name"] + " counter"].append(d["counter_error"])
        print(f"run {i + 1}/{args.runs}: {'pass' if rc == 0 else f'FAIL (exit {rc})'}", flush=True)
    passed = sum(rc == 0 for rc in outcomes)
    print(f"\n{passed} of {args.runs} runs passed, {args.runs - passed} failed")
    print(f"{'measurement':45} {'median':>9} {'min':>9} {'max':>9} {'stdev':>8}")
    allerr = []
    for name in sorted(errors):
        e = [x * 100 for x in errors[name]]
        allerr += e
        sd = statistics.stdev(e) if len(e) > 1 else 0.0
        print(f"{name:45} {statistics.median(e):+8.2f}% {min(e):+8.2f}% {max(e):+8.2f}% {sd:7.2f}%")
    if allerr:
        print(f"all shaping errors: max |error| {max(abs(x) for x in allerr):.2f} % "
              f"over {len(allerr)} figures (tolerance 5 %)")
    print(f"records: {results}")
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
