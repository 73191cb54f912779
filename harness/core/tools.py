"""Programs the harness runs, found on PATH or named with the Debian package that has them."""

from __future__ import annotations

import shutil

from .errors import HarnessError


def require_tool(name: str, package: str) -> str:
    """The path of program ``name``; a one-line error naming ``package`` when it is missing."""
    path = shutil.which(name)
    if not path:
        raise HarnessError(f"{name} not found: install the Debian package {package} (make lab does)")
    return path
