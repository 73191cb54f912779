"""Waiting for a server: read the kernel's socket table inside the namespace."""

from __future__ import annotations

import time

from ..core.errors import HarnessError


def _listening(ns, port: int, proto: str) -> bool:
    want = f":{port:04X} "
    listen_state = "0A" if proto == "tcp" else "07"
    for fn in (f"/proc/thread-self/net/{proto}", f"/proc/thread-self/net/{proto}6"):
        for line in ns.read(fn).splitlines()[1:]:
            cols = line.split()
            if want in cols[1] + " " and cols[3] == listen_state:
                return True
    return False


#: a server we started and that is still running gets this long to listen: a Python child
#: importing the iperf3 wrapper took over 10 s in a TCG guest sharing 2 CPUs with another
#: (bench/cells_per_hour.py, 2 jobs); the wait ends as soon as it listens
LISTEN_TIMEOUT = 60.0


def wait_listening(ns, port: int, proc=None, proto: str = "tcp",
                   timeout: float = LISTEN_TIMEOUT) -> None:
    """Wait until a socket listens on ``port`` in ``ns`` (read from the kernel's socket table);
    a server that exits meanwhile ends the wait at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _listening(ns, port, proto):
            return
        if proc is not None and proc.poll() is not None:
            raise HarnessError(f"server for port {port} in {ns.name} exited early ({proc.returncode})")
        time.sleep(0.01)
    raise HarnessError(f"nothing listens on {proto} port {port} in {ns.name} after {timeout}s")
