"""netperf/netserver through subprocess, omni output parsed into a TrafficResult.

netserver runs in the receiver's namespace in the foreground (``-D``) and serially (``-f``), so
the PID we started is the only process to stop.

It takes the options iperf3 takes (``protocol="tcp"|"udp"``, ``size``: the bytes each send
carries, ``port``), so a lab calls either generator the same way.  It cannot pace: Debian's
netperf is built without ``--enable-intervals`` (no ``-w``/``-b``), so ``bandwidth`` is refused
and ``paces`` says so; a UDP_STREAM sends as fast as the sender can.
"""

from __future__ import annotations

import subprocess

from ..core.errors import HarnessError
from ..core.tools import require_tool
from .listening import wait_listening
from .result import TrafficResult

FIELDS = ["THROUGHPUT", "THROUGHPUT_UNITS", "ELAPSED_TIME", "LOCAL_BYTES_SENT",
          "REMOTE_BYTES_RECVD", "LOCAL_SEND_CALLS", "REMOTE_RECV_CALLS",
          "LOCAL_TRANSPORT_RETRANS", "TRANSPORT_MSS", "LOCAL_SEND_SIZE"]


def parse(line: str, test: str, version: str = "") -> TrafficResult:
    values = line.strip().split(",")
    if len(values) != len(FIELDS):
        raise HarnessError(f"unexpected netperf output: {line.strip()[:200]!r}")
    d = dict(zip(FIELDS, values))
    elapsed = float(d["ELAPSED_TIME"])
    received = int(float(d["REMOTE_BYTES_RECVD"]))
    udp = test.startswith("UDP")
    sent_calls, recv_calls = int(float(d["LOCAL_SEND_CALLS"])), int(float(d["REMOTE_RECV_CALLS"]))
    retrans = d["LOCAL_TRANSPORT_RETRANS"]
    return TrafficResult(
        "netperf", "udp" if udp else "tcp", elapsed, received * 8 / elapsed if elapsed else 0.0,
        sent_bytes=int(float(d["LOCAL_BYTES_SENT"])), received_bytes=received,
        retransmits=int(retrans) if retrans.lstrip("-").isdigit() and int(retrans) >= 0 else None,
        datagrams_sent=sent_calls if udp else None,
        datagrams_lost=max(sent_calls - recv_calls, 0) if udp else None,
        tool_version=version, raw=d)


class NetperfFlow:
    def __init__(self, run, server, client, test, seconds, version):
        self.run, self.server, self.client = run, server, client
        self.test, self.seconds, self.version = test, seconds, version

    def wait(self) -> TrafficResult:
        try:
            out, err = self.run.finish(self.client, self.seconds + 30, "netperf")
        finally:
            self.run.stop(self.server)
        if self.client.returncode != 0:
            raise HarnessError(f"netperf failed ({self.client.returncode}): {(err or out).strip()[-300:]}")
        return parse(out.strip().splitlines()[-1], self.test, self.version)

    def running(self) -> bool:
        return self.client.poll() is None

    def stop(self):
        self.run.stop(self.client)
        self.run.stop(self.server)


class Netperf:
    name = "netperf"
    paces = False  # no --enable-intervals in Debian's build: bandwidth is refused

    def __init__(self, run):
        self.netperf = require_tool("netperf", "netperf (non-free)")
        self.netserver = require_tool("netserver", "netperf (non-free)")
        self.run = run

    def start(self, src, dst, seconds: float, port: int = 12865, protocol: str = "tcp",
              size: int | None = None, bandwidth: int | None = None, data_port: int | None = None,
              ipv6: bool = False) -> NetperfFlow:
        if protocol not in ("tcp", "udp"):
            raise HarnessError(f"netperf: protocol {protocol!r}: tcp or udp")
        if bandwidth:
            raise HarnessError("netperf cannot pace (Debian's build has no --enable-intervals): "
                               "pass bandwidth only to a generator whose paces is True")
        test = "UDP_STREAM" if protocol == "udp" else "TCP_STREAM"
        fam = "-6" if ipv6 else "-4"
        server = dst.ns.popen([self.netserver, "-D", "-f", "-p", str(port), fam],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_listening(dst.ns, port, server)
        except HarnessError:
            self.run.stop(server)
            raise
        host = dst.ip6 if ipv6 else dst.ip4
        argv = [self.netperf, fam, "-H", host, "-p", str(port), "-l", str(int(seconds)),
                "-t", test, "-P", "0", "--", "-o", ",".join(FIELDS)]
        if size:
            argv += ["-m", str(size)]
        if data_port:
            argv += ["-P", f",{data_port}"]
        client = src.ns.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return NetperfFlow(self.run, server, client, test, seconds, self.version())

    def measure(self, src, dst, seconds: float, **kwargs) -> TrafficResult:
        return self.start(src, dst, seconds, **kwargs).wait()

    def version(self) -> str:
        res = subprocess.run([self.netperf, "-V"], capture_output=True, text=True)
        return res.stdout.strip().split()[-1] if res.returncode == 0 and res.stdout.strip() else "unknown"
