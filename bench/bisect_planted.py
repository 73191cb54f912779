"""Bisect a kernel history with two planted regressions, and time every part of it.

    sudo .venv/bin/python bench/bisect_planted.py [--case figure|verdict|both] [--out DIR]

The history (tests/system/planted_tree.py): Debian's linux-source 6.1 as kernel-lab builds it
with the labs' fragment, then sixteen commits; "htb-fast" (the 4th) makes HTB 3 % fast,
"ifb-drops" (the 13th) makes the ifb drop what it is handed.  The worktree is seeded from the
cached build (--seed), so each step rebuilds what its commit changed.

- figure: base .. the commit before ifb-drops (12 commits), by ingress_ifb's HTB 100 Mbit/s
  counter error (threshold 1 point, 3 samples per session); must name htb-fast;
- verdict: base .. the last commit (16 commits), by test_traffic_goes_through_the_ifb; must name
  ifb-drops.

Prints per case: the culprit, exit code, steps, the worktree's seeding, and per session the
build, the boot (to the first test, from the guest's vm.json) and the lab seconds; then one table
with both cases side by side: the first build of the tree (once, cached), incremental builds,
build-cache hits, boot and lab time per session, sessions, steps and wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))

from harness.core.cache import cache_dir  # noqa: E402
from harness.plugin.kconfig import fragment  # noqa: E402
from harness.vm.source_build import build  # noqa: E402
from tabulate import tabulate  # noqa: E402
from planted_tree import REGRESSIONS, planted_repo  # noqa: E402

CASES = {
    "figure": dict(good="base", bad_index=REGRESSIONS["ifb-drops"], expect="htb-fast",
                   args=["--figure", "ingress_ifb::htb 100mbit iperf3", "--metric",
                         "counter_error", "--threshold", "0.01", "--repeat", "3", "--",
                         "-k", "accurate and htb and 100mbit and iperf3"]),
    "verdict": dict(good="base", bad_index=-1, expect="ifb-drops",
                    args=["--", "-k", "goes_through"]),
}


HEADERS = ["case", "first build s", "builds", "incremental build s (median, max)",
           "cache hits", "boot s (median)", "lab s (median)", "sessions", "steps", "wall s"]


def boot_seconds(step_folder: str) -> float | None:
    """Boot to the first test, from the guest's vm.json under a step's folder."""
    for top, _dirs, files in os.walk(step_folder):
        if "vm.json" in files:
            with open(os.path.join(top, "vm.json")) as f:
                return (json.load(f).get("marks") or {}).get("first test")
    return None


def _s(v: float | None) -> str:
    return f"{v:6.0f} s" if v is not None else "     - "


def summary_row(case: str, tree: dict, sessions: list, steps: int, wall: float) -> list:
    built = [tm["build_s"] for tm, _b, _l in sessions if not tm.get("cached")]
    boots = [b for _t, b, _l in sessions if b is not None]
    labs = [lab for _t, _b, lab in sessions if lab is not None]
    return [case, round(tree["seconds"]), len(built),
            f"{statistics.median(built):.0f}, {max(built):.0f}" if built else "-",
            len(sessions) - len(built),
            f"{statistics.median(boots):.0f}" if boots else "-",
            f"{statistics.median(labs):.0f}" if labs else "-", len(sessions), steps, round(wall)]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=["figure", "verdict", "both"], default="both")
    ap.add_argument("--out", default=os.path.join(ROOT, "results"))
    args = ap.parse_args()
    t0 = time.monotonic()
    labs = [os.path.join(ROOT, "labs", d) for d in sorted(os.listdir(os.path.join(ROOT, "labs")))
            if not d.startswith((".", "_")) and os.path.isdir(os.path.join(ROOT, "labs", d))]
    tree = build("debian:bookworm", fragment(labs), log=lambda m: print(m, file=sys.stderr))
    tree_s = time.monotonic() - t0
    t1 = time.monotonic()
    history = planted_repo(os.path.join(cache_dir("planted"), tree["fragment_digest"]),
                           tree["tree"])
    repo_s = time.monotonic() - t1
    print(f"tree {tree['tree']} ({tree_s:.0f} s to have it; built in {tree['seconds']:.0f} s "
          f"once), history {history['repo']} ({repo_s:.0f} s)")
    failed, rows = 0, []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for case in (["figure", "verdict"] if args.case == "both" else [args.case]):
        spec = CASES[case]
        bad = history["commits"][spec["bad_index"]]
        bid = f"{stamp}-bisect-{case}"
        t = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "harness.cli", "--results", args.out, "bisect",
                            "--tree", history["repo"], "--good", history["base"], "--bad", bad,
                            "--seed", tree["tree"], "--labs", "ingress_ifb", "--id", bid,
                            *spec["args"]], cwd=ROOT)
        wall = time.monotonic() - t
        with open(os.path.join(args.out, bid, "bisect.json")) as f:
            data = json.load(f)
        out = data["outcome"]
        culprit = (out.get("first_bad") or {}).get("spec")
        right = culprit == history[spec["expect"]]
        failed += not (right and r.returncode == 0)
        print(f"\n== {case}: exit {r.returncode}, culprit {culprit and culprit[:12]} "
              f"({'the planted ' + spec['expect'] if right else 'NOT ' + spec['expect']}), "
              f"{len(data['steps'])} steps, {wall:.0f} s wall\n   {out.get('summary')}")
        sessions = []
        for tm in out.get("timings", []):
            if "worktree_s" in tm:
                print(f"   worktree seeded in {tm['worktree_s']:.0f} s")
                continue
            boot = boot_seconds(os.path.join(args.out, bid, tm["folder"]))
            lab = tm.get("run_s", 0) - boot if boot is not None else None
            sessions.append((tm, boot, lab))
            print(f"   {tm['folder']:<26} {tm['commit'][:12]}  build {tm.get('build_s', 0):6.0f} s"
                  f"  boot {_s(boot)}  lab {_s(lab)}")
        rows.append(summary_row(case, tree, sessions, len(data["steps"]), wall))
    print("\n" + tabulate(rows, headers=HEADERS, tablefmt="github"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
