#!/usr/bin/env python3
"""Replay stored runs as consecutive nights against a growing baseline: how many figures would
have read as regressions with nothing changed?

    .venv/bin/python bench/replay_nights.py RUN_DIR [RUN_DIR ...]    (oldest first)

Each run is compared with the baseline the runs before it built (harness.results.baseline:
binomial sigma where declared, the 99.9 % prediction interval of the history from the third
night on, else the fixed threshold), then added to it, exactly as `kernel-lab nightly
--baseline NAME --save-baseline` does; nothing is re-run.  Prints, per night, the figures
compared, the regressions (with their threshold and its source), and a total."""

import argparse
import collections
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness.results import baseline  # noqa: E402
from harness.results.records import load_records  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="run folders, oldest first")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="kl-replay-")
    previous, alarms, compared = None, 0, 0
    sources = collections.Counter()
    for night, run in enumerate(args.runs):
        records, problems = load_records(run)
        if problems:
            print(f"{run}: {len(problems)} unreadable record(s) skipped")
        if previous is not None:
            changes = [c for c in baseline.compare(records, previous, allow_missing=True)
                       if c.status == "measured"]
            bad = baseline.regressions(changes)
            compared += len(changes)
            alarms += len(bad)
            sources.update(c.threshold[1].split(" from ")[0] for c in changes)
            print(f"night {night:2d} {os.path.basename(run.rstrip('/'))}: {len(changes)} figures, "
                  f"{len(bad)} regression(s)")
            for c in bad:
                value, how = c.threshold
                print(f"    {c.measurement} {c.metric.key}: {c.baseline:.6g} -> {c.now:.6g}, "
                      f"threshold {value:.4g} ({how})")
        baseline.save(records, root, "replay", source=run, previous=previous)
        previous = baseline.load(root, "replay")
    print(f"{len(args.runs) - 1} nights compared, {compared} figures, {alarms} false alarm(s) "
          f"with nothing changed; thresholds by source: {dict(sources)}")
    return 1 if alarms else 0


if __name__ == "__main__":
    sys.exit(main())
