"""Everything a lab imports from kernel-lab, in one place: ``from harness.lab import ...``.

A lab under ``labs/`` imports from here and nowhere else in ``harness`` (the kernel
selftests' Python library does the same with ``net/lib/py``'s ``__all__``);
``tests/unit/test_lab_imports.py`` fails on a lab that reaches past it.  The fixtures (``run``,
``kernel``, ``lab``, ``pair``, ``ifb``, ``nic``, ``iperf3``, ``netperf``, ``capacity``,
``record``, ``mtu_table``...) and the markers (``requires``, ``uses``) come with the plugin;
``labs/README.md`` lists them.

What is here, by what it is for:

- building: ``Lab``, ``Namespace``, ``Endpoint``, ``VethPair``, ``GRE_KEY``, ``OVS``,
  ``DATAPATHS``, ``NetCls``, ``frames``, ``tap``, ``random_loss``;
- tc: ``HTB``, ``TBF``, ``add_ingress``, ``ingress_redirect``, ``egress_redirect``,
  ``add_class_under_ingress``, ``remove_ingress``, ``Shaper``;
- every other rate limiter (harness.net.limiters): ``TBFPeak``, ``HFSC``, ``CAKE``, ``FQ``,
  ``NetemRate``, ``HTBTree``, ``DRRShares``, ``Police``;
  ``classify_dport``, ``classify_mark``, ``classify_cgroup``, ``skbedit_dport``, ``classes``,
  ``htb_classes``, ``class_stats``, ``filter_kinds``, ``mirred_stats``, ``qdisc_drops``,
  ``handle``;
- traffic: ``ping``, ``largest_unfragmented``, ``tcp_transfer``, ``Capture``, ``Capacity``;
- counting: ``settled``, ``delta``, ``counter_windows``, ``tcp_receiver``,
  ``packet_socket_drops``, ``link_drops``, ``share_lost``;
- judging: ``shaped_run``, ``shaped_flows`` (several at once), ``udp_floods`` (never backing
  off; the limiter goes on once their streams began), ``flows_together`` (all servers listen,
  then all clients start), ``policed_run`` (a policer's goodput, drops and RTT), ``judge`` (a
  shaping verdict as the test's outcome), ``error``, ``expected_goodput``, ``judged``,
  ``TWO_SIDED``, ``binomial_sigma``;
- units and options: ``parse_rate``, ``format_rate``, ``shaping_rates``, ``sweep``, ``IN_GUEST``;
- recording: ``summary`` (a lab's summary table, ``summary.table``); ``figure`` and its units
  (``RATE``, ``SHARE``, ``ERROR``, ``COUNT``, ``RATIO``, ``BYTES``, ``FLAG``, ``TEXT``, ``MS``) and
  directions (``HIGHER``, ``LOWER``, ``TWO_SIDED``): every key a lab's records carry in
  ``derived`` is declared once, by the measurement that makes it or at the top of the lab.
"""

from .core.figures import (BYTES, COUNT, ERROR, FLAG, HIGHER, LOWER, MS, RATE, RATIO, SHARE,
                           TEXT, figure)
from .core.units import format_rate, parse_rate
from .measure.accounting import link_drops, share_lost
from .measure.counters import counter_windows, delta, settled
from .measure.expect import error, expected_goodput
from .measure.judged import TWO_SIDED, binomial_sigma, judged
from .measure.policing import policed_run
from .measure.shaping import flows_together, shaped_flows, shaped_run, udp_floods
from .net import frames, tap
from .net.cgroups import NetCls
from .net.diag import packet_socket_drops, tcp_receiver
from .net.impair import random_loss
from .net.limiters import CAKE, FQ, HFSC, DRRShares, HTBTree, NetemRate, Police, TBFPeak
from .net.ovs import DATAPATHS, OVS
from .net.tc import (HTB, TBF, Shaper, add_class_under_ingress, add_ingress, class_stats, classes,
                     classify_cgroup, classify_dport, classify_mark, egress_redirect, filter_kinds,
                     handle, htb_classes, ingress_redirect, mirred_stats, qdisc_drops,
                     remove_ingress, skbedit_dport)
from .net.topology import GRE_KEY, Endpoint, Lab, Namespace, VethPair
from .plugin.judge import judge
from .plugin.options import IN_GUEST, shaping_rates, sweep
from .plugin.traffic import Capacity
from .results import summary
from .traffic.capture import Capture
from .traffic.ping import largest_unfragmented, ping
from .traffic.tcp_probe import tcp_transfer

__all__ = [
    # building
    "Lab", "Namespace", "Endpoint", "VethPair", "GRE_KEY", "OVS", "DATAPATHS", "NetCls",
    "frames", "tap", "random_loss",
    # tc
    "HTB", "TBF", "add_ingress", "ingress_redirect", "egress_redirect", "add_class_under_ingress",
    "classify_dport", "classify_mark", "classify_cgroup", "skbedit_dport", "classes",
    "htb_classes", "class_stats", "filter_kinds", "mirred_stats", "qdisc_drops", "handle",
    "remove_ingress", "Shaper",
    # every other rate limiter
    "TBFPeak", "HFSC", "CAKE", "FQ", "NetemRate", "HTBTree", "DRRShares", "Police",
    # traffic
    "ping", "largest_unfragmented", "tcp_transfer", "Capture", "Capacity",
    # counting
    "settled", "delta", "counter_windows", "tcp_receiver", "packet_socket_drops", "link_drops",
    "share_lost",
    # judging
    "shaped_run", "shaped_flows", "udp_floods", "flows_together", "policed_run", "judge", "error",
    "expected_goodput", "judged", "TWO_SIDED",
    "binomial_sigma",
    # units and options
    "parse_rate", "format_rate", "shaping_rates", "sweep", "IN_GUEST",
    # recording
    "summary", "figure", "RATE", "SHARE", "ERROR", "COUNT", "RATIO", "BYTES", "FLAG", "TEXT", "MS",
    "HIGHER", "LOWER",
]
