#!/usr/bin/env python3
"""What the always-on evidence costs: ``pytest labs/ingress_ifb`` with the capture rings and
without them (``--capture-rings off``), alternated in one run, side by side: wall time per
session, the unshaped veth rate (the figure a CPU-bound machine feels first), and the shaping
figures (median and worst |error| of the judged counter and goodput).

Counters around each call and the lab's state are read in both modes (they are not optional);
the captures are the difference.

    .venv/bin/python bench/capture_overhead.py [--rounds 2] [-- extra pytest args]
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
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = {"captures on": [], "captures off": ["--capture-rings", "off"]}


def figures(run_dir: str) -> dict:
    out = defaultdict(list)
    for path in glob.glob(os.path.join(run_dir, "**", "ingress_ifb", "*.json"), recursive=True):
        rec = json.load(open(path))
        d = rec.get("derived", {})
        if rec.get("verdict") != "passed":
            continue
        if d.get("baseline"):
            out["unshaped_bps"].append(d["goodput_bps"])
        if "counter_error" in d:
            out["counter"].append(abs(d["counter_error"]))
        if "goodput_error" in d and d.get("goodput_judged", True):
            out["goodput"].append(abs(d["goodput_error"]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    extra = [a for a in args.pytest_args if a != "--"]
    results = tempfile.mkdtemp(prefix="kl-capture-")
    seen = {m: defaultdict(list) for m in MODES}
    walls = {m: [] for m in MODES}
    rcs = {m: [] for m in MODES}
    for i in range(args.rounds):
        for mode, flags in (MODES.items() if i % 2 == 0 else reversed(list(MODES.items()))):
            run_id = f"{mode.split()[1]}{i:02d}"
            t0 = time.monotonic()
            rc = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                  "labs/ingress_ifb", "--results", results, "--run-id", run_id,
                                  *flags, *extra], cwd=ROOT,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            walls[mode].append(time.monotonic() - t0)
            rcs[mode].append(rc)
            for k, v in figures(os.path.join(results, run_id)).items():
                seen[mode][k] += v
            print(f"round {i + 1}, {mode}: exit {rc}, {walls[mode][-1]:.1f} s", flush=True)
    print(f"\n{'':28}" + "".join(f"{m:>16}" for m in MODES) + f"{'on/off':>10}")

    def row(label, values, fmt, ratio=True):
        cells = "".join(f"{fmt(v):>16}" for v in values)
        r = f"{values[0] / values[1]:>10.3f}" if ratio and values[1] else ""
        print(f"{label:28}{cells}{r}")

    row("sessions passed", [sum(rc == 0 for rc in rcs[m]) for m in MODES], str, ratio=False)
    row("wall time per session, s", [statistics.median(walls[m]) for m in MODES],
        lambda v: f"{v:.1f}")
    row("unshaped veth, Gbit/s", [statistics.median(seen[m]["unshaped_bps"]) / 1e9 for m in MODES],
        lambda v: f"{v:.2f}")
    for key in ("counter", "goodput"):
        row(f"median |{key} error|, %", [100 * statistics.median(seen[m][key]) for m in MODES],
            lambda v: f"{v:.3f}", ratio=False)
        row(f"worst |{key} error|, %", [100 * max(seen[m][key]) for m in MODES],
            lambda v: f"{v:.3f}", ratio=False)
    print(f"\n(records in {results})")


if __name__ == "__main__":
    main()
