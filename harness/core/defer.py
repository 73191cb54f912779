"""A LIFO undo stack, after the kernel selftests' defer.sh.

Each setup step pushes its own undo right after it succeeds; ``unwind()`` runs the undos newest
first.  An undo that finds its object already gone (ENODEV, ENOENT, ESRCH) is fine; any other
failure is collected and reported after the whole stack has been unwound, so one stuck object
never keeps the others alive.
"""

from __future__ import annotations

import errno
import logging

log = logging.getLogger(__name__)

ALREADY_GONE = {errno.ENODEV, errno.ENOENT, errno.ESRCH}


def is_already_gone(exc: BaseException) -> bool:
    code = getattr(exc, "code", None) or getattr(exc, "errno", None)
    return code in ALREADY_GONE


class Defer:
    def __init__(self):
        self._stack: list[tuple[str, object, tuple, dict]] = []

    def push(self, what: str, fn, *args, **kwargs) -> None:
        """Register ``fn(*args, **kwargs)`` as the undo of the step just done."""
        self._stack.append((what, fn, args, kwargs))

    def __len__(self):
        return len(self._stack)

    def unwind_one(self) -> list[str]:
        """Run the newest undo only."""
        top, self._stack = self._stack[-1:], self._stack[:-1]
        rest, self._stack = self._stack, top
        try:
            return self.unwind()
        finally:
            self._stack = rest

    def unwind(self) -> list[str]:
        """Run every undo, newest first.  Returns the failures (empty when all went well)."""
        failures = []
        while self._stack:
            what, fn, args, kwargs = self._stack.pop()
            try:
                fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - keep unwinding whatever happens
                if is_already_gone(exc):
                    continue
                log.warning("undo %s failed: %r", what, exc)
                failures.append(f"{what}: {exc!r}")
        return failures

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.unwind()
        return False
