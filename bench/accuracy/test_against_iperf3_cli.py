"""The ingress_ifb recipe measured twice on the same shaper, one after the other: by the
harness (shaper's byte counter and receiver's steady-state goodput over one window, the
generator's whole-run figure beside them) and by Debian's iperf3 command line with ``-O``
(omit the warm-up) and ``-J``, the way a person checks a shaper by hand.  Driven by
bench/accuracy_vs_iperf3_cli.py, which prints the table; not part of ``make test``."""

import json
import math
import os
import subprocess

import pytest

from harness.core.units import parse_rate
from harness.measure.expect import error, expected_goodput
from harness.measure.shaping import shaped_run, warmup_for
from harness.net.tc import HTB, TBF, ingress_redirect

OUT = os.environ.get("KL_BENCH_OUT", "/dev/null")
WINDOW = 3  # seconds, the harness's counting window


def iperf3_cli(src, dst, warmup: float, port: int = 5301) -> dict:
    """``iperf3 -c -O warmup -t WINDOW -J`` between the namespaces; the receiver's figure."""
    server = dst.ns.popen(["iperf3", "-s", "-1", "-p", str(port), "-B", dst.ip4],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from harness.traffic.listening import wait_listening

        wait_listening(dst.ns, port, server)
        client = src.ns.popen(["iperf3", "-c", dst.ip4, "-p", str(port), "-t", str(WINDOW),
                               "-O", str(math.ceil(warmup)), "-J"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        out, err = client.communicate(timeout=WINDOW + warmup + 60)
        assert client.returncode == 0, err or out
        return json.loads(out)["end"]["sum_received"]
    finally:
        server.wait(timeout=30)


@pytest.mark.parametrize("rate", ["10mbit", "100mbit", "500mbit"])
@pytest.mark.parametrize("qdisc", ["htb", "tbf"])
def test_side_by_side(capacity, pair, ifb, iperf3, qdisc, rate):
    capacity.check(rate)
    ingress_redirect(pair.b.link, to=ifb)
    shaper = {"htb": HTB, "tbf": TBF}[qdisc](rate).apply(ifb)
    run = shaped_run(iperf3, pair.a, pair.b, shaper, mtu=pair.mtu, window=WINDOW)
    cli = iperf3_cli(pair.a, pair.b, warmup_for(shaper.rate))
    expected = expected_goodput(parse_rate(rate), pair.mtu)
    row = {"qdisc": qdisc, "rate": rate, "counter": run.counter_error,
           "goodput": run.goodput_error, "whole_run": run.whole_run_goodput_error,
           "cli": error(cli["bits_per_second"], expected), "cli_seconds": cli["seconds"],
           "warmup": warmup_for(shaper.rate)}
    with open(OUT, "a") as f:
        f.write(json.dumps(row) + "\n")


@pytest.mark.parametrize("gso", ["gso on", "gso off"])
@pytest.mark.parametrize("warmup", ["2 s", "settled"])
@pytest.mark.parametrize("qdisc", ["htb", "tbf"])
def test_first_seconds_at_10mbit(pair, ifb, iperf3, qdisc, warmup, gso):
    """Counting from 2 s into the flow, against after the flow settled (warmup_for: 6.4 s at
    10 Mbit/s); with the sender's GSO/TSO on (64 KiB packets reach the ifb) and off."""
    if gso == "gso off":
        pair.a.link.offloads(tso=False, gso=False)
    ingress_redirect(pair.b.link, to=ifb)
    shaper = {"htb": HTB, "tbf": TBF}[qdisc]("10mbit").apply(ifb)
    run = shaped_run(iperf3, pair.a, pair.b, shaper, mtu=pair.mtu, window=WINDOW,
                     warmup=2.0 if warmup == "2 s" else None)
    row = {"first_seconds": True, "qdisc": qdisc, "warmup": warmup, "gso": gso,
           "counter": run.counter_error, "goodput": run.goodput_error,
           "retransmits": run.traffic.retransmits}
    with open(OUT, "a") as f:
        f.write(json.dumps(row) + "\n")
