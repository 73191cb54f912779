"""The traffic fixtures: the generators, and the capacity policy for shaping labs.

| fixture    | scope    | depends on           | gives                                               |
|------------|----------|----------------------|-----------------------------------------------------|
| iperf3     | session  | run                  | iperf3 through the PyPI wrapper                     |
| netperf    | session  | run                  | netperf/netserver via subprocess                    |
| capacity   | session  | run, kernel, iperf3  | the unshaped veth rate; skips rates it cannot judge |
"""

from __future__ import annotations

import pytest

from ..core.units import format_rate, parse_rate, rate_label
from ..net.topology import Lab
from ..traffic.iperf3 import Iperf3
from ..traffic.netperf import Netperf


@pytest.fixture(scope="session")
def iperf3(run):
    """Name: iperf3. Scope: session. Depends: run. iperf3 through the PyPI wrapper."""
    return Iperf3(run)


@pytest.fixture(scope="session")
def netperf(run):
    """Name: netperf. Scope: session. Depends: run. netperf/netserver via subprocess."""
    return Netperf(run)


class Capacity:
    """The unshaped veth rate of this machine and kernel, measured once per session."""

    FACTOR = 3.0  # a shaped rate is judged only when the path carries 3x more unshaped

    def __init__(self, traffic):
        self.traffic = traffic
        self.goodput_bps = traffic.goodput_bps

    def check(self, rate, factor: float = FACTOR) -> None:
        """Skip when ``rate`` is not well below what the machine carries: a shaper cannot be
        judged when the CPU is the bottleneck."""
        bps = parse_rate(rate)
        if bps * factor > self.goodput_bps:
            pytest.skip(f"{rate_label(bps)} exceeds what this machine carries reliably: unshaped "
                        f"veth {format_rate(self.goodput_bps)} is less than {factor:g}x the rate")


@pytest.fixture(scope="session")
def capacity(run, kernel, iperf3):
    """Name: capacity. Scope: session. Depends: run, kernel, iperf3. The unshaped veth rate.

        def test_x(capacity): capacity.check("500mbit")   # skips where the CPU cannot carry it
    """
    kernel.require("veth")  # FIXTURE_FEATURES["capacity"]
    the_lab = Lab(run)
    try:
        pair = the_lab.veth_pair(the_lab.namespace("cap-a"), the_lab.namespace("cap-b"))
        return Capacity(iperf3.measure(pair.a, pair.b, seconds=3))
    finally:
        the_lab.close()
