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


def wait_listening(ns, port: int, proc=None, proto: str = "tcp", timeout: float = 10.0) -> None:
    """Wait until a socket listens on ``port`` in ``ns`` (read from the kernel's socket table)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _listening(ns, port, proto):
            return
        if proc is not None and proc.poll() is not None:
            raise HarnessError(f"server for port {port} in {ns.name} exited early ({proc.returncode})")
        time.sleep(0.01)
    raise HarnessError(f"nothing listens on {proto} port {port} in {ns.name} after {timeout}s")
