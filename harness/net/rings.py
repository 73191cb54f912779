"""Packet captures of every lab link, in bounded rings, kept only when a test fails.

For each link of each namespace of the run (loopback aside) one ``tcpdump`` runs inside the
namespace while the test's call runs: headers only (``-s 192``: outer and inner headers of a
tunnel), in a ring of ``FILES`` files of ``MEGABYTES`` MB (``-C``/``-W``: the last few MB of
each link, never more), without promiscuous mode (``-p``: the device is not touched).  The
captures are plain pcap files: Wireshark and ``tcpdump -r`` open them as they are.

When the test fails they are kept beside its records (``<lab>/captures/<test>/``) with a
summary (:func:`summary`: packets per protocol, IP fragments); when it passes they are deleted.
A link created during the call itself is not captured (it did not exist when the rings
started).  tcpdump's own packet sockets are known (:func:`own_socket_inodes`) so that a lab
counting drops at the AF_PACKET sockets of a namespace leaves them out.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import time

from ..core import netns
from .pcap import packets, wait_listening
from .snapshot import run_namespaces

SNAPLEN = 192
MEGABYTES = 1
FILES = 4
START_TIMEOUT = 10.0
PR_SET_PDEATHSIG = 1

_own_inodes: set[int] = set()


def own_socket_inodes() -> set[int]:
    """The socket inodes of the captures running now (their AF_PACKET sockets)."""
    return set(_own_inodes)


def _socket_inodes(pid: int) -> set[int]:
    out = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                out.add(int(target[8:-1]))
    except OSError:
        pass
    return out


class Ring:
    """One tcpdump on one link, into ``folder/<namespace>-<link>.pcap[0-3]``."""

    def __init__(self, namespace: str, short: str, link: str, folder: str):
        self.namespace, self.short, self.link = namespace, short, link
        self.base = os.path.join(folder, f"{short}-{link}.pcap")
        self.proc: subprocess.Popen | None = None
        self.inodes: set[int] = set()
        self.stats: dict[str, int] = {}
        self.error = ""

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["tcpdump", "-i", self.link, "-n", "-p", "-s", str(SNAPLEN), "-C", str(MEGABYTES),
             "-W", str(FILES), "-Z", "root", "-w", self.base],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=self._child)

    def _child(self) -> None:
        """In the child, before exec: die with the harness (a run killed hard leaves no
        tcpdump behind), then enter the namespace."""
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        netns.enter(self.namespace)

    def wait_listening(self, deadline: float) -> None:
        """Until tcpdump says it listens: packets after this are in its ring."""
        assert self.proc is not None
        self.error = wait_listening(self.proc, deadline)
        if not self.error:
            self.inodes = _socket_inodes(self.proc.pid)
            _own_inodes.update(self.inodes)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # our own child, by PID
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        _own_inodes.difference_update(self.inodes)
        for line in (err or b"").decode(errors="replace").splitlines():
            words = line.split()
            if len(words) >= 3 and words[0].isdigit() and words[1] == "packets":
                self.stats[" ".join(words[2:])] = int(words[0])

    def files(self) -> list[str]:
        folder = os.path.dirname(self.base)
        name = os.path.basename(self.base)
        return sorted(os.path.join(folder, f) for f in os.listdir(folder)
                      if f.startswith(name)) if os.path.isdir(folder) else []


class Captures:
    """The rings of every link of the run's namespaces, for one test's call."""

    def __init__(self, run, folder: str, skip=("probe",)):
        self.folder = folder
        self.rings: list[Ring] = []
        self.problem = ""
        if not shutil.which("tcpdump"):
            self.problem = "no tcpdump on this machine: no capture"
            return
        from pyroute2 import IPRoute

        for name in run_namespaces(run, skip):
            short = name[len(run.prefix):]
            with IPRoute(use_socket=netns.netlink_socket(name)) as ipr:
                links = [m.get_attr("IFLA_IFNAME") for m in ipr.get_links()]
            self.rings += [Ring(name, short, link, folder) for link in links if link != "lo"]

    def start(self) -> None:
        if not self.rings:
            return
        os.makedirs(self.folder, exist_ok=True)
        for ring in self.rings:
            ring.start()
        deadline = time.monotonic() + START_TIMEOUT
        for ring in self.rings:
            ring.wait_listening(deadline)
        failed = [f"{r.short}/{r.link}: {r.error}" for r in self.rings if r.error]
        if failed:
            self.problem = "capture not started on " + "; ".join(failed)

    def stop(self) -> None:
        for ring in self.rings:
            ring.stop()

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        try:
            os.rmdir(os.path.dirname(self.folder))  # the lab's captures/, once empty
        except OSError:
            pass

    def kept(self, relative_to: str, summarize: bool = True) -> list[dict]:
        """What each ring holds: its files (relative to ``relative_to``), tcpdump's counts,
        and (``summarize``) a summary of the packets."""
        out = []
        for ring in self.rings:
            files = ring.files()
            out.append({"namespace": ring.short, "link": ring.link,
                        "files": [os.path.relpath(f, relative_to) for f in files],
                        "tcpdump": ring.stats, **({"summary": summary(files)} if summarize else {}),
                        **({"problem": ring.error} if ring.error else {})})
        return out


# -- reading pcap files ------------------------------------------------------------------------
ETH_P = {0x0800: "IPv4", 0x86DD: "IPv6", 0x0806: "ARP"}
IP_PROTO = {1: "ICMP", 6: "TCP", 17: "UDP", 47: "GRE", 58: "ICMPv6", 132: "SCTP"}


def summary(files: list[str]) -> dict:
    """Packets per protocol (an IPv4 packet by its protocol, UDP to 4789 as VXLAN), IPv4
    fragments (more-fragments flag or an offset; inside VXLAN and GRE too), and the capture's
    time span."""
    counts: dict[str, int] = {}
    total = fragments = 0
    first = last = None
    for path in files:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        for t, pkt, _, linktype in packets(data):
            first = t if first is None else min(first, t)
            last = t if last is None else max(last, t)
            total += 1
            proto, frag = _classify(pkt, linktype)
            counts[proto] = counts.get(proto, 0) + 1
            fragments += frag
    return {"packets": total, "protocols": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
            "ipv4_fragments": fragments,
            "seconds": round(last - first, 3) if first is not None else 0.0}


def _classify(pkt: bytes, linktype: int) -> tuple[str, int]:
    """(protocol, IPv4 fragments) of one frame: the outer packet's, and for VXLAN and GRE
    the inner packet's fragment too (a tunnel's inner fragments are what an MTU lab shows)."""
    if linktype != 1 or len(pkt) < 14:  # not ethernet
        return "other", 0
    ethertype = struct.unpack(">H", pkt[12:14])[0]
    ip = pkt[14:]
    if ethertype == 0x8100 and len(pkt) >= 18:
        ethertype, ip = struct.unpack(">H", pkt[16:18])[0], pkt[18:]
    return _network(ethertype, ip)


def _network(ethertype: int, ip: bytes, depth: int = 0) -> tuple[str, int]:
    if ethertype == 0x0800 and len(ip) >= 20:
        flags_off = struct.unpack(">H", ip[6:8])[0]
        frag = 1 if flags_off & 0x2000 or flags_off & 0x1FFF else 0
        proto = IP_PROTO.get(ip[9], f"IP proto {ip[9]}")
        ihl = (ip[0] & 0x0F) * 4
        inner = None
        if proto == "UDP" and not flags_off & 0x1FFF and len(ip) >= ihl + 4 and \
                struct.unpack(">H", ip[ihl + 2:ihl + 4])[0] == 4789:
            proto = "VXLAN"
            eth = ip[ihl + 16:]  # UDP 8 + VXLAN 8, then the inner frame
            if len(eth) >= 14:
                inner = (struct.unpack(">H", eth[12:14])[0], eth[14:])
        elif proto == "GRE" and not flags_off & 0x1FFF and len(ip) >= ihl + 4:
            flags, ptype = struct.unpack(">HH", ip[ihl:ihl + 4])
            skip = 4 + 4 * sum(1 for bit in (0x8000, 0x2000, 0x1000) if flags & bit)
            body = ip[ihl + skip:]
            if ptype == 0x6558 and len(body) >= 14:  # gretap: an ethernet frame inside
                inner = (struct.unpack(">H", body[12:14])[0], body[14:])
            else:
                inner = (ptype, body)
        if inner and depth == 0:
            _, inner_frag = _network(*inner, depth=1)
            frag += inner_frag
        return proto, frag
    if ethertype == 0x86DD and len(ip) >= 40:
        return (f"IPv6 {IP_PROTO[ip[6]]}" if ip[6] in IP_PROTO and ip[6] != 58
                else IP_PROTO.get(ip[6], "IPv6")), 0
    return ETH_P.get(ethertype, f"ethertype 0x{ethertype:04x}"), 0
