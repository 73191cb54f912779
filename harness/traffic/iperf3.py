"""iperf3 through the PyPI ``iperf3`` wrapper (libiperf), each end in its own child process.

    flow = Iperf3(run).start(pair.a, pair.b, seconds=6)
    ... read kernel counters meanwhile ...
    result = flow.wait()           # TrafficResult, goodput measured at the receiver
"""

from __future__ import annotations

import json
import subprocess
import sys

from ..core.errors import HarnessError
from .listening import wait_listening
from .result import TrafficResult

# -S is kept for children of a guest run (see harness.guest_bundle)
CHILD = [sys.executable, *(["-S"] if sys.flags.no_site else []), "-m", "harness.traffic._iperf3_child"]


def _check_libiperf():
    try:
        import iperf3  # noqa: F401

        iperf3.IPerf3(role="c")
    except (ImportError, OSError, AttributeError) as exc:
        raise HarnessError(
            f"libiperf not usable ({exc}): install the Debian package libiperf0 (make lab does)"
        ) from None


class Iperf3Flow:
    def __init__(self, run, server, client, protocol, seconds):
        self.run, self.server, self.client = run, server, client
        self.protocol, self.seconds = protocol, seconds

    def wait(self) -> TrafficResult:
        try:
            out, err = self.run.finish(self.client, self.seconds + 30, "iperf3 client")
        finally:
            try:
                self.run.finish(self.server, 10, "iperf3 server")
            except HarnessError:
                pass  # stopped: the client's result is what counts
        try:
            data = json.loads(out)
        except ValueError:
            raise HarnessError(f"iperf3 client gave no JSON: {err.strip()[-300:]}") from None
        if "error" in data:
            raise HarnessError(f"iperf3 failed: {data['error']}")
        return parse(data, self.protocol)

    def running(self) -> bool:
        return self.client.poll() is None

    def stop(self):
        for p in (self.client, self.server):
            self.run.stop(p)


def parse(data: dict, protocol: str) -> TrafficResult:
    end = data["end"]
    intervals = [i["sum"]["bits_per_second"] for i in data.get("intervals", [])
                 if not i["sum"].get("omitted")]
    version = data.get("start", {}).get("version", data.get("_version", ""))
    if protocol == "udp":
        if "sum_sent" in end and "sum_received" in end:
            sent, recv = end["sum_sent"], end["sum_received"]
            # the receiver's "packets" is the highest sequence number it saw and "lost_packets"
            # the gaps below it: a receiver that got nothing reports 0 lost, so count from
            # the sender's datagrams instead
            arrived = recv["packets"] - recv["lost_packets"]
            n = sent["packets"]
            return TrafficResult(
                "iperf3", "udp", recv["seconds"], recv["bytes"] * 8 / recv["seconds"]
                if recv["seconds"] else 0.0, sent_bytes=sent["bytes"], received_bytes=recv["bytes"],
                datagrams_sent=n, datagrams_lost=max(n - arrived, 0), intervals_bps=intervals,
                tool_version=version, raw=data)
        s = end["sum"]
        return TrafficResult(
            "iperf3", "udp", s["seconds"], s["bits_per_second"] * (1 - s["lost_percent"] / 100),
            sent_bytes=s["bytes"], received_bytes=int(s["bytes"] * (1 - s["lost_percent"] / 100)),
            datagrams_sent=s["packets"], datagrams_lost=s["lost_packets"],
            intervals_bps=intervals, tool_version=version, raw=data)
    recv, sent = end["sum_received"], end["sum_sent"]
    return TrafficResult(
        "iperf3", "tcp", recv["seconds"], recv["bits_per_second"], sent_bytes=sent["bytes"],
        received_bytes=recv["bytes"], retransmits=sent.get("retransmits"),
        intervals_bps=intervals, tool_version=version, raw=data)


class Iperf3:
    """Starts iperf3 servers and clients inside the run's namespaces."""

    name = "iperf3"
    paces = True  # UDP at ``bandwidth`` bit/s

    def __init__(self, run):
        _check_libiperf()
        self.run = run

    def _spawn(self, ns, role, opts, preexec_fn=None):
        argv = CHILD + [ns.name, role, json.dumps(opts)]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=preexec_fn)
        self.run.add_process(proc.pid, f"iperf3 {role} in {ns.name}")
        return proc

    def serve(self, dst, port: int = 5201):
        """Start a one-test server in ``dst``'s namespace and wait until it listens."""
        server = self._spawn(dst.ns, "server", {"port": port})
        try:
            wait_listening(dst.ns, port, server)
        except HarnessError:
            self.run.stop(server)
            raise
        return server

    def start(self, src, dst, seconds: float, port: int = 5201, protocol: str = "tcp",
              size: int | None = None, bandwidth: int | None = None, omit: int = 0,
              ipv6: bool = False, server=None, preexec_fn=None,
              streams: int | None = None) -> Iperf3Flow:
        """Start a client (and, unless ``server`` is given, its server).  ``size``: the bytes
        each send carries (a UDP datagram's payload); ``bandwidth``: the pace in bit/s;
        ``streams``: parallel flows to the same port (``-P``).
        ``preexec_fn`` runs in the client process before it starts (e.g. to join a cgroup)."""
        server = server or self.serve(dst, port)
        if protocol == "udp" and size is None:
            size = 1472  # the wrapper's default is 64 KiB datagrams; say what you mean
        opts = {"host": dst.ip6 if ipv6 else dst.ip4, "port": port, "seconds": seconds,
                "protocol": protocol, "omit": omit, "bandwidth": bandwidth, "blksize": size,
                "streams": streams}
        client = self._spawn(src.ns, "client", opts, preexec_fn)
        return Iperf3Flow(self.run, server, client, protocol, seconds)

    def measure(self, src, dst, seconds: float, tool_retries: int = 0, before_attempt=None,
                **kwargs) -> TrafficResult:
        """Run a flow to completion.  ``tool_retries``: run again when iperf3 itself fails (its
        control connection can time out on a deliberately lossy path); the attempts are kept
        in the result's raw data.  ``before_attempt`` runs before each attempt (a lab reading
        its counters: a delta must span the attempt whose result it is judged with)."""
        for attempt in range(tool_retries + 1):
            if before_attempt is not None:
                before_attempt()
            try:
                result = self.start(src, dst, seconds, **kwargs).wait()
                result.raw["_attempts"] = attempt + 1
                return result
            except HarnessError:
                if attempt == tool_retries:
                    raise

    @staticmethod
    def version() -> str:
        try:
            import iperf3

            return iperf3.IPerf3(role="c").iperf_version
        except Exception:  # noqa: BLE001
            return "unavailable"
