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

from harness.core.procs import run_unwinding
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


def demo_lab(tmp_path, name: str, source: str):
    """A one-file lab under ``tmp_path/labs/<name>``, with the plugin active."""
    folder = tmp_path / "labs" / name
    folder.mkdir(parents=True)
    (folder / f"test_{name}.py").write_text(source)
    (tmp_path / "conftest.py").write_text("pytest_plugins = ['harness.plugin']\n")
    return folder


def pytest_in(home, tmp_path, *args, env=None, lab=("nic_demo", LAB_USING_THE_NIC),
              run_id="nic"):
    """pytest in ``home``'s namespace (its "root" namespace), on a demo lab; the Popen."""
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--results",
            str(tmp_path / "res"), "--run-id", run_id, *args, str(demo_lab(tmp_path, *lab))]
    return subprocess.Popen(argv, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=ROOT, **(env or {})),
                            preexec_fn=lambda: netns.enter(home.name),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finished(proc, timeout=300):
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


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


def killed_at_pause_then_swept(start, point: str, tmp_path, borrowed, home) -> str:
    """Start a run with ``start(env)``, SIGKILL it once it pauses at ``point`` (the NICs named
    ``borrowed`` must then be gone from ``home``), run the sweeper; its output."""
    mark = tmp_path / "paused"
    proc = start({"KERNEL_LAB_PAUSE_AT": point, "KERNEL_LAB_PAUSE_MARK": str(mark)})
    try:
        deadline = time.monotonic() + 120
        while not mark.exists():
            assert proc.poll() is None, proc.stdout.read()[-2000:]
            assert time.monotonic() < deadline, "the run never reached its pause point"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not set(borrowed) & set(home.links())  # the crash left them in the lab's namespaces
    swept = run_unwinding([sys.executable, "-m", "harness.cli", "sweep"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert swept.returncode == 0, swept.stderr
    return swept.stdout


def test_nic_is_given_back_after_sigkill_and_sweep(host, tmp_path):
    """SIGKILL while the NIC sits in the lab's namespace: the sweeper reads its original state
    from the dead run's registry and gives it back."""
    lab, home = host
    before = prepare(home)
    out = killed_at_pause_then_swept(lambda env: pytest_in(home, tmp_path, "--nic", "nic0",
                                                           env=env),
                                     "nic-borrowed", tmp_path, ["nic0"], home)
    assert "moved" in out and "restored nic0" in out, out
    assert state_of(home) == before


LAB_USING_THE_PAIR = textwrap.dedent("""
    def test_pings_over_the_pair(pair, record):
        from harness.core.checkpoint import checkpoint
        from harness.traffic.ping import ping
        ok = ping(pair.a.ns, pair.b.ip4, count=3, timeout=2)
        checkpoint("pair-borrowed")
        record("ping over the pair", state={"a": pair.a.link.name, "b": pair.b.link.name},
               samples={"ping": ok})
        assert ok and pair.nics and pair.a.link.mtu == 1500
""")


@pytest.fixture
def two_ports(run):
    """nicA and nicB, cabled to each other (a veth pair), and spare0/spare1, each cabled to
    nothing of the other (two veth pairs), in a namespace standing in for the root one."""
    lab = Lab(run)
    home = lab.namespace("home2")
    home.nl.link("add", ifname="nicA", kind="veth", peer="nicB")
    for i in (0, 1):
        home.nl.link("add", ifname=f"spare{i}", kind="veth", peer=f"wire{i}")
    yield lab, home
    lab.close()


def pytest_pair(home, tmp_path, *args, env=None):
    return pytest_in(home, tmp_path, *args, env=env, lab=("pair_demo", LAB_USING_THE_PAIR),
                     run_id="pair")


@pytest.mark.parametrize("nics, refusal", [
    ("nicA,nicA", "--nics names nicA twice"),
    ("nicA,nope", "no interface 'nope'"),
    ("nicA", "--nics takes two interfaces cabled to each other, not 1"),
    ("spare0,spare1", "spare0 and spare1 are not cabled to each other"),
])
def test_a_pair_that_is_not_one_is_refused_in_one_line_and_nothing_moves(two_ports, tmp_path,
                                                                        nics, refusal):
    lab, home = two_ports
    before = {n: state_of(home, n) for n in ("nicA", "nicB", "spare0", "spare1")}
    rc, out = finished(pytest_pair(home, tmp_path, "--nics", nics))
    assert rc == 1 and f"kernel-lab: {refusal}" in out, out[-2000:]
    assert {n: state_of(home, n) for n in before} == before


def prepare_pair(home) -> dict:
    """Two ports in a state worth restoring: MTU 1400, an address each."""
    for n in ("nicA", "nicB"):
        home.link(n).set_mtu(1400).add_address("198.18.99.1/32" if n == "nicA" else
                                                "198.18.99.2/32")
    return {n: state_of(home, n) for n in ("nicA", "nicB")}


def test_the_labs_pair_runs_over_two_cabled_nics_and_they_come_back(two_ports, tmp_path):
    lab, home = two_ports
    before = prepare_pair(home)
    mac_a = before["nicA"]["mac"]
    rc, out = finished(pytest_pair(home, tmp_path, "--nics", f"{mac_a},nicB"))  # a MAC names one
    assert rc == 0, out[-3000:]
    rec = json.loads(next((tmp_path / "res" / "pair").rglob("test_pings_over_the_pair.json"))
                     .read_text())
    assert [n["name"] for n in rec["state"]["nics"]] == ["nicA", "nicB"]
    assert {n["driver"] for n in rec["state"]["nics"]} == {"veth"}
    assert rec["state"]["a"].endswith("-va") and rec["state"]["b"].endswith("-vb")
    assert {n: state_of(home, n) for n in before} == before


def test_the_pair_is_given_back_after_sigkill_and_sweep(two_ports, tmp_path):
    """SIGKILL while both ports sit in the lab's namespaces: the sweeper gives both back."""
    lab, home = two_ports
    before = prepare_pair(home)
    out = killed_at_pause_then_swept(lambda env: pytest_pair(home, tmp_path, "--nics",
                                                             "nicA,nicB", env=env),
                                     "pair-borrowed", tmp_path, ["nicA", "nicB"], home)
    assert "restored nicA" in out and "restored nicB" in out, out
    assert {n: state_of(home, n) for n in before} == before
