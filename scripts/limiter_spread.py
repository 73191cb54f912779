#!/usr/bin/env python3
"""The spread behind each rate limiter's bound, from a run's records (a Markdown table).

    .venv/bin/python scripts/limiter_spread.py RUN [RUN ...] [--results results]

One row per limiter and traffic (TCP, or UDP floods), over every kernel and repeat of the
runs: how many figures, the kernels, the lowest and highest counter error, the largest |error|,
and the bound the lab judges it by with how many times the largest |error| it is.  The
rate_limiters README quotes it with the runs it came from.
"""

import argparse
import os
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tabulate import tabulate  # noqa: E402

from harness.report.tables import load_runs, resolve_run  # noqa: E402


def rows(runs) -> list[list]:
    groups = defaultdict(list)
    for run in runs:
        for r in run.records:
            p, d = r.get("params", {}), r.get("derived", {})
            err = d.get("counter_error")
            if r.get("lab") != "rate_limiters" or not isinstance(err, (int, float)) \
                    or "limiter" not in p or r.get("verdict") not in ("passed", "failed"):
                continue
            floods = any(k.startswith("flood") for k in r.get("samples", {}))
            traffic = "udp floods" if floods else "tcp"
            name = p["limiter"] + (f" {p['class']}" if "class" in p else "")
            groups[(name, traffic)].append((run.release, err, r.get("tolerance"), p.get("rate")))
    out = []
    for (name, traffic), figs in sorted(groups.items()):
        errors = [e for _, e, _, _ in figs]
        widest = max(abs(e) for e in errors)
        bound = figs[0][2]
        rates = sorted({str(f[3]) for f in figs}, key=lambda r: (len(r), r))
        out.append([name, traffic, ", ".join(rates), len(figs), len({f[0] for f in figs}),
                    f"{min(errors) * 100:+.2f} %", f"{max(errors) * 100:+.2f} %",
                    f"{widest * 100:.2f} %",
                    "" if bound is None else f"±{bound * 100:g} %",
                    "" if bound is None or not widest else f"{bound / widest:.1f}x"])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--results", default=os.path.join(ROOT, "results"))
    args = ap.parse_args()
    runs = load_runs([resolve_run(args.results, r) for r in args.runs])
    print(tabulate(rows(runs), headers=["limiter", "traffic", "rates", "figures", "kernels", "lowest",
                                        "highest", "largest |error|", "bound",
                                        "bound / largest"],
                   tablefmt="github", disable_numparse=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
