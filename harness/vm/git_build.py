"""A commit of a kernel git tree built with the labs' config fragment, for a bisect step.

The worktree keeps its ``.config`` and objects from one step to the next, so a step rebuilds
what changed (``make`` by timestamps) and ccache (Debian's, through /usr/lib/ccache) serves
files it compiled before under any commit.  The first build configures the tree the way ``kernel-lab build-kernel`` does
(virtme-ng's minimal config plus the fragment, ``vng --kconfig``); later ones run ``make
olddefconfig`` (a commit may add options) and check that no option of the fragment was lost.
"""

from __future__ import annotations

import hashlib
import json
import os

from ..core.errors import HarnessError
from .source_build import FRAGMENT, MARKER, _run, _vng, missing_options

DIGEST_FILE = ".kernel-lab-fragment"


def _seeded_with(worktree: str) -> str | None:
    """The fragment digest of the build a seed tree came from (its build.json), if any."""
    try:
        with open(os.path.join(worktree, MARKER)) as f:
            return json.load(f).get("fragment_digest")
    except (OSError, ValueError):
        return None


def build_worktree(worktree: str, fragment: str, log_path: str, jobs: int | None = None) -> str:
    """Build the commit checked out in ``worktree``; returns the tree (a ``--kernel`` spec).
    A failed configure or make raises HarnessError naming the log (a bisect skips it)."""
    jobs = jobs or os.cpu_count() or 1
    digest = hashlib.sha256(fragment.encode()).hexdigest()[:12]
    stamp = os.path.join(worktree, DIGEST_FILE)
    config = os.path.join(worktree, ".config")
    with open(os.path.join(worktree, FRAGMENT), "w") as f:
        f.write(fragment)
    if not os.path.exists(stamp) and _seeded_with(worktree) == digest:
        with open(stamp, "w") as f:  # a seed built by build-kernel with this very fragment
            f.write(digest + "\n")
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
    # ccache through its gcc masquerade: the command line stays "gcc", so a tree built without
    # ccache (a seed) is not rebuilt for a changed CC (kbuild rebuilds on a changed command)
    masquerade = ("/usr/lib/ccache",) if os.path.isdir("/usr/lib/ccache") else ()
    _run(["make", f"-j{jobs}", "bzImage", "modules"], worktree, log_path, "make",
         path_first=masquerade)
    return worktree
