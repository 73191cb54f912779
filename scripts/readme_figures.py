#!/usr/bin/env python3
"""Put a run's per-lab tables into the labs' READMEs, generated from its records.

    .venv/bin/python scripts/readme_figures.py RUN [--results results]

For each lab with records in RUN, the lab's table as ``kernel-lab report RUN`` renders it
(several kernels side by side for a nightly run) goes into ``labs/<lab>/README.md`` between
``<!-- figures: begin -->`` and ``<!-- figures: end -->`` (appended under "## On every kernel
of a nightly run" the first time), with the run id, so a figure in a README names its run.
"""

import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tabulate import tabulate  # noqa: E402

from harness.report.render import lab_tables  # noqa: E402
from harness.report.tables import load_runs, resolve_run  # noqa: E402

BEGIN, END = "<!-- figures: begin -->", "<!-- figures: end -->"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run")
    ap.add_argument("--results", default=os.path.join(ROOT, "results"))
    args = ap.parse_args()
    folder = resolve_run(args.results, args.run)
    run_id = os.path.basename(os.path.realpath(folder))
    for t in lab_tables(load_runs([folder])):
        readme = os.path.join(ROOT, "labs", t["lab"], "README.md")
        if not os.path.exists(readme):
            continue
        body = (f"{t['pres'].finding}\n\n" if t["pres"].finding else "") + tabulate(
            t["rows"], headers=t["headers"], tablefmt="github", disable_numparse=True)
        if t["splats"]:
            body += f"\n\nKernel splats: {t['splats']}"
        block = (f"{BEGIN}\nRun `{run_id}` ({t['where']}), generated from its records by "
                 f"`scripts/readme_figures.py`:\n\n{body}\n{END}")
        with open(readme) as f:
            old = f.read()
        if BEGIN in old:
            new = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, old,
                         flags=re.S)
        else:
            new = old.rstrip("\n") + "\n\n## On every kernel of a nightly run\n\n" + block + "\n"
        with open(readme, "w") as f:
            f.write(new)
        print(f"{readme}: {t['lab']} from {run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
