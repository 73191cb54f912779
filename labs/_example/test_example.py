"""_example: the smallest lab, and the template ``kernel-lab new-lab NAME`` copies.

TBF on the egress of one end of a veth pair holds its rate: the qdisc's own byte counter over a
window after the burst drained is within 5 % of the configured rate, and the receiver's goodput
over the same window within 5 % of rate x 1448/1514.

    tc -n A qdisc add dev va root handle 1: tbf rate 20000000bit burst 67050 limit 1048576

(as the record's ``state.recipe`` shows it: the harness sets burst and limit.)
"""

import pytest

from harness.lab import TBF, judge, shaped_run

RATE = "20mbit"
TOLERANCE = 0.05


@pytest.mark.requires("veth", "tbf")
def test_tbf_holds_its_rate(pair, capacity, iperf3, record):
    capacity.check(RATE)  # skip, saying why, where this machine cannot carry 3x the rate
    shaper = TBF(RATE).apply(pair.a.link)
    run = shaped_run(iperf3, pair.a, pair.b, shaper, mtu=pair.mtu, warmup=1.0, window=2.0)
    # record first (samples, figures, bound), then judge: a sender-limited run skips, saying why
    judge(run.recorded(record, f"tbf {RATE} iperf3",
                       params={"qdisc": "tbf", "rate": RATE, "generator": "iperf3"},
                       tolerance=TOLERANCE))
