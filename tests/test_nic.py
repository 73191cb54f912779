"""--nic safety, with a veth standing in for the NIC inside a namespace standing in for the
root namespace (the real root namespace is never touched)."""

import pytest

from harness.errors import HarnessError
from harness.nic import borrow, check_nic
from harness.topology import Lab


@pytest.fixture
def host(run):
    lab = Lab(run)
    home = lab.namespace("home")
    home.nl.link("add", ifname="nic0", kind="veth", peer="wire0")
    yield lab, home
    lab.close()


def test_a_spare_nic_is_accepted(host):
    lab, home = host
    home.link("nic0").add_address("198.18.9.1/24")
    assert check_nic(home.nl, "nic0") == home.link("nic0").index


def test_the_default_route_interface_is_refused_unless_forced(host):
    lab, home = host
    nic = home.link("nic0").add_address("198.18.9.1/24").up()
    home.link("wire0").up()
    home.nl.route("add", dst="0.0.0.0/0", gateway="198.18.9.254", oif=nic.index)
    with pytest.raises(HarnessError, match="carries the default route.*--force-nic"):
        check_nic(home.nl, "nic0")
    assert check_nic(home.nl, "nic0", force=True) == nic.index


def test_an_address_the_machine_may_be_reached_by_is_refused(host):
    lab, home = host
    home.nl.addr("add", index=home.link("nic0").index, address="203.0.113.5", prefixlen=24)
    with pytest.raises(HarnessError, match="203.0.113.5"):
        check_nic(home.nl, "nic0")


def test_unknown_nic_is_one_line(host):
    with pytest.raises(HarnessError, match="no interface 'nope'"):
        check_nic(host[1].nl, "nope")


def test_borrowed_nic_comes_back_as_it_was(host):
    lab, home = host
    home.link("nic0").set_mtu(1400).up()
    inner_lab = Lab(lab.run)
    ns = inner_lab.namespace("labns")
    link = borrow(home.nl, "nic0", ns, inner_lab.defer, home=home.name)
    assert "nic0" in ns.links() and "nic0" not in home.links()
    link.set_mtu(9000)
    assert inner_lab.close() == []
    back = home.nl.get_links(home.link("nic0").index)[0]
    assert back.get_attr("IFLA_MTU") == 1400 and back["flags"] & 1
