"""``kernel-lab lab``: every lab part where it can run, in one run with one report.

The labs run on this machine's kernel first.  Whatever that kernel lacks (the tests skipped
with "kernel lacks CONFIG_...", listed in the run's ``kernel-lacks.json``) then runs inside a
kernel that has it, booted with virtme-ng: by default the newest Debian kernel in /boot
(``make lab`` installs one), else ``debian:bookworm``.  Both sessions write into the same run
folder (the guest's in a sub-folder named after its release), and the report shows every
figure with the kernel it came from.
"""

from __future__ import annotations

import json
import os
import sys

from ..core.procs import run_unwinding
from ..report.files import write_report
from ..report.render import render
from ..report.tables import load_runs
from ..results.records import LACKS_FILE
from ..vm.image import other_images


def default_fill_in() -> str:
    images = other_images()
    return images[-1] if images else "debian:bookworm"


def run_everywhere(lab_paths: list[str], results: str, run_id: str, fill_in: str | None,
                   extra: list[str] | None = None) -> int:
    base = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--results", results,
            "--run-id", run_id, *(extra or [])]
    rc_host = run_unwinding(base + lab_paths).returncode
    folder = os.path.join(results, run_id)
    try:
        with open(os.path.join(folder, LACKS_FILE)) as f:
            lacking = [entry["test"] for entry in json.load(f)]
    except (OSError, ValueError):
        lacking = []
    rc_guest = 0
    if lacking and fill_in:
        print(f"\nkernel-lab lab: {len(lacking)} test(s) need what this kernel lacks: running "
              f"them inside {fill_in}", flush=True)
        rc_guest = run_unwinding(base + ["--kernel", fill_in, *lacking]).returncode
    runs = [r for r in load_runs([folder]) if r.records]
    if runs:
        paths = write_report(runs, folder, formats=("md", "html"))
        print(render(runs, "md"))
        print(f"kernel-lab lab: report in {paths['md']} and {paths['html']}")
    return rc_host or rc_guest
