"""Files made once and kept: the PVH vmlinux of a kernel image, the guest pre-init, the guest's
module bundle.  Each is written under a temporary name and renamed into place, so a reader never
sees half a file and two runs making the same one at once both end with a whole one."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from typing import Callable, Iterator


def cache_dir(kind: str) -> str:
    """Where made-once files live: ``$XDG_CACHE_HOME/kernel-lab/<kind>`` (~/.cache by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "kernel-lab", kind)


def file_digest(path: str) -> str:
    """The first 16 hex digits of the SHA-256 of a file: the key of what is made from it."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def made_once(path: str, write: Callable[[str], None]) -> str:
    """``path``, made first by ``write(tmp)`` if it does not exist yet."""
    if os.path.exists(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


@contextlib.contextmanager
def locked(path: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed): one process at a time makes what
    several cells running at once would otherwise fetch or unpack together."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
