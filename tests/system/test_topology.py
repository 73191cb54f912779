import subprocess

import pytest

from harness.core import netns
from harness.core.errors import HarnessError
from harness.net.topology import Lab


def test_veth_pair_pings_and_everything_is_gone_after_close(run):
    lab = Lab(run)
    a, b = lab.namespace("ta"), lab.namespace("tb")
    pair = lab.veth_pair(a, b, mtu=1400, subnet=7)
    assert pair.a.ip4 == "198.18.7.1" and pair.b.ip6 == "2001:db8:7::2"
    assert pair.mtu == 1400 and pair.b.link.mtu == 1400
    assert all(len(n) <= 15 for n in a.links() + b.links())
    assert all(n.startswith(run.prefix) for n in a.links() + b.links() if n != "lo")
    ping = a.popen(["ping", "-c", "2", "-i", "0.2", "-W", "2", pair.b.ip4],
                   stdout=subprocess.PIPE, text=True)
    out, _ = ping.communicate(timeout=10)
    run.forget_process(ping.pid)
    assert ping.returncode == 0, out
    assert lab.close() == []
    assert not netns.exists(a.name) and not netns.exists(b.name)
    assert a.name not in run.namespaces


def test_names_longer_than_ifnamsiz_are_refused(run):
    with pytest.raises(HarnessError, match="longer than 15"):
        run.name("much-too-long")


def test_sysctl_and_snmp_are_per_namespace(run):
    def root_value():
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            return f.read().strip()

    before = root_value()
    lab = Lab(run)
    try:
        a = lab.namespace("sy")
        assert a.sysctl("net.ipv4.ip_forward", 1) == "1"
        b = lab.namespace("sz")
        assert b.sysctl("net.ipv4.ip_forward") == "0"
        assert root_value() == before  # the root namespace is not touched
        counters = a.snmp()
        assert "IpFragCreates" in counters and "TcpExtTCPTimeouts" in counters
    finally:
        lab.close()


def test_a_half_built_topology_unwinds(run):
    lab = Lab(run)
    a = lab.namespace("ha")
    with pytest.raises(Exception):
        lab.veth_pair(a, a, names=("hx", "hx"))  # same name twice: the kernel refuses
    lab.close()
    assert not netns.exists(a.name)
