"""Names that become paths: a run id, and a path built from data someone else wrote.

Run ids come from the command line (``--run-id``, ``merge --into``) and record fields come from
guests and other machines' shards; root writes where they point.  Both are checked here, once,
before any path is made from them."""

from __future__ import annotations

import os
import re

from .errors import HarnessError

#: one path segment of a run id or a name taken from a record
SEGMENT = re.compile(r"[A-Za-z0-9_+:@-][A-Za-z0-9_.+:@-]*")


def check_run_id(run_id: str, what: str = "--run-id") -> str:
    """``run_id`` if it is one or more plain segments joined by ``/`` (a cell's id is
    ``<run>/<lab>/<release>``); a one-line HarnessError for ``..``, an absolute path, an
    empty segment or anything but letters, digits and ``_ . + : @ -``."""
    parts = str(run_id).split("/")
    if not run_id or any(not SEGMENT.fullmatch(p) or ".." in p for p in parts):
        raise HarnessError(f"bad {what} {run_id!r}: a plain name (letters, digits, _ . + : @ -),"
                           " no '..', no absolute path")
    return run_id


def check_name(name: str, what: str) -> str:
    """A single path segment from data (a record's lab, say); HarnessError otherwise."""
    if not isinstance(name, str) or not SEGMENT.fullmatch(name) or ".." in name:
        raise HarnessError(f"bad {what} {name!r}: not a plain name")
    return name


def inside(base: str, *parts: str) -> str:
    """``os.path.join(base, *parts)``, refused (HarnessError) unless it stays inside ``base``
    once resolved (a symlink on the way counts where it points)."""
    path = os.path.join(base, *parts)
    real_base = os.path.realpath(base)
    real = os.path.realpath(path)
    if real != real_base and not real.startswith(real_base + os.sep):
        raise HarnessError(f"{path} resolves to {real}, outside {base}: refused")
    return path
