"""The qdisc options pyroute2 0.9 cannot say: fq (``maxrate``, per-flow pacing), TBF's peak
rate (pyroute2's tbf drops ``peak``, and knows no ``TCA_TBF_PBURST``) and netem's ``rate``
(pyroute2 also sends it as the message's TCA_RATE, and fails to encode it).

Each is a tcmsg plugin module of the shape pyroute2 expects (``parent``, ``get_parameters``,
``options``), put into ``pyroute2.netlink.rtnl.tcmsg.plugins`` by :func:`install` (at import of
harness.net.tc).  The tbf one is a superset of pyroute2's: without ``peak`` it sends exactly
what pyroute2's sends, and it decodes the attributes newer kernels add.  Written from the
kernel's uapi (include/uapi/linux/pkt_sched.h).
"""

from __future__ import annotations

import types

from pyroute2.netlink import nla
from pyroute2.netlink.rtnl import TC_H_ROOT
from pyroute2.netlink.rtnl.tcmsg import plugins, sched_netem, sched_tbf
from pyroute2.netlink.rtnl.tcmsg.common import get_rate, get_rate_parameters, stats2


# -- tbf with a peak rate --------------------------------------------------------------------
class tbf_options(sched_tbf.options):
    nla_map = (
        ("TCA_TBF_UNSPEC", "none"),
        ("TCA_TBF_PARMS", "tbf_parms"),
        ("TCA_TBF_RTAB", "rtab"),
        ("TCA_TBF_PTAB", "ptab"),
        ("TCA_TBF_RATE64", "uint64"),
        ("TCA_TBF_PRATE64", "uint64"),
        ("TCA_TBF_BURST", "uint32"),
        ("TCA_TBF_PBURST", "uint32"),
        ("TCA_TBF_PAD", "hex"),
    )


def tbf_parameters(kwarg: dict) -> dict:
    """pyroute2's TBF parameters; with ``peak`` (bytes/s) and ``pburst`` (bytes: the peak
    bucket, at least one packet), the peak rate too: ``tc ... tbf rate R burst B peakrate P
    mtu M``."""
    if "rate" not in kwarg:  # a request without options (``del``): nothing to say
        return {"attrs": []}
    parms = get_rate_parameters(kwarg)
    attrs = [["TCA_TBF_PARMS", parms], ["TCA_TBF_RTAB", True]]
    if kwarg.get("peak"):
        parms["peak"] = int(get_rate(kwarg["peak"]))
        parms["mtu"] = 0  # ticks: superseded by TCA_TBF_PBURST
        attrs += [["TCA_TBF_PTAB", True], ["TCA_TBF_PBURST", int(kwarg["pburst"])]]
    return {"attrs": attrs}


tbf = types.ModuleType("harness_tbf")
tbf.parent = TC_H_ROOT
tbf.fix_request = sched_tbf.fix_request
tbf.get_parameters = tbf_parameters
tbf.options = tbf_options


# -- fq -----------------------------------------------------------------------------------------
class fq_options(nla):
    nla_map = (
        ("TCA_FQ_UNSPEC", "none"),
        ("TCA_FQ_PLIMIT", "uint32"),
        ("TCA_FQ_FLOW_PLIMIT", "uint32"),
        ("TCA_FQ_QUANTUM", "uint32"),
        ("TCA_FQ_INITIAL_QUANTUM", "uint32"),
        ("TCA_FQ_RATE_ENABLE", "uint32"),
        ("TCA_FQ_FLOW_DEFAULT_RATE", "uint32"),
        ("TCA_FQ_FLOW_MAX_RATE", "uint32"),
        ("TCA_FQ_BUCKETS_LOG", "uint32"),
        ("TCA_FQ_FLOW_REFILL_DELAY", "uint32"),
        ("TCA_FQ_ORPHAN_MASK", "uint32"),
        ("TCA_FQ_LOW_RATE_THRESHOLD", "uint32"),
        ("TCA_FQ_CE_THRESHOLD", "uint32"),
        ("TCA_FQ_TIMER_SLACK", "uint32"),
        ("TCA_FQ_HORIZON", "uint32"),
        ("TCA_FQ_HORIZON_DROP", "uint8"),
    )


FQ_KEYS = {"limit": "TCA_FQ_PLIMIT", "flow_limit": "TCA_FQ_FLOW_PLIMIT",
           "quantum": "TCA_FQ_QUANTUM", "initial_quantum": "TCA_FQ_INITIAL_QUANTUM",
           "maxrate": "TCA_FQ_FLOW_MAX_RATE", "pacing": "TCA_FQ_RATE_ENABLE"}


def fq_parameters(kwarg: dict) -> dict:
    """``tc qdisc add ... fq maxrate R [limit N] [flow_limit N] [quantum B]``: ``maxrate`` in
    bytes/s (the kernel's unit), the rest as tc's."""
    return {"attrs": [[attr, int(kwarg[key])] for key, attr in FQ_KEYS.items() if key in kwarg]}


fq = types.ModuleType("harness_fq")
fq.parent = TC_H_ROOT
fq.get_parameters = fq_parameters
fq.options = fq_options
fq.stats2 = stats2


# -- netem with a rate ----------------------------------------------------------------------
def _drop_rate(request: dict) -> None:
    """pyroute2 encodes a top-level ``rate`` as the message's TCA_RATE (a struct): the rate is
    the qdisc's own option, already in TCA_OPTIONS (pyroute2's tbf does the same)."""
    request.pop("rate", None)


netem = types.ModuleType("harness_netem")
netem.parent = sched_netem.parent if hasattr(sched_netem, "parent") else TC_H_ROOT
netem.get_parameters = sched_netem.get_parameters
netem.options = sched_netem.options
netem.fix_request = _drop_rate


def install() -> None:
    """Make pyroute2 speak them (idempotent)."""
    plugins["tbf"] = tbf
    plugins["fq"] = fq
    plugins["netem"] = netem
