"""Built kernels kept per commit and fragment, so a bisect step is built once.

A bisect that is stopped and continued, a second bisect over the same history, and the
re-verify of a culprit all boot commits that were built before.  Each build is kept as a slim
tree under ``$XDG_CACHE_HOME/kernel-lab/builds/<commit>-<fragment digest>/``: what booting a tree
needs and nothing else (``.config``, ``arch/x86/boot/bzImage``, ``System.map``, the ``.ko`` files
at their paths, ``modules.order``, ``modules.builtin``, ``modules.builtin.modinfo``), about
15 MB where the build tree is 4 GB.  :func:`harness.vm.kernels.resolve` takes it as a tree,
and virtme-ng boots it as one (its modules linked from their paths, as for the full tree).

The cache is bounded: at most ``limit`` builds (``KERNEL_LAB_BUILD_CACHE``, 32 by default);
each use marks a build as recent (the mtime of its ``build.json``), and the least recently used
go first.  A build is written under a temporary name and renamed into place, so a reader never
sees half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time

from ..core.cache import cache_dir
from ..core import env

LIMIT = 32
BOOT_FILES = (".config", "arch/x86/boot/bzImage", "System.map", "modules.order",
              "modules.builtin", "modules.builtin.modinfo")
MARK = "build.json"


def fragment_digest(fragment: str) -> str:
    return hashlib.sha256(fragment.encode()).hexdigest()[:12]


def limit_from_env() -> int:
    raw = env.get("KERNEL_LAB_BUILD_CACHE") if env.is_set("KERNEL_LAB_BUILD_CACHE") else ""
    try:
        return max(1, int(raw)) if raw else LIMIT
    except ValueError:
        return LIMIT


class BuildCache:
    """The built kernels of one fragment, by commit."""

    def __init__(self, fragment: str, root: str | None = None, limit: int | None = None):
        self.fragment = fragment_digest(fragment)
        self.root = root or cache_dir("builds")
        self.limit = limit or limit_from_env()

    def path(self, commit: str) -> str:
        if not (len(commit) == 40 and all(c in "0123456789abcdef" for c in commit)):
            raise ValueError(f"a build is cached by a full commit hash, not {commit!r}")
        return os.path.join(self.root, f"{commit}-{self.fragment}")

    def lookup(self, commit: str) -> str | None:
        """The cached tree of ``commit``, marked as just used; None when it was never built."""
        folder = self.path(commit)
        mark = os.path.join(folder, MARK)
        if not os.path.isfile(mark):
            return None
        os.utime(mark)
        return folder

    def store(self, tree: str, commit: str, build_s: float | None = None) -> str:
        """Keep what booting the built ``tree`` needs, as the build of ``commit``; then drop
        the least recently used builds beyond the limit.  Returns the cached tree."""
        folder = self.path(commit)
        if os.path.isfile(os.path.join(folder, MARK)):
            return self.lookup(commit) or folder
        os.makedirs(self.root, exist_ok=True)
        tmp = f"{folder}.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            names = [n for n in BOOT_FILES if os.path.isfile(os.path.join(tree, n))]
            names += _modules(tree)
            size = 0
            for name in names:
                dst = os.path.join(tmp, name)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copy2(os.path.join(tree, name), dst)
                size += os.path.getsize(dst)
            with open(os.path.join(tmp, MARK), "w") as f:
                json.dump({"commit": commit, "fragment": self.fragment, "from": os.path.abspath(tree),
                           "files": len(names), "bytes": size, "build_s": build_s,
                           "stored": time.strftime("%Y-%m-%dT%H:%M:%S")}, f, indent=1)
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.evict()
        return folder

    def entries(self) -> list[tuple[float, str]]:
        """(last use, folder) of every complete build, least recently used first."""
        out = []
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        for name in names:
            mark = os.path.join(self.root, name, MARK)
            if ".tmp" not in name and os.path.isfile(mark):
                out.append((os.path.getmtime(mark), os.path.join(self.root, name)))
        return sorted(out)

    def evict(self) -> list[str]:
        """Remove the least recently used builds beyond the limit; returns what went."""
        entries = self.entries()
        gone = [folder for _, folder in entries[:max(0, len(entries) - self.limit)]]
        for folder in gone:
            shutil.rmtree(folder, ignore_errors=True)
        return gone


def _modules(tree: str) -> list[str]:
    """The ``.ko`` files ``modules.order`` names (from v6.2 it lists ``.o``), relative."""
    try:
        with open(os.path.join(tree, "modules.order")) as f:
            lines = [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        name = line[:-2] + ".ko" if line.endswith(".o") else line
        if name.startswith("kernel/") and not os.path.isfile(os.path.join(tree, name)):
            name = name[len("kernel/"):]
        if os.path.isfile(os.path.join(tree, name)):
            out.append(name)
    return out
