"""The counters behind a failure, and the state behind a figure, read from the run's namespaces.

:func:`counters` reads, per namespace of the run (scratch ones aside), every counter a kernel
developer would diff by hand after a red test:

- ``snmp``: the SNMP and netstat MIBs (``/proc/net/snmp``, ``netstat``, ``snmp6``: what
  ``nstat`` shows), read inside the namespace;
- ``links``: every link's statistics (rtnetlink ``IFLA_STATS64``);
- ``tc``: every qdisc's and class's basic and queue statistics (``tc -s``: bytes, packets,
  drops, overlimits, requeues, backlog);
- ``ethtool``: the driver statistics of each NIC (``ethtool -S``; a veth's, bridge's or
  tunnel's per-queue counters are left to the link statistics);

and, host-wide, ``softnet``: ``/proc/net/softnet_stat`` summed over CPUs (processed, dropped,
time squeeze).  :func:`diff` keeps what moved between two readings, and :func:`rows` flattens
it, largest move first: the report's counter diff.

:func:`state` is what every record keeps of its lab, compactly, as flent keeps with its runs:
each link's MTU and offloads (GSO/GRO/TSO, through the ethtool ioctl), each namespace's TCP
sysctls, and the qdiscs' and
classes' statistics after the test.
"""

from __future__ import annotations

import os
import subprocess

from pyroute2 import IPRoute

from ..core import netns
from ..core import env
from .snapshot import _h, _parent, run_namespaces
from .snmp import parse_snmp

SNMP_FILES = ("snmp", "netstat", "snmp6")
TCP_SYSCTLS = ("net.ipv4.tcp_congestion_control", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
               "net.core.default_qdisc", "net.ipv4.tcp_ecn", "net.ipv4.tcp_mtu_probing",
               "net.core.rmem_max", "net.core.wmem_max")
LINK_KEYS = ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_errors", "tx_errors",
             "rx_dropped", "tx_dropped", "multicast", "collisions", "rx_length_errors",
             "rx_over_errors", "rx_crc_errors", "rx_frame_errors", "rx_fifo_errors",
             "rx_missed_errors", "tx_aborted_errors", "tx_carrier_errors", "tx_fifo_errors",
             "rx_nohandler")


def _snmp(name: str) -> dict[str, int]:
    out: dict[str, int] = {}

    def read():
        for f in SNMP_FILES:
            try:
                with open(f"/proc/thread-self/net/{f}") as fh:
                    out.update(parse_snmp(fh.read()))
            except OSError:
                pass

    netns.run_in(name, read)
    return out


def _tc_stats(ipr, names: dict[int, str]) -> dict[str, dict[str, int]]:
    out = {}
    qdiscs = list(ipr.get_qdiscs())
    # a class dump is per device (a dump of index 0 gives none)
    classes = [c for index in sorted({q["index"] for q in qdiscs})
               for c in ipr.get_classes(index=index)]
    for kind_of, msgs in (("qdisc", qdiscs), ("class", classes)):
        for m in msgs:
            kind = m.get_attr("TCA_KIND")
            if kind in (None, "noqueue"):
                continue
            stats = {}
            s2 = m.get_attr("TCA_STATS2")
            basic = s2.get_attr("TCA_STATS_BASIC") if s2 is not None else None
            queue = s2.get_attr("TCA_STATS_QUEUE") if s2 is not None else None
            if basic:
                stats.update(bytes=basic["bytes"], packets=basic["packets"])
            if queue:
                stats.update(drops=queue["drops"], overlimits=queue["overlimits"],
                             requeues=queue["requeues"], backlog=queue["backlog"],
                             qlen=queue["qlen"])
            if not stats:
                s = m.get_attr("TCA_STATS")
                if s:
                    stats = {k: s[k] for k in ("bytes", "packets", "drops", "overlimits",
                                               "backlog", "qlen") if k in s}
            dev = names.get(m["index"], str(m["index"]))
            out[f"{dev} {kind_of} {kind} {_h(m['handle'])} parent {_parent(m['parent'])}"] = stats
    return out


def _ethtool(name: str, devs: list[str], option: str) -> dict[str, str]:
    """``ethtool OPTION DEV`` for each link of namespace ``name``, in one process (an emulated
    guest pays a tenth of a second per process started): {dev: its output}."""
    if not devs:
        return {}
    script = 'for d in "$@"; do echo "@@@ $d"; ethtool ' + option + ' "$d" 2>/dev/null; done'
    try:
        r = subprocess.run(["sh", "-c", script, "sh", *devs], capture_output=True, text=True,
                           timeout=20, preexec_fn=lambda: netns.enter(name))
    except (OSError, subprocess.SubprocessError):
        return {}
    out, dev = {}, None
    for line in r.stdout.splitlines(keepends=True):
        if line.startswith("@@@ "):
            dev = line[4:].strip()
            out[dev] = ""
        elif dev is not None:
            out[dev] += line
    return out


def parse_ethtool_stats(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines()[1:]:
        key, _, value = line.strip().partition(":")
        if value.strip().lstrip("-").isdigit():
            out[key.strip()] = int(value)
    return out


SIOCETHTOOL = 0x8946
#: the legacy ethtool get commands of the offloads a record keeps (struct ethtool_value)
OFFLOAD_CMDS = {"tso": 0x1E, "gso": 0x23, "gro": 0x2B}


def offloads(devs: list[str]) -> dict[str, dict[str, bool]]:
    """GSO, GRO and TSO of each link, asked of the kernel with the SIOCETHTOOL ioctl (what
    ``ethtool -k`` reports), in the calling thread's namespace: no process is started (an
    emulated guest pays a tenth of a second or more for each)."""
    import array
    import fcntl
    import socket
    import struct

    out: dict[str, dict[str, bool]] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for dev in devs:
            flags = {}
            for name, cmd in OFFLOAD_CMDS.items():
                buf = array.array("B", struct.pack("II", cmd, 0))
                ifreq = struct.pack("16sP", dev.encode()[:15], buf.buffer_info()[0])
                try:
                    fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
                except OSError:
                    continue
                flags[name] = bool(struct.unpack("II", buf.tobytes())[1])
            out[dev] = flags
    return out


def _links(ipr) -> tuple[dict[int, str], dict[str, dict]]:
    names, links = {}, {}
    for msg in ipr.get_links():
        dev = msg.get_attr("IFLA_IFNAME")
        names[msg["index"]] = dev
        st = msg.get_attr("IFLA_STATS64") or {}
        info = msg.get_attr("IFLA_LINKINFO")
        links[dev] = {"kind": info.get_attr("IFLA_INFO_KIND") if info else None,
                      "mtu": msg.get_attr("IFLA_MTU"),
                      "stats": {k: st[k] for k in LINK_KEYS if k in st}}
    return names, links


def softnet() -> dict[str, int]:
    """/proc/net/softnet_stat summed over CPUs: processed, dropped, time_squeeze."""
    total = {"processed": 0, "dropped": 0, "time_squeeze": 0}
    try:
        with open("/proc/net/softnet_stat") as f:
            for line in f:
                cols = [int(c, 16) for c in line.split()]
                if len(cols) >= 3:
                    total["processed"] += cols[0]
                    total["dropped"] += cols[1]
                    total["time_squeeze"] += cols[2]
    except OSError:
        pass
    return total


def counters(run, with_ethtool: bool = True) -> dict:
    """Every counter of every namespace of ``run`` (see the module's docstring)."""
    spaces = {}
    for name in run_namespaces(run):
        with IPRoute(use_socket=netns.netlink_socket(name)) as ipr:
            names, links = _links(ipr)
            tc = _tc_stats(ipr, names)
        entry = {"snmp": _snmp(name), "links": {d: v["stats"] for d, v in links.items()},
                 "tc": tc}
        # a driver's own statistics: real and paravirtual NICs (no link kind); a veth's,
        # bridge's or tunnel's are per-queue XDP counters the link statistics already sum
        hardware = [d for d, v in links.items() if d != "lo" and not v["kind"]]
        if with_ethtool and hardware:
            texts = _ethtool(name, hardware, "-S")
            entry["ethtool"] = {d: s for d, t in texts.items()
                                for s in [parse_ethtool_stats(t)] if s}
        spaces[name[len(run.prefix):]] = entry
    return {"namespaces": spaces, "softnet": softnet()}


def diff(before: dict, after: dict) -> dict:
    """What moved between two readings of :func:`counters` (nested the same way; only
    non-zero numeric deltas, and what appeared since)."""
    out = {}
    for key, new in after.items():
        old = before.get(key) if isinstance(before, dict) else None
        if isinstance(new, dict):
            d = diff(old if isinstance(old, dict) else {}, new)
            if d:
                out[key] = d
        elif isinstance(new, (int, float)) and not isinstance(new, bool):
            delta = new - (old if isinstance(old, (int, float)) else 0)
            if delta:
                out[key] = delta
    return out


def rows(changes: dict, limit: int | None = None) -> list[tuple[str, int]]:
    """The diff flattened to ("namespace/group/object/counter", delta), largest move first."""
    flat: list[tuple[str, int]] = []

    def walk(prefix, d):
        for k, v in d.items():
            path = f"{prefix}/{k}" if prefix else str(k)
            if isinstance(v, dict):
                walk(path, v)
            else:
                flat.append((path, v))

    walk("", changes)
    flat.sort(key=lambda kv: (-abs(kv[1]), kv[0]))
    return flat[:limit] if limit else flat


def state(run) -> dict:
    """Each namespace's links (MTU, offloads), TCP sysctls, and qdisc/class statistics."""
    spaces = {}
    for name in run_namespaces(run):
        with IPRoute(use_socket=netns.netlink_socket(name)) as ipr:
            names, links = _links(ipr)
            tc = _tc_stats(ipr, names)
        sysctls = {}
        for key in TCP_SYSCTLS:
            try:
                sysctls[key] = " ".join(netns.sysctl(name, key).split())
            except OSError:
                continue
        features = netns.run_in(name, offloads, [d for d in links if d != "lo"])
        spaces[name[len(run.prefix):]] = {
            "links": {d: {"kind": v["kind"], "mtu": v["mtu"], **features.get(d, {})}
                      for d, v in links.items() if d != "lo"},
            "sysctls": sysctls, "tc": tc}
    return spaces


def virtualization() -> dict:
    """What this machine is, as ``systemd-detect-virt --vm`` / ``--container`` say ("none"
    when not; where the tool is missing, the cpuid hypervisor flag and container markers).
    In kernel-lab's own guest the container is "none": the guest sees its host's files (a
    container's /.dockerenv among them) but runs its own kernel and init."""
    if env.in_guest():
        vm = _detect("vm")
        return {"vm": vm or "unknown hypervisor", "container": "none",
                "source": "systemd-detect-virt --vm (kernel-lab's guest)"}
    vm, container = _detect("vm"), _detect("container")
    out = {"vm": vm, "container": container, "source": "systemd-detect-virt"} \
        if vm and container else {}
    if not out:
        try:
            with open("/proc/cpuinfo") as f:
                vm = "hypervisor" in f.read().split()
        except OSError:
            vm = False
        out = {"vm": "unknown hypervisor" if vm else "none",
               "container": "docker" if os.path.exists("/.dockerenv") else
               "podman" if os.path.exists("/run/.containerenv") else "none",
               "source": "cpuid hypervisor flag, /.dockerenv, /run/.containerenv"}
    return out


def _detect(kind: str) -> str | None:
    try:
        r = subprocess.run(["systemd-detect-virt", f"--{kind}"], capture_output=True, text=True,
                           timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() or "none"
