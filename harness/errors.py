"""Errors the harness raises on purpose.

HarnessError is a problem the user can fix (bad rate, missing tool, not root): the CLI and the
pytest plugin print it as one line, never as a traceback.  KernelLacks says that the kernel under
test does not have a feature; labs turn it into a skip whose reason names the CONFIG option.
"""


class HarnessError(Exception):
    """A user-facing error: its message is one line that names the problem."""


class KernelLacks(HarnessError):
    """The kernel under test lacks a feature a lab needs."""

    def __init__(self, feature: str, config: str, detail: str = ""):
        self.feature = feature
        self.config = config
        msg = f"kernel lacks {config} ({feature})"
        if detail:
            msg += f": {detail}"
        super().__init__(msg)
