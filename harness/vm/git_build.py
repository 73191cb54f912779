"""A commit of a kernel git tree built with the labs' config fragment, for a bisect step.

The worktree keeps its ``.config`` and objects from one step to the next, so a step rebuilds
what changed (``make`` by timestamps) and ccache serves files it compiled before under any
commit.  The first build configures the tree the way ``kernel-lab build-kernel`` does
(virtme-ng's minimal config plus the fragment, ``vng --kconfig``); later ones run ``make
olddefconfig`` (a commit may add options) and check that no option of the fragment was lost.
"""

from __future__ import annotations

import hashlib
import os
import shutil

from ..core.errors import HarnessError
from .source_build import FRAGMENT, _run, _vng, missing_options

DIGEST_FILE = ".kernel-lab-fragment"


def build_worktree(worktree: str, fragment: str, log_path: str, jobs: int | None = None) -> str:
    """Build the commit checked out in ``worktree``; returns the tree (a ``--kernel`` spec).
    A failed configure or make raises HarnessError naming the log (a bisect skips it)."""
    jobs = jobs or os.cpu_count() or 1
    digest = hashlib.sha256(fragment.encode()).hexdigest()[:12]
    stamp = os.path.join(worktree, DIGEST_FILE)
    config = os.path.join(worktree, ".config")
    with open(os.path.join(worktree, FRAGMENT), "w") as f:
        f.write(fragment)
    fresh = not os.path.exists(config) or not os.path.exists(stamp) or \
        open(stamp).read().strip() != digest
    if fresh:
        _run([_vng(), "--kconfig", "--config", FRAGMENT], worktree, log_path, "vng --kconfig")
        with open(stamp, "w") as f:
            f.write(digest + "\n")
    else:
        _run(["make", "olddefconfig"], worktree, log_path, "make olddefconfig")
    with open(config) as f:
        lost = missing_options(fragment, f.read())
    if lost:
        raise HarnessError("the config lost what the labs need: " + ", ".join(lost))
    cc = "ccache gcc" if shutil.which("ccache") else "gcc"
    _run(["make", f"-j{jobs}", f"CC={cc}", "bzImage", "modules"], worktree, log_path, "make")
    return worktree
