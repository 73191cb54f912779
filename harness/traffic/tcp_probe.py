"""Does TCP carry bulk data across a path?  A bounded check with plain sockets.

iperf3 is the wrong tool for a path that may black-hole full-sized segments: its own control
connection stalls too and the run hangs until a timeout.  ``tcp_transfer`` opens one connection
(sockets created inside the namespaces from threads: no process to start), sends ``nbytes`` and
gives up after ``timeout`` seconds without progress.  It reports what the receiver really got.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

from ..core import netns
from ..core.units import check_address


@dataclass
class Transfer:
    wanted: int
    received: int
    seconds: float
    connected: bool
    error: str = ""

    @property
    def complete(self) -> bool:
        return self.received == self.wanted

    def as_record(self) -> dict:
        return {"wanted": self.wanted, "received": self.received, "seconds": self.seconds,
                "connected": self.connected, "error": self.error}


def tcp_transfer(src, dst, nbytes: int = 4 << 20, timeout: float = 5.0, port: int = 5299) -> Transfer:
    """Send ``nbytes`` from endpoint ``src`` to endpoint ``dst`` (``.ns``, ``.ip4``) over TCP."""
    check_address(dst.ip4)
    server = netns.run_in(dst.ns.name, socket.create_server, (dst.ip4, port))
    server.settimeout(timeout)
    got = {"n": 0}

    def receive():
        try:
            conn, _ = server.accept()
        except OSError:
            return
        conn.settimeout(timeout)
        with conn:
            while got["n"] < nbytes:
                try:
                    data = conn.recv(1 << 16)
                except OSError:
                    return
                if not data:
                    return
                got["n"] += len(data)

    receiver = threading.Thread(target=receive, name="tcp-probe-receiver")
    receiver.start()
    client = netns.run_in(src.ns.name, socket.socket, socket.AF_INET, socket.SOCK_STREAM)
    client.settimeout(timeout)
    connected, error = False, ""
    t0 = time.monotonic()
    try:
        client.connect((dst.ip4, port))
        connected = True
        client.sendall(bytes(nbytes))
        client.shutdown(socket.SHUT_WR)
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        receiver.join(timeout + 1)
        seconds = time.monotonic() - t0
        client.close()
        server.close()
        receiver.join()
    return Transfer(nbytes, got["n"], round(seconds, 3), connected, error)
