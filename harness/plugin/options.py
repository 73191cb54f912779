"""Options and markers of kernel-lab, and the run's id and folders (decided once per session).
``--retries N`` drives pytest-rerunfailures (``--reruns``; a kernel splat is never retried) and
``--repeat N`` drives pytest-repeat (``--count``); both are ours so the spelling stays one.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import pytest

from ..core.errors import HarnessError
from ..results.baseline import baseline_path
from ..core.units import parse_rate, rate_label
from ..core import env
from .session import STATE, session_state

IN_GUEST = env.in_guest()


def pytest_addoption(parser):
    g = parser.getgroup("kernel-lab")
    g.addoption("--results", default=env.get("KERNEL_LAB_RESULTS"),
                help="results root folder (default: results)")
    g.addoption("--run-id", default=env.get("KERNEL_LAB_RUN_ID") or None,
                help="name of the run folder (default: timestamp + prefix)")
    g.addoption("--kernel", default=None, metavar="KERNEL",
                help="boot KERNEL with virtme-ng and run this selection inside it: an image, a "
                     "release in /boot, debian:SUITE[=VERSION], or a built kernel tree")
    g.addoption("--modules", default=None, metavar="DIR",
                help="with --kernel IMAGE: its modules, as `make modules_install "
                     "INSTALL_MOD_PATH=DIR` laid them out")
    g.addoption("--capture-rings", choices=["auto", "on", "off"], default="auto", help="capture "
                "lab links in bounded rings kept when a test fails (auto: off in our guests)")
    g.addoption("--evidence-until-compare", action="store_true", help="keep a passed test's "
                "evidence until a baseline comparison (implied by --baseline; nightly sets it)")
    g.addoption("--vm-timeout", type=float, default=1800.0,
                help="seconds a --kernel run may take before it is stopped")
    g.addoption("--rates", default=None, metavar="R1,R2",
                help="shaping rates for labs that take them, e.g. 10mbit,100mbit")
    g.addoption("--replay-recipes", action="store_true",
                help="at the end, replay each test function's recipe (state.recipe) with "
                     "iproute2 in fresh namespaces on this kernel and compare what the kernel "
                     "reports with the lab's own build: replay.json in the run folder")
    g.addoption("--sweep", action="store_true",
                help="run each lab's full sweep, not its quick default selection (rate_limiters: "
                     "every limiter at 10, 100 and 1000 Mbit/s, small and large bursts, MTU 9000, "
                     "8 flows)")
    g.addoption("--modprobe", action="store_true",
                help="allow loading kernel modules on the host (a load changes the root "
                     "namespace: ifb0, gre0, ...); inside a --kernel guest it is always allowed")
    g.addoption("--nics", default=None, metavar="A,B",
                help="two interfaces cabled back to back (names or MAC addresses): the labs' "
                     "pair runs over them instead of a veth pair; given back as found")
    g.addoption("--vm-net", default=None, choices=["loop"],
                help="with --kernel: give the guest NICs (loop: two virtio-net cabled to each "
                     "other, for --nics inside the guest)")
    g.addoption("--nic", default=None, metavar="IFACE",
                help="a real NIC for labs that use one (the `nic` fixture); never implied")
    g.addoption("--force-nic", action="store_true",
                help="allow --nic/--nics to take the interface with the default route or the "
                     "machine's address")
    g.addoption("--repeat", type=int, default=1, metavar="N",
                help="run each test N times (pytest-repeat); records keep every sample")
    g.addoption("--retries", type=int, default=0, metavar="N",
                help="retry a failed test up to N times (pytest-rerunfailures); a pass on retry "
                     "is labelled flaky, every attempt keeps its record")
    g.addoption("--baseline", default=None, metavar="NAME",
                help="compare this run with results/baselines/NAME.json; a regression fails the run")
    g.addoption("--baseline-allow-missing", action="store_true",
                help="a measurement of the baseline that this run lacks (or that failed or was "
                     "skipped) is reported but not counted as a regression")


def pytest_configure(config):
    config.addinivalue_line("markers", "requires(*features): kernel features a test needs "
                                       "(missing: skipped, naming the CONFIG option)")
    config.addinivalue_line("markers", "uses(*features): kernel features a test takes when "
                                       "present (kernel-lab kconfig lists them)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    for name, least in (("repeat", 1), ("retries", 0)):
        if config.getoption(name) is not None and config.getoption(name) < least:
            raise pytest.UsageError(f"kernel-lab: --{name} {config.getoption(name)}: must be at "
                                    f"least {least}")
    try:
        state = session_state(config)
        if config.getoption("baseline"):
            baseline_path(state.results_root, config.getoption("baseline"))
    except HarnessError as exc:
        raise pytest.UsageError(f"kernel-lab: {exc}") from None
    if config.getoption("rates"):
        try:
            state.rates = [parse_rate(r) for r in config.getoption("rates").split(",")]
        except HarnessError as exc:
            raise pytest.UsageError(f"kernel-lab: {exc}") from None
    if getattr(config.option, "xmlpath", None) is None and (not config.getoption("kernel")
                                                             or cells_wanted(config)):
        # cells: the run's junit.xml is written at the end with one suite per kernel
        config.option.xmlpath = os.path.join(state.run_dir, "cells.junit.xml" if
                                             cells_wanted(config) else "junit.xml")
    _drive_plugin(config, "retries", "rerunfailures", "pytest-rerunfailures", "reruns",
                  rerun_except=["KernelSplat"])
    _drive_plugin(config, "repeat", "repeat", "pytest-repeat", "count")


def _drive_plugin(config, ours: str, plugin: str, package: str, theirs: str, **more) -> None:
    n = config.getoption(ours)
    if n is None or n <= (1 if ours == "repeat" else 0) or config.getoption("kernel"):
        return  # a --kernel run passes the option on to the guest's session
    if ours == "retries" and cells_wanted(config):
        return  # each cell's session retries its tests; a cell itself is never rerun
    # autoloaded through its entry point it is "repeat"; loaded with -p (a guest, where plugin
    # autoload is off) it goes by its module's name, "pytest_repeat"
    if not any(config.pluginmanager.hasplugin(name) for name in (plugin, package.replace("-", "_"))):
        raise pytest.UsageError(f"kernel-lab: --{ours} needs {package} (pip install {package})")
    setattr(config.option, theirs, n)
    for key, value in more.items():
        setattr(config.option, key, value)


def kernels_of(config) -> list[str]:
    """The kernels of ``--kernel a,b,...`` (default: the running one)."""
    spec = config.getoption("kernel") or "running"
    return [k.strip() for k in spec.split(",") if k.strip()]


def cells_wanted(config) -> bool:
    """This session runs kernel x lab cells (harness.plugin.cells): several kernels, ``-n N``,
    ``--shard`` or ``--cells``.  The controller decides; a pytest-xdist worker is told."""
    if IN_GUEST:
        return False
    if hasattr(config, "workerinput"):
        return bool(config.workerinput.get("kernel_lab_cells"))
    return bool(config.getoption("cells", default=False) or config.getoption("shard", default=None)
                or len(kernels_of(config)) > 1 or getattr(config.option, "numprocesses", None))


def sweep(config) -> bool:
    """``--sweep``: the lab's full sweep is wanted."""
    return bool(config.getoption("sweep", default=False))


def shaping_rates(config, default: list[str]) -> list[str]:
    """The rates a lab shapes at: ``--rates`` if given, else the lab's own list."""
    rates = session_state(config).rates
    return [rate_label(r) for r in rates] if rates else list(default)


def link_latest(root: str, run_id: str) -> None:
    """``results/latest`` -> the newest run (the host's; a guest's folder is inside it)."""
    if IN_GUEST:
        return
    link = os.path.join(root, "latest")
    target = run_id.split("/")[0]  # a cell's run id is <run>/<lab>[/<release>]
    try:
        if os.path.islink(link):
            if os.readlink(link) == target:
                return
            os.unlink(link)
        os.symlink(target, link)
    except OSError:
        pass


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """A session that ran no test (``--collect-only``, a selection that deselects everything,
    a collection error) leaves no run behind: the JUnit file this plugin asked for goes, and
    so does the run folder if nothing else is in it (``results/latest`` only ever moves when a
    test starts a run, harness.plugin.fixtures.run)."""
    config = session.config
    if hasattr(config, "workerinput") or IN_GUEST or STATE not in config.stash:
        return
    run_dir = config.stash[STATE].run_dir
    xml = getattr(config.option, "xmlpath", None)
    if not xml or os.path.dirname(os.path.abspath(xml)) != os.path.abspath(run_dir):
        return
    try:  # the JUnit file says whether any test ran (under pytest-xdist too)
        if next(ET.parse(xml).getroot().iter("testcase"), None) is not None:
            return
        os.unlink(xml)
    except (OSError, ET.ParseError):
        return
    try:
        os.rmdir(run_dir)  # only when empty
    except OSError:
        pass


def lab_of(item) -> str:
    parts = item.path.parts  # the folder under labs/ (else the file's name)
    if "labs" in parts and parts.index("labs") + 1 < len(parts) - 1:
        return parts[parts.index("labs") + 1]
    return item.path.stem
