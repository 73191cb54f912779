"""Does the kernel know a feature?  Create it in a scratch namespace and see.

The kernel answers ENOENT or EOPNOTSUPP for a kind it does not know (a link kind, qdisc,
classifier or action); any other answer means it knows the kind (EINVAL for our minimal
arguments is still "present").  A generic netlink family that does not exist answers ENOENT.
Anything else that goes wrong is a harness error and raised as one: a probe never turns a
failure of its own into "the kernel lacks this".
"""

from __future__ import annotations

import errno
import os
import socket
import struct

from pyroute2 import IPRoute
from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.generic import GenericNetlinkSocket
from pyroute2.netlink.rtnl import RTM_NEWQDISC, RTM_NEWTFILTER
from pyroute2.netlink.rtnl.tcmsg import tcmsg

from ..core import netns
from ..core.errors import HarnessError
from .features import Feature

ABSENT_CODES = {errno.ENOENT, errno.EOPNOTSUPP}

#: kinds whose probe needs no scratch namespace (they create nothing)
NAMESPACE_FREE_PROBES = ("chardev", "genl", "cgroup", "sock_diag")


def probe(feature: Feature, namespace: str | None) -> bool:
    """True when the kernel has ``feature``; raises HarnessError when the probe itself fails."""
    try:
        if feature.kind == "chardev":
            return os.path.exists(feature.probe_arg)
        if feature.kind == "genl":
            return probe_genl(feature.probe_arg)
        if feature.kind == "cgroup":
            return probe_cgroup_v1(feature.probe_arg)
        if feature.kind == "sock_diag":
            family, protocol = SOCK_DIAG_TARGETS[feature.probe_arg]
            return sock_diag_error(family, protocol) not in ABSENT_CODES
        if namespace is None:
            raise HarnessError(f"probing {feature.name} needs a scratch namespace")
        with IPRoute(use_socket=netns.netlink_socket(namespace)) as ns:
            return {"link": _probe_link, "qdisc": _probe_qdisc, "filter": _probe_filter,
                    "action": _probe_action}[feature.kind](ns, feature.probe_arg)
    except HarnessError:
        raise
    except Exception as exc:  # noqa: BLE001 - a probe that breaks is an error, not "absent"
        raise HarnessError(f"probing {feature.name} ({feature.config}) failed: {exc!r}") from exc


def probe_genl(family: str) -> bool:
    sock = GenericNetlinkSocket()
    try:
        sock.bind(family, None)
        return True
    except NetlinkError as exc:
        if exc.code == errno.ENOENT:  # no such family
            return False
        raise
    finally:
        sock.close()


NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY = 4, 20
NLMSG_ERROR, NLMSG_DONE = 2, 3
#: the sock_diag dumps the harness reads: probe_arg -> (address family, protocol)
SOCK_DIAG_TARGETS = {"tcp": (socket.AF_INET, socket.IPPROTO_TCP),
                     "packet": (socket.AF_PACKET, 0)}


def sock_diag_error(family: int, protocol: int, sock: socket.socket | None = None) -> int:
    """The errno a sock_diag dump of (``family``, ``protocol``) ends with, 0 when it answers
    (matching no socket: the dump asks for no TCP state).  ENOENT: the kernel has no handler
    for it (CONFIG_INET_DIAG or CONFIG_INET_TCP_DIAG, or CONFIG_PACKET_DIAG, not set).

    Read from the raw answer because the error of a dump that started arrives in its
    NLMSG_DONE, and pyroute2 0.9.7's nlm_request drops it (seen: the dump of a protocol
    without a diag handler reads as an empty, successful dump).  ``sock``: a NETLINK_SOCK_DIAG
    socket (made inside a namespace); by default one in the caller's namespace."""
    if family == socket.AF_PACKET:  # packet_diag_req: show nothing, any inode
        body = struct.pack("=BBHII8x", family, protocol, 0, 0, 0)
    else:  # inet_diag_req_v2: no state selected, so no socket is dumped
        body = struct.pack("=BBBxI48x", family, protocol, 0, 0)
    own = sock is None
    sock = sock or socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
    timeout = sock.gettimeout()  # a caller's socket goes back as it came
    try:
        sock.settimeout(10)
        sock.send(struct.pack("=IHHII", 16 + len(body), SOCK_DIAG_BY_FAMILY,
                              NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + body)
        while True:
            data = sock.recv(65536)
            offset = 0
            while offset + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, offset)
                if kind in (NLMSG_ERROR, NLMSG_DONE):
                    code = struct.unpack_from("=i", data, offset + 16)[0] if length >= 20 else 0
                    return -code if code < 0 else 0
                offset += max(16, (length + 3) & ~3)
    finally:
        if own:
            sock.close()
        else:
            sock.settimeout(timeout)


def probe_cgroup_v1(controller: str, proc_cgroups: str = "/proc/cgroups") -> bool:
    """The controller is built in and enabled (``/proc/cgroups``)."""
    with open(proc_cgroups) as f:
        for line in f:
            cols = line.split()
            if cols and cols[0] == controller:
                return cols[-1] == "1"
    return False


def _scratch_veth(ns) -> int:
    found = ns.link_lookup(ifname="probe0")
    if not found:
        ns.link("add", ifname="probe0", kind="veth", peer="probe1")
        found = ns.link_lookup(ifname="probe0")
    return found[0]


def _expect(fn) -> bool:
    try:
        fn()
        return True
    except NetlinkError as exc:
        return exc.code not in ABSENT_CODES


def _probe_link(ns, kind: str) -> bool:
    kwargs = {"veth": {"peer": "probe-p1"}, "vxlan": {"vxlan_id": 1},
              "geneve": {"geneve_id": 1, "geneve_remote": "198.18.0.1"}}
    if kind in ("vlan", "macvlan"):
        kwargs[kind] = {"link": _scratch_veth(ns)}
        if kind == "vlan":
            kwargs[kind]["vlan_id"] = 5

    def make():
        ns.link("add", ifname="probe-x", kind=kind, **kwargs.get(kind, {}))
        ns.link("del", ifname="probe-x")

    return _expect(make)


def _raw_tc(ns, msg_type: int, index: int, parent: int, handle: int, info: int, attrs: list):
    m = tcmsg()
    m["index"], m["parent"], m["handle"], m["info"] = index, parent, handle, info
    m["attrs"] = attrs
    m["header"]["type"] = msg_type
    m["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    return ns.nlm_request_batch([m])


def _probe_qdisc(ns, kind: str) -> bool:
    idx = _scratch_veth(ns)
    parent = 0xFFFFFFF1 if kind == "ingress" else 0xFFFFFFFF
    handle = 0xFFFF0000 if kind == "ingress" else 0x50000

    def make():
        try:
            _raw_tc(ns, RTM_NEWQDISC, idx, parent, handle, 0, [["TCA_KIND", kind]])
        finally:
            try:
                ns.tc("del", index=idx, handle=handle, parent=parent)
            except NetlinkError:
                pass

    return _expect(make)


_filter_prio = [100]


def _clsact(ns) -> int:
    idx = _scratch_veth(ns)
    if not any(q.get_attr("TCA_KIND") == "clsact" for q in ns.get_qdiscs(index=idx)):
        ns.tc("add", "clsact", idx)
    return idx


def _probe_filter(ns, kind: str) -> bool:
    idx = _clsact(ns)
    _filter_prio[0] += 1
    info = (_filter_prio[0] << 16) | 0x0300  # ETH_P_ALL, network order
    return _expect(lambda: _raw_tc(ns, RTM_NEWTFILTER, idx, 0xFFFFFFF2, 0, info, [["TCA_KIND", kind]]))


def _probe_action(ns, kind: str) -> bool:
    idx = _clsact(ns)
    _filter_prio[0] += 1
    info = (_filter_prio[0] << 16) | 0x0300
    options = {"attrs": [
        ["TCA_U32_CLASSID", 0x10001],
        ["TCA_U32_SEL", {"keys": ["0x0/0x0+0"]}],
        ["TCA_U32_ACT", {"attrs": [["TCA_ACT_PRIO_1", {"attrs": [["TCA_ACT_KIND", kind]]}]]}],
    ]}
    return _expect(lambda: _raw_tc(ns, RTM_NEWTFILTER, idx, 0xFFFFFFF2, 0, info,
                                   [["TCA_KIND", "u32"], ["TCA_OPTIONS", options]]))
