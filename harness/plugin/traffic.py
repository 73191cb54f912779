"""The traffic fixtures: the generators, and the capacity policy for shaping labs.

| fixture    | scope    | depends on           | gives                                               |
|------------|----------|----------------------|-----------------------------------------------------|
| iperf3     | session  | run                  | iperf3 through the PyPI wrapper                     |
| netperf    | session  | run                  | netperf/netserver via subprocess                    |
| generator  | function | iperf3 or netperf    | each of the two in turn (a test runs with both)     |
| capacity   | session  | run, kernel, iperf3  | the unshaped pair rate; skips rates it cannot judge |
"""

from __future__ import annotations

import pytest

from ..core.units import format_rate, parse_rate, rate_label
from ..net.topology import Lab
from ..traffic.iperf3 import Iperf3
from ..traffic.netperf import Netperf
from .fixtures import make_pair


@pytest.fixture(scope="session")
def iperf3(run):
    """Name: iperf3. Scope: session. Depends: run. iperf3 through the PyPI wrapper."""
    return Iperf3(run)


@pytest.fixture(scope="session")
def netperf(run):
    """Name: netperf. Scope: session. Depends: run. netperf/netserver via subprocess."""
    return Netperf(run)


@pytest.fixture(params=["iperf3", "netperf"])
def generator(request):
    """Name: generator. Scope: function. Depends: iperf3 or netperf. The test runs once with
    each; both take the same options (``protocol``, ``size``, ``port``; ``bandwidth`` where
    ``generator.paces``)."""
    return request.getfixturevalue(request.param)


class Capacity:
    """The unshaped rate of the labs' pair (veth, or the NICs of ``--nics``) on this machine and
    kernel, measured once per session."""

    FACTOR = 3.0  # a shaped rate is judged only when the path carries 3x more unshaped

    def __init__(self, traffic, nics=None):
        self.traffic = traffic
        self.goodput_bps = traffic.goodput_bps
        self.nics = nics or []
        self.over = "NICs " + "/".join(n["driver"] for n in nics) if nics else "veth"

    def check(self, rate, factor: float = FACTOR) -> None:
        """Skip when ``rate`` is not well below what the machine carries: a shaper cannot be
        judged when the CPU is the bottleneck."""
        bps = parse_rate(rate)
        if bps * factor > self.goodput_bps:
            pytest.skip(f"{rate_label(bps)} exceeds what this machine carries reliably: unshaped "
                        f"{self.over} {format_rate(self.goodput_bps)} is less than {factor:g}x "
                        "the rate")


@pytest.fixture(scope="session")
def capacity(request, run, kernel, iperf3):
    """Name: capacity. Scope: session. Depends: run, kernel, iperf3. The unshaped rate of the
    labs' pair: a veth pair, or the NICs of ``--nics``.

        def test_x(capacity): capacity.check("500mbit")   # skips where the path cannot carry it
    """
    the_lab = Lab(run)
    try:
        pair = make_pair(request.config, the_lab, kernel, names=("cap-a", "cap-b"))
        return Capacity(iperf3.measure(pair.a, pair.b, seconds=3), pair.nics)
    finally:
        the_lab.close()
