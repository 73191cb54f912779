"""Waiting for a server: read the kernel's socket table inside the namespace."""

from __future__ import annotations

import time

from ..core.errors import HarnessError


def _in_state(ns, port: int, proto: str, state: str) -> bool:
    """Whether a ``proto`` socket of ``ns`` on local ``port`` is in ``state`` (the table's
    ``st`` column: 0A a TCP listener, 07 an unconnected UDP socket, 01 a connected one)."""
    want = f":{port:04X} "
    for fn in (f"/proc/thread-self/net/{proto}", f"/proc/thread-self/net/{proto}6"):
        for line in ns.read(fn).splitlines()[1:]:
            cols = line.split()
            if want in cols[1] + " " and cols[3] == state:
                return True
    return False


def _listening(ns, port: int, proto: str) -> bool:
    return _in_state(ns, port, proto, "0A" if proto == "tcp" else "07")


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


def wait_udp_streams(ns, ports, running: dict, timeout: float = LISTEN_TIMEOUT) -> dict:
    """Wait until an iperf3 UDP server of ``ns`` has taken its client's stream on each of
    ``ports``: {port: seconds it took}.  An iperf3 UDP stream begins with a 4-byte "connect"
    datagram from the client; the server connects its socket to the sender (a connected UDP
    socket on the port: what this reads) and answers.  ``running``: {port: a callable telling
    whether that client still runs}; one that exits meanwhile ends the wait."""
    start = time.monotonic()
    took: dict = {}
    while len(took) < len(ports):
        for port in ports:
            if port not in took and _in_state(ns, port, "udp", "01"):
                took[port] = time.monotonic() - start
        waiting = [p for p in ports if p not in took]
        ended = [p for p in waiting if not running[p]()]
        if ended:
            raise HarnessError(f"UDP client(s) to port(s) {ended} in {ns.name} exited before "
                               "their server took the stream")
        if waiting and time.monotonic() - start > timeout:
            raise HarnessError(f"no UDP stream on port(s) {waiting} in {ns.name} after "
                               f"{timeout}s")
        if waiting:
            time.sleep(0.01)
    return took
