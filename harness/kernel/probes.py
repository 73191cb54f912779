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

from pyroute2 import IPRoute
from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.generic import GenericNetlinkSocket
from pyroute2.netlink.rtnl import RTM_NEWQDISC, RTM_NEWTFILTER
from pyroute2.netlink.rtnl.tcmsg import tcmsg

from ..core import netns
from ..core.errors import HarnessError
from .features import Feature

ABSENT_CODES = {errno.ENOENT, errno.EOPNOTSUPP}


def probe(feature: Feature, namespace: str | None) -> bool:
    """True when the kernel has ``feature``; raises HarnessError when the probe itself fails."""
    try:
        if feature.kind == "chardev":
            return os.path.exists(feature.probe_arg)
        if feature.kind == "genl":
            return probe_genl(feature.probe_arg)
        if feature.kind == "cgroup":
            return probe_cgroup_v1(feature.probe_arg)
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
