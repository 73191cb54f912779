"""A commit of a kernel git tree built with the labs' config fragment, for a bisect step.

The worktree keeps its ``.config`` and objects from one step to the next, so a step rebuilds
what changed (``make`` by timestamps) and ccache (Debian's, through /usr/lib/ccache) serves
files it compiled before under any commit.  A tree without a config that has the fragment is
configured the way ``kernel-lab build-kernel`` does (virtme-ng's minimal config plus the
fragment, ``vng --kconfig``); one with it (an earlier step, or a seed) only gets ``make
olddefconfig`` (a commit may add options), and no option of the fragment may be lost.
"""

from __future__ import annotations

import os

from ..core.errors import HarnessError
from .source_build import FRAGMENT, _run, _vng, missing_options


def _has(config: str, fragment: str) -> bool:
    """The config exists and has every option the fragment asks for."""
    try:
        with open(config) as f:
            return not missing_options(fragment, f.read())
    except FileNotFoundError:
        return False


def build_worktree(worktree: str, fragment: str, log_path: str, jobs: int | None = None) -> str:
    """Build the commit checked out in ``worktree``; returns the tree (a ``--kernel`` spec).
    A failed configure or make raises HarnessError naming the log (a bisect skips it)."""
    jobs = jobs or os.cpu_count() or 1
    config = os.path.join(worktree, ".config")
    # a worktree configured before (by an earlier step, or a seed built with these labs'
    # fragment or a larger one) keeps its config: reconfiguring would rewrite it and make
    # rebuild much of the kernel; only a tree without a config that has the fragment starts
    # over from virtme-ng's minimal config
    if _has(config, fragment):
        _run(["make", "olddefconfig"], worktree, log_path, "make olddefconfig")
    else:
        with open(os.path.join(worktree, FRAGMENT), "w") as f:
            f.write(fragment)
        _run([_vng(), "--kconfig", "--config", FRAGMENT], worktree, log_path, "vng --kconfig")
    with open(config) as f:
        lost = missing_options(fragment, f.read())
    if lost:
        raise HarnessError("the config lost what the labs need: " + ", ".join(lost))
    # ccache through its gcc masquerade: the command line stays "gcc", so a tree built without
    # ccache (a seed) is not rebuilt for a changed CC (kbuild rebuilds on a changed command)
    masquerade = ("/usr/lib/ccache",) if os.path.isdir("/usr/lib/ccache") else ()
    # LOCALVERSION set (empty): a git tree's release gets no "+" for being one, so a seed
    # built outside git keeps its release, and with it every object that includes it
    _run(["make", f"-j{jobs}", "LOCALVERSION=", "bzImage", "modules"], worktree, log_path,
         "make", path_first=masquerade)
    return worktree


def moved_build(tree: str, was: str) -> int:
    """A built tree copied from ``was`` to ``tree``: rewrite the absolute paths kbuild recorded
    (tools/objtool's .cmd and .d files name their targets by absolute path; left as they are,
    objtool is rebuilt and with it every object).  Returns how many files were rewritten."""
    old, new = os.path.abspath(was).encode(), os.path.abspath(tree).encode()
    n = 0
    for folder, _, files in os.walk(tree):
        for name in files:
            if not (name.endswith(".cmd") or name.endswith(".d")):
                continue
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                data = f.read()
            if old in data:
                st = os.stat(path)
                with open(path, "wb") as f:
                    f.write(data.replace(old, new))
                os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
                n += 1
    return n
