"""Named points where a crash test can stop the harness (tests/system/test_crash.py).

``KERNEL_LAB_PAUSE_AT=<name>`` makes the process create the file named by
``KERNEL_LAB_PAUSE_MARK`` and sleep when it reaches that point, so the test can SIGKILL it
exactly there.
Unset (always, outside those tests), a checkpoint costs one dictionary lookup.
"""

import os
import time

from . import env


def checkpoint(name: str) -> None:
    if env.is_set("KERNEL_LAB_PAUSE_AT") and env.get("KERNEL_LAB_PAUSE_AT") == name:
        with open(env.get("KERNEL_LAB_PAUSE_MARK"), "w") as f:
            f.write(f"{os.getpid()} {name}\n")
        time.sleep(300)
