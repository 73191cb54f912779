#!/usr/bin/env python3
"""The harness's shaping figures and an independent iperf3 command-line run of the same recipe,
side by side, in one run: HTB and TBF on the ifb at 10, 100 and 500 Mbit/s.

    sudo .venv/bin/python bench/accuracy_vs_iperf3_cli.py [--runs 3] [-- extra pytest args]

Then HTB and TBF at 10 Mbit/s counted from 2 s into the flow against after it settled, with
the sender's GSO on and off: why the warm-up is longer at low rates (labs/ingress_ifb/README.md).

Per row: the shaper's byte counter against the rate, the harness's steady-state goodput and
the iperf3 wrapper's whole-run goodput against rate x 1448/1514, and ``iperf3 -c -O W -t 3
-J`` (Debian's iperf3, receiver's figure, the W s of warm-up omitted) against the same.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLUMNS = [("counter", "shaper counter"), ("goodput", "steady goodput"),
           ("whole_run", "whole-run goodput"), ("cli", "iperf3 CLI -O")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    fd, out = tempfile.mkstemp(prefix="kl-accuracy-", suffix=".jsonl")  # made, not guessed
    os.close(fd)
    rc = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "bench/accuracy/test_against_iperf3_cli.py", "--count", str(args.runs),
                          *[a for a in args.pytest_args if a != "--"]],
                         cwd=ROOT, env={**os.environ, "KL_BENCH_OUT": out},
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(out) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    first = [r for r in rows if r.get("first_seconds")]
    rows = [r for r in rows if not r.get("first_seconds")]
    by = defaultdict(list)
    for r in rows:
        by[(r["qdisc"], int(r["rate"].rstrip("mbit")))].append(r)
    print(f"pytest exit {rc}, rows in {out}")
    if rows:
        print("error against the expectation, median [min, max] over runs, %")
        print(f"{'qdisc':5} {'rate':>9} {'n':>2} " + " ".join(f"{h:>24}" for _, h in COLUMNS))
    for (qdisc, mbit), rs in sorted(by.items()):
        cells = []
        for key, _ in COLUMNS:
            v = [r[key] * 100 for r in rs]
            cells.append(f"{statistics.median(v):+.3f} [{min(v):+.2f},{max(v):+.2f}]")
        print(f"{qdisc:5} {mbit:>5}Mbit {len(rs):>2} " + " ".join(f"{c:>24}" for c in cells))
    for key, head in COLUMNS:
        v = [abs(r[key]) * 100 for r in rows]
        if v:
            print(f"{head:>18}: median |error| {statistics.median(v):.3f} %, max {max(v):.3f} %")
    if first:
        print("\n10 Mbit/s, counted from 2 s into the flow or after it settled; median [min, max] %")
        print(f"{'qdisc':5} {'warm-up':8} {'sender':8} {'n':>2} {'shaper counter':>24} "
              f"{'steady goodput':>24} {'retransmits':>11}")
        groups = defaultdict(list)
        for r in first:
            groups[(r["qdisc"], r["warmup"], r["gso"])].append(r)
        for (qdisc, warm, gso), rs in sorted(groups.items()):
            cells = []
            for key in ("counter", "goodput"):
                v = [r[key] * 100 for r in rs]
                cells.append(f"{statistics.median(v):+.3f} [{min(v):+.2f},{max(v):+.2f}]")
            retr = statistics.median(r["retransmits"] or 0 for r in rs)
            print(f"{qdisc:5} {warm:8} {gso:8} {len(rs):>2} {cells[0]:>24} {cells[1]:>24} {retr:>11g}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
