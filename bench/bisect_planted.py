"""Bisect a kernel history with two planted regressions, and time every part of it.

    sudo .venv/bin/python bench/bisect_planted.py [--case figure|verdict|both] [--out DIR]

The history (tests/system/planted_tree.py): Debian's linux-source 6.1 as kernel-lab builds it
with the labs' fragment, then ten commits; "htb-fast" makes HTB 3 % fast, "ifb-drops" makes the
ifb drop what it is handed.  The worktree is seeded from the cached build (--seed), so each
step rebuilds what its commit changed.

- figure: base .. the commit before ifb-drops, by ingress_ifb's HTB 100 Mbit/s counter error
  (threshold 1 point, 3 samples per session); must name htb-fast;
- verdict: base .. the last commit, by test_traffic_goes_through_the_ifb; must name ifb-drops.

Prints per case: the culprit, exit code, steps, the worktree's seeding, and per session the
build and the boot + lab seconds, then the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))

from harness.core.cache import cache_dir  # noqa: E402
from harness.plugin.kconfig import fragment  # noqa: E402
from harness.vm.source_build import build  # noqa: E402
from planted_tree import planted_repo  # noqa: E402

CASES = {
    "figure": dict(good="base", bad_index=6, expect="htb-fast",
                   args=["--figure", "ingress_ifb::htb 100mbit iperf3", "--metric",
                         "counter_error", "--threshold", "0.01", "--repeat", "3", "--",
                         "-k", "accurate and htb and 100mbit and iperf3"]),
    "verdict": dict(good="base", bad_index=-1, expect="ifb-drops",
                    args=["--", "-k", "goes_through"]),
}


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
    failed = 0
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
        for tm in out.get("timings", []):
            if "worktree_s" in tm:
                print(f"   worktree seeded in {tm['worktree_s']:.0f} s")
            else:
                print(f"   {tm['folder']:<26} {tm['commit'][:12]}  build {tm.get('build_s', 0):6.0f} s"
                      f"  boot+lab {tm.get('run_s', 0):6.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
