"""The pytest plugin: options, markers and fixtures of kernel-lab.

Fixtures (each does one thing and names what it depends on):

- ``run``       session  the run: prefix, registry, results folder; sweeps dead runs first
- ``kernel``    session  capabilities of the kernel under test (depends: run)
- ``lab``       function a fresh topology with its own LIFO undo stack (depends: run)
- ``pair``      function namespaces a and b joined by a veth pair (depends: lab)
- ``ifb``       function an ifb device in pair.b's namespace (depends: kernel, lab, pair)
- ``iperf3``    session  iperf3 through the PyPI wrapper (depends: run)
- ``netperf``   session  netperf/netserver (depends: run)
- ``record``    function add a measurement record; the plugin writes it with the verdict

Marker: ``@pytest.mark.requires("gre", ...)`` skips, naming the CONFIG option, when the kernel
lacks a feature.  Example::

    @pytest.mark.requires("ifb", "htb")
    def test_x(pair, ifb, iperf3, record): ...
"""

from __future__ import annotations

import datetime as _dt
import os
import secrets

import pytest

from .errors import HarnessError, KernelLacks

_STATE = pytest.StashKey[dict]()


def pytest_addoption(parser):
    g = parser.getgroup("kernel-lab")
    g.addoption("--results", default=os.environ.get("KERNEL_LAB_RESULTS", "results"),
                help="results root folder (default: results)")
    g.addoption("--run-id", default=os.environ.get("KERNEL_LAB_RUN_ID"),
                help="name of the run folder (default: timestamp + prefix)")
    g.addoption("--kernel", default=None, metavar="IMAGE",
                help="boot IMAGE with virtme-ng and run this selection inside it")
    g.addoption("--vm-timeout", type=float, default=1800.0,
                help="seconds a --kernel run may take before it is stopped")
    g.addoption("--rates", default=None, metavar="R1,R2",
                help="shaping rates for labs that take them, e.g. 10mbit,100mbit")
    g.addoption("--nic", default=None, metavar="IFACE",
                help="a real NIC for labs that use one (the `nic` fixture); never implied")
    g.addoption("--force-nic", action="store_true",
                help="allow --nic to take the interface with the default route or the machine's address")
    g.addoption("--repeat", type=int, default=1, metavar="N",
                help="run each test N times; records keep every sample, reports give the spread")
    g.addoption("--retries", type=int, default=0, metavar="N",
                help="retry a failed test up to N times; a pass on retry is labelled flaky")
    g.addoption("--baseline", default=None, metavar="NAME",
                help="compare this run with results/baselines/NAME.json; a regression fails the run")


def pytest_configure(config):
    config.addinivalue_line("markers", "requires(*features): kernel features a test needs")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    state = _state(config)
    if config.getoption("rates"):
        from .units import parse_rate

        try:
            state["rates"] = [parse_rate(r) for r in config.getoption("rates").split(",")]
        except HarnessError as exc:
            raise pytest.UsageError(f"kernel-lab: {exc}") from None
    if getattr(config.option, "xmlpath", None) is None and not config.getoption("kernel"):
        config.option.xmlpath = os.path.join(state["run_dir"], "junit.xml")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    image = config.getoption("kernel")
    if image and os.environ.get("KERNEL_LAB_IN_GUEST") != "1":
        from .vm import run_pytest_in_vm

        return run_pytest_in_vm(config, image)
    return None


def _state(config) -> dict:
    """The run's id and folders, decided once per pytest session."""
    if _STATE not in config.stash:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        run_id = config.getoption("run_id") or f"{stamp}-{secrets.token_hex(2)}"
        root = config.getoption("results")
        if not os.path.isabs(root):
            root = os.path.join(str(config.rootpath), root)
        config.stash[_STATE] = {"run_id": run_id, "results_root": root,
                                "run_dir": os.path.join(root, run_id)}
    return config.stash[_STATE]


def pytest_generate_tests(metafunc):
    n = metafunc.config.getoption("repeat")
    if n > 1:
        metafunc.fixturenames.append("kl_repeat")
        metafunc.parametrize("kl_repeat", range(n), ids=[f"r{i}" for i in range(n)])


@pytest.fixture
def kl_repeat(request):
    """The repetition index under ``--repeat N``."""
    return request.param


def shaping_rates(config, default: list[str]) -> list[str]:
    """The rates a lab shapes at: ``--rates`` if given, else the lab's own list."""
    from .units import rate_label

    rates = _state(config).get("rates")
    return [rate_label(r) for r in rates] if rates else list(default)


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def run(request):
    """Name: run. Scope: session. Depends: nothing. The run; its objects are gone at the end.

        def test_x(run): run.name("va")   # 'kl3fa9-va'
    """
    if os.geteuid() != 0:
        pytest.exit("kernel-lab labs need root (network namespaces, tc)", returncode=4)
    from . import sweeper
    from .results import Recorder, host_facts, tool_versions
    from .run import Run

    st = _state(request.config)
    swept = sweeper.sweep()
    the_run = Run(results_root=st["results_root"], run_id=st["run_id"])
    kinfo = _kernel_info()
    st["recorder"] = Recorder(the_run.results_dir, {
        "run_id": the_run.run_id, "prefix": the_run.prefix, "kernel": kinfo,
        "host": host_facts(), "tools": tool_versions(), "swept_before_start": swept,
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    })
    _link_latest(st["results_root"], the_run.run_id)
    st["run"] = the_run
    try:
        yield the_run
    finally:
        failures = the_run.close()
        if failures:
            print("kernel-lab: teardown problems: " + "; ".join(failures))


def _kernel_info() -> dict:
    import platform

    from .kernel import config_digest, read_config

    cfg, source = read_config()
    return {"release": platform.release(), "version": platform.version(),
            "config_source": source, "config_digest": config_digest(cfg),
            "where": "vm" if os.environ.get("KERNEL_LAB_IN_GUEST") == "1" else "host",
            "image": os.environ.get("KERNEL_LAB_IMAGE", "running")}


def _link_latest(root: str, run_id: str) -> None:
    if os.environ.get("KERNEL_LAB_IN_GUEST") == "1":
        return  # the host links its run folder; the guest's is a sub-folder of it
    link = os.path.join(root, "latest")
    try:
        if os.path.islink(link):
            os.unlink(link)
        os.symlink(run_id, link)
    except OSError:
        pass


@pytest.fixture(scope="session")
def kernel(run):
    """Name: kernel. Scope: session. Depends: run. What the kernel under test can do.

        def test_x(kernel): kernel.require("gre")   # skips naming CONFIG_NET_IPGRE
    """
    from .kernel import Kernel

    return Kernel(probe_namespace=run.scratch_namespace("probe"))


@pytest.fixture
def lab(run):
    """Name: lab. Scope: function. Depends: run. A topology unwound (LIFO) after the test.

        def test_x(lab): a = lab.namespace("a")
    """
    from .topology import Lab

    the_lab = Lab(run)
    try:
        yield the_lab
    finally:
        failures = the_lab.close()
        if failures:
            raise HarnessError("teardown left objects behind: " + "; ".join(failures))


@pytest.fixture
def pair(lab, kernel):
    """Name: pair. Scope: function. Depends: lab, kernel. Namespaces a and b joined by a veth
    pair, 198.18.1.1/24 <-> 198.18.1.2/24, MTU 1500.

        def test_x(pair): pair.a.ns, pair.b.link, pair.b.ip4
    """
    kernel.require("veth")
    return lab.veth_pair(lab.namespace("a"), lab.namespace("b"))


@pytest.fixture
def ifb(lab, kernel, pair):
    """Name: ifb. Scope: function. Depends: kernel, lab, pair. An ifb device in b's namespace.

        def test_x(pair, ifb): ingress_redirect(pair.b.link, to=ifb)
    """
    kernel.require("ifb")
    return lab.ifb(pair.b.ns, kernel=kernel)


@pytest.fixture
def nic(request, lab):
    """Name: nic. Scope: function. Depends: lab. The NIC named with ``--nic``, moved into a lab
    namespace for the test and given back after (see harness.nic).  Tests that use it are for
    machines with a NIC to spare: without ``--nic`` they are not collected as runnable."""
    from pyroute2 import IPRoute

    from .nic import borrow

    name = request.config.getoption("nic")
    if not name:
        pytest.skip("no --nic IFACE given (a real NIC is used only when named)")
    ns = lab.namespace("nic")
    with IPRoute() as ipr:
        return borrow(ipr, name, ns, lab.defer, force=request.config.getoption("force_nic"))


@pytest.fixture(scope="session")
def iperf3(run):
    """Name: iperf3. Scope: session. Depends: run. iperf3 through the PyPI wrapper."""
    from .traffic.iperf3 import Iperf3

    return Iperf3(run)


@pytest.fixture(scope="session")
def netperf(run):
    """Name: netperf. Scope: session. Depends: run. netperf/netserver via subprocess."""
    from .traffic.netperf import Netperf

    return Netperf(run)


class Capacity:
    """The unshaped veth rate of this machine and kernel, measured once per session."""

    def __init__(self, traffic):
        self.traffic = traffic
        self.goodput_bps = traffic.goodput_bps

    def check(self, rate, factor: float = 3.0) -> None:
        """Skip when ``rate`` is not well below what the machine carries: a shaper cannot be
        judged when the CPU is the bottleneck."""
        from .units import format_rate, parse_rate, rate_label

        bps = parse_rate(rate)
        if bps * factor > self.goodput_bps:
            pytest.skip(f"{rate_label(bps)} exceeds what this machine carries reliably: unshaped "
                        f"veth {format_rate(self.goodput_bps)} is less than {factor:g}x the rate")


@pytest.fixture(scope="session")
def capacity(run, kernel, iperf3):
    """Name: capacity. Scope: session. Depends: run, kernel, iperf3. The unshaped veth rate.

        def test_x(capacity): capacity.check("500mbit")   # skips where the CPU cannot carry it
    """
    from .topology import Lab

    kernel.require("veth")
    lab = Lab(run)
    try:
        pair = lab.veth_pair(lab.namespace("cap-a"), lab.namespace("cap-b"))
        return Capacity(iperf3.measure(pair.a, pair.b, seconds=3))
    finally:
        lab.close()


@pytest.fixture
def record(request):
    """Name: record. Scope: function. Depends: nothing. Adds one measurement record.

        record("htb 100mbit", params={...}, samples={...}, derived={...}, tolerance=0.05)
    """
    entries = []
    request.node.stash[_RECORDS] = entries

    def add(name="", params=None, samples=None, derived=None, tolerance=None, state=None):
        entries.append({"name": name, "params": params or {}, "samples": samples or {},
                        "derived": derived or {}, "tolerance": tolerance, "state": state or {}})

    return add


_RECORDS = pytest.StashKey[list]()
_RETRIED = pytest.StashKey[int]()
_FIRST_TEST: list = []
_FLAKY: list = []
_STARTED = pytest.StashKey[str]()
_OUTCOME = pytest.StashKey[str]()


@pytest.fixture(autouse=True)
def _kernel_requirements(request):
    marker = request.node.get_closest_marker("requires")
    if marker:
        request.getfixturevalue("kernel").require(*marker.args)


# -- reporting --------------------------------------------------------------------------------
def pytest_sessionstart(session):
    if os.environ.get("KERNEL_LAB_IN_GUEST") == "1":
        print("kernel-lab-guest: session start", flush=True)


def pytest_runtest_logstart(nodeid, location):
    if os.environ.get("KERNEL_LAB_IN_GUEST") == "1" and not _FIRST_TEST:
        _FIRST_TEST.append(nodeid)
        print("\nkernel-lab-guest: first test", flush=True)


def pytest_runtest_setup(item):
    item.stash[_STARTED] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    exc = call.excinfo.value if call.excinfo else None
    if isinstance(exc, KernelLacks):
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {exc}")
    elif isinstance(exc, HarnessError):
        report.longrepr = f"kernel-lab: {exc}"
    previous = item.stash.get(_OUTCOME, "passed")
    if report.outcome == "failed" or previous == "failed":
        item.stash[_OUTCOME] = "failed"
    elif report.outcome == "skipped":
        item.stash[_OUTCOME] = "skipped"
    elif report.when == "call":
        item.stash[_OUTCOME] = "passed"
    if report.when == "teardown":
        _write_records(item)


def _lab_of(item) -> str:
    parts = item.path.parts
    if "labs" in parts and parts.index("labs") + 1 < len(parts) - 1:
        return parts[parts.index("labs") + 1]
    return item.path.stem


def _write_records(item):
    entries = item.stash.get(_RECORDS, None)
    st = item.config.stash.get(_STATE, {})
    rec = st.get("recorder")
    if not entries or rec is None:
        return
    ended = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
    verdict = item.stash.get(_OUTCOME, "passed")
    if verdict == "passed" and item.stash.get(_RETRIED, 0):
        verdict = "flaky"
    for i, entry in enumerate(entries):
        rec.write(_lab_of(item), item.nodeid, i, entry, verdict, item.stash.get(_STARTED, ""), ended)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """``--retries N``: run a failed test again (NIPA's retry); pass on retry = flaky."""
    retries = item.config.getoption("retries")
    if not retries:
        return None
    from _pytest.runner import runtestprotocol

    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for attempt in range(retries + 1):
        item.stash[_RETRIED] = attempt
        item.stash[_OUTCOME] = "passed"
        last = attempt == retries
        # between attempts tear down the test itself only (its parent stays set up)
        reports = runtestprotocol(item, nextitem=nextitem if last else item.parent, log=False)
        failed = any(r.failed for r in reports)
        if not failed or last:
            break
        item._initrequest()  # fresh fixtures for the next attempt
    if not failed and attempt:
        _FLAKY.append(f"{item.nodeid} (passed on attempt {attempt + 1})")
        for r in reports:
            r.user_properties.append(("flaky", attempt))
    for r in reports:
        item.ihook.pytest_runtest_logreport(report=r)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def pytest_sessionfinish(session, exitstatus):
    st = session.config.stash.get(_STATE, {})
    if "run" in st:
        from . import summary

        for table in summary.filled():
            table.write(st["run"].results_dir)
    name = session.config.getoption("baseline")
    if not name or "recorder" not in st:
        return
    from . import baseline
    from .results import load_records

    try:
        changes = baseline.compare(load_records(st["recorder"].run_dir)[0],
                                   baseline.load(st["results_root"], name))
    except HarnessError as exc:
        st["baseline_text"] = f"kernel-lab: {exc}"
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
        return
    bad = baseline.regressions(changes)
    st["baseline_text"] = baseline.render(changes) + (
        f"\n{len(bad)} regression(s) against baseline {name}" if bad
        else f"\nno regression against baseline {name}")
    if bad and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config):
    st = config.stash.get(_STATE, {})
    if _FLAKY:
        terminalreporter.write_sep("=", "kernel-lab: flaky (failed, then passed on retry)")
        for line in _FLAKY:
            terminalreporter.write_line(line)
    if st.get("baseline_text"):
        terminalreporter.write_sep("=", "kernel-lab: comparison with the baseline")
        terminalreporter.write_line(st["baseline_text"])
    from . import summary

    for table in summary.filled():
        terminalreporter.write_sep("=", f"{table.lab}: {table.title}")
        terminalreporter.write_line(table.render())
    if "recorder" not in st:
        return
    from .report import render_run

    text = render_run(st["recorder"].run_dir, fmt="md")
    if text.strip():
        terminalreporter.write_sep("=", "kernel-lab results")
        terminalreporter.write_line(text)
    terminalreporter.write_line(f"kernel-lab: records in {st['recorder'].run_dir}")
