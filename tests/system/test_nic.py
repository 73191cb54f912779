"""--nic safety and give-back, with a veth standing in for the NIC inside a namespace standing
in for the root namespace (the real root namespace is never touched)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from harness.core import netns
from harness.core.errors import HarnessError
from harness.net.nic import borrow, check_nic, offloads
from harness.net.topology import Lab

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def host(run):
    lab = Lab(run)
    home = lab.namespace("home")
    home.nl.link("add", ifname="nic0", kind="veth", peer="wire0")
    yield lab, home
    lab.close()


def state_of(home, name="nic0") -> dict:
    """What the give-back must restore, read from the kernel."""
    link = home.link(name)
    msg = home.nl.get_links(link.index)[0]
    addrs = sorted((a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in home.nl.get_addr(index=link.index)
                   if not a.get_attr("IFA_ADDRESS").startswith("fe80"))
    return {"mtu": msg.get_attr("IFLA_MTU"), "up": bool(msg["flags"] & 1),
            "mac": msg.get_attr("IFLA_ADDRESS"), "addresses": addrs,
            "offloads": offloads(name, home.name)}


def prepare(home):
    """A NIC in a state worth restoring: MTU 1400, up, two addresses, TSO off."""
    nic = home.link("nic0").set_mtu(1400).add_address("198.18.9.1/24").add_address(
        "2001:db8:9::1/64").up()
    home.link("wire0").up()
    nic.offloads(tso=False)
    return state_of(home)


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
    """Name, namespace, MTU, up/down, addresses and offloads, after the lab changed them all."""
    lab, home = host
    before = prepare(home)
    inner_lab = Lab(lab.run)
    ns = inner_lab.namespace("labns")
    link = borrow(lab.run, "nic0", ns, inner_lab.defer, home=home.name)
    assert link.name == lab.run.name("nic") and link.name in ns.links()
    assert "nic0" not in home.links()
    assert lab.run.nics[link.name]["name"] == "nic0"  # in the registry before anything moved
    link.set_mtu(9000).add_address("198.18.77.1/24").offloads(tso=True)
    assert inner_lab.close() == []
    assert state_of(home) == before
    assert lab.run.nics == {}


LAB_USING_THE_NIC = textwrap.dedent("""
    from harness.core.checkpoint import checkpoint

    def test_uses_the_nic(nic, record):
        record("nic", state={"name": nic.name, "namespace": nic.ns.name})
        nic.set_mtu(9000).add_address("198.18.78.1/24")
        assert nic.name.endswith("nic") and nic.ns.name.endswith("nic")
        checkpoint("nic-borrowed")
""")


def lab_with_the_nic(tmp_path):
    folder = tmp_path / "labs" / "nic_demo"
    folder.mkdir(parents=True)
    (folder / "test_nic_demo.py").write_text(LAB_USING_THE_NIC)
    (tmp_path / "conftest.py").write_text("pytest_plugins = ['harness.plugin']\n")
    return folder


def pytest_in(home, tmp_path, *args, **kwargs):
    """pytest in ``home``'s namespace (its "root" namespace), on the demo lab."""
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--results",
            str(tmp_path / "res"), "--run-id", "nic", *args, str(lab_with_the_nic(tmp_path))]
    env = dict(os.environ, PYTHONPATH=ROOT, **kwargs.pop("env", {}))
    return subprocess.Popen(argv, cwd=tmp_path, env=env, preexec_fn=lambda: netns.enter(home.name),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def test_nic_option_end_to_end(host, tmp_path):
    """``pytest --nic nic0``: the fixture lends the NIC to the test under the run's prefix and
    the session gives it back exactly as it found it."""
    lab, home = host
    before = prepare(home)
    proc = pytest_in(home, tmp_path, "--nic", "nic0")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    rec = json.loads(next((tmp_path / "res" / "nic").rglob("test_uses_the_nic.json")).read_text())
    assert rec["state"]["name"].endswith("nic") and rec["verdict"] == "passed"
    assert state_of(home) == before


def test_nic_is_given_back_after_sigkill_and_sweep(host, tmp_path):
    """SIGKILL while the NIC sits in the lab's namespace: the sweeper reads its original state
    from the dead run's registry and gives it back."""
    lab, home = host
    before = prepare(home)
    mark = tmp_path / "paused"
    proc = pytest_in(home, tmp_path, "--nic", "nic0",
                     env={"KERNEL_LAB_PAUSE_AT": "nic-borrowed", "KERNEL_LAB_PAUSE_MARK": str(mark)})
    try:
        deadline = time.monotonic() + 120
        while not mark.exists():
            assert time.monotonic() < deadline and proc.poll() is None, proc.stdout.read()[-2000:]
            time.sleep(0.05)
        assert "nic0" not in home.links()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert "nic0" not in home.links()  # the crash left it in the lab's namespace
    swept = subprocess.run([sys.executable, "-m", "harness.cli", "sweep"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert swept.returncode == 0, swept.stderr
    assert "moved" in swept.stdout and "restored nic0" in swept.stdout, swept.stdout
    assert state_of(home) == before
