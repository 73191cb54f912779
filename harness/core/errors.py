"""Errors the harness raises on purpose.

HarnessError is a problem the user can fix (bad rate, missing tool, not root) or a harness
failure: the CLI and the pytest plugin print it as one line, never as a traceback, and a test
that meets one fails (it is never a skip).  The one error that becomes a skip, KernelLacks,
lives beside the capability check that alone may raise it (``harness.kernel.capabilities``).
"""


class HarnessError(Exception):
    """A user-facing error: its message is one line that names the problem."""
