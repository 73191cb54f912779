"""The fixtures labs are built from.  Each does one thing and names what it depends on.

| fixture    | scope    | depends on           | gives                                             |
|------------|----------|----------------------|---------------------------------------------------|
| run        | session  | -                    | the run: prefix, registry, results folder         |
| kernel     | session  | run                  | capabilities of the kernel under test             |
| lab        | function | run                  | a topology unwound (LIFO) after the test          |
| pair       | function | lab, kernel          | namespaces a and b joined by a veth pair          |
| ifb        | function | lab, kernel, pair    | an ifb device in pair.b's namespace               |
| nic        | function | lab                  | the NIC named with --nic, given back afterwards   |

Traffic fixtures (iperf3, netperf, capacity) are in ``harness.plugin.traffic``.

Marker: ``@pytest.mark.requires("gre", ...)`` skips, naming the CONFIG option, when the kernel
lacks a feature (harness.kernel.features lists them).
"""

from __future__ import annotations

import datetime as _dt
import os
import platform

import pytest

from ..core.errors import HarnessError
from ..kernel.capabilities import Kernel
from ..kernel.features import HARNESS_FEATURES
from ..kernel.config import config_digest, read_config
from ..kernel.modules import ModuleLoader
from ..net import sweeper
from ..net.nic import borrow, borrow_pair
from ..net.snapshot import snapshot
from ..net.topology import Lab
from ..results.records import Recorder, host_facts, run_conditions, tool_versions
from ..run.session import Run
from .options import IN_GUEST, link_latest
from .session import session_state
from .recording import NICS, RECIPE, TOPOLOGY
from ..core import env


#: kernel features a fixture needs (``kernel-lab kconfig`` reads this too)
FIXTURE_FEATURES = {"pair": ("veth",), "ifb": ("ifb",), "capacity": ("veth",)}


@pytest.fixture(scope="session")
def run(request):
    """Name: run. Scope: session. Depends: nothing. The run; its objects are gone at the end
    (dead runs' leftovers are swept first).

        def test_x(run): run.name("va")   # 'kl3fa9-va'
    """
    if os.geteuid() != 0:
        pytest.exit("kernel-lab labs need root (network namespaces, tc)", returncode=4)
    st = session_state(request.config)
    swept = sweeper.sweep()
    the_run = Run(results_root=st.results_root, run_id=st.run_id)
    recorder = Recorder(the_run.results_dir, {
        "run_id": the_run.run_id, "prefix": the_run.prefix, "kernel": kernel_info(),
        "host": host_facts(), "conditions": run_conditions(), "tools": tool_versions(),
        "swept_before_start": swept,
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }, validate=not IN_GUEST)  # a guest's records are checked by the host when it returns
    recorder.write_meta()
    st.recorder, st.run = recorder, the_run
    link_latest(st.results_root, the_run.run_id)
    try:
        yield the_run
    finally:
        problems = sweeper.close_run(the_run)
        st.problems = st.problems + problems
        recorder.write_meta(teardown_problems=st.problems,
                            ended=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))


def keep_topology(item, run) -> None:
    seen = session_state(item.config).topologies
    key = (item.path, item.originalname)
    if key not in seen:
        seen.add(key)
        item.stash[TOPOLOGY] = snapshot(run)


def kernel_info() -> dict:
    cfg, source = read_config()
    return {"release": platform.release(), "version": platform.version(),
            "config_source": source, "config_digest": config_digest(cfg),
            "where": "vm" if IN_GUEST else "host",
            "image": env.get("KERNEL_LAB_IMAGE"), "spec": env.get("KERNEL_LAB_SPEC")}


@pytest.fixture(scope="session")
def kernel(request, run):
    """Name: kernel. Scope: session. Depends: run. What the kernel under test can do; loads
    modules only inside a guest or with --modprobe, and at the end removes what its loads
    created and it can remove (the rest is named in run.json and printed).

        def test_x(kernel): kernel.require("gre")   # skips naming CONFIG_NET_IPGRE
    """
    loader = ModuleLoader(allowed=IN_GUEST or request.config.getoption("modprobe"))
    k = Kernel(probe_namespace=run.scratch_namespace("probe"), modules=loader)
    k.require(*HARNESS_FEATURES)  # what the harness itself reads (sock_diag): skip or fail here
    yield k
    st = session_state(request.config)
    stays = loader.remove_leftovers()
    if loader.log:
        st.recorder.write_meta(module_loads=loader.log)
    for dev in stays:
        st.problems.append(
            f"modprobe {dev['module']} created {dev['name']} ({dev['kind']}) in the root "
            f"namespace, which the run cannot remove: {dev['kept']}")


@pytest.fixture
def lab(request, run):
    """Name: lab. Scope: function. Depends: run. A topology unwound (LIFO) after the test;
    before that, the first test of each test function has what it built read back over
    netlink (its record keeps it: ``state.topology``, drawn in the report).  Every test's first
    record keeps the ip/tc commands equal to what it built (``state.recipe``,
    harness.net.recipe).

        def test_x(lab): a = lab.namespace("a")
    """
    the_lab = Lab(run)
    try:
        yield the_lab
        keep_topology(request.node, run)
    finally:
        request.node.stash[RECIPE] = list(the_lab.recipe.lines)
        failures = the_lab.close()
        if failures:
            raise HarnessError("teardown left objects behind: " + "; ".join(failures))


def make_pair(config, lab, kernel, names=("a", "b")):
    """A veth pair, or the two NICs named with ``--nics`` (harness.net.nic.borrow_pair)."""
    idents = config.getoption("nics")
    if idents:
        return borrow_pair(lab, [i.strip() for i in idents.split(",") if i.strip()],
                           force=config.getoption("force_nic"))
    kernel.require(*FIXTURE_FEATURES["pair"])
    return lab.veth_pair(lab.namespace(names[0]), lab.namespace(names[1]))


@pytest.fixture
def pair(request, lab, kernel):
    """Name: pair. Scope: function. Depends: lab, kernel. Namespaces a and b joined by a veth
    pair (or by the two NICs of ``--nics``, cabled back to back), 198.18.1.1/24 <->
    198.18.1.2/24, MTU 1500.  Over NICs, every record of the test says which ones and their
    driver, firmware, speed and offloads (``state.nics``).

        def test_x(pair): pair.a.ns, pair.b.link, pair.b.ip4
    """
    the_pair = make_pair(request.config, lab, kernel)
    if the_pair.nics:
        request.node.stash[NICS] = the_pair.nics
    return the_pair


@pytest.fixture
def ifb(lab, kernel, pair):
    """Name: ifb. Scope: function. Depends: kernel, lab, pair. An ifb device in b's namespace.

        def test_x(pair, ifb): ingress_redirect(pair.b.link, to=ifb)
    """
    kernel.require(*FIXTURE_FEATURES["ifb"])
    return lab.ifb(pair.b.ns, kernel=kernel)


@pytest.fixture
def nic(request, lab):
    """Name: nic. Scope: function. Depends: lab. The NIC named with ``--nic``, moved into a lab
    namespace as ``<prefix>nic`` for the test and given back afterwards exactly as it was
    (name, namespace, MTU, up/down, addresses, offloads; see harness.net.nic).  Without
    ``--nic`` a test that asks for it is skipped: a real NIC is used only when named.

        def test_x(nic): nic.ns, nic.name
    """
    name = request.config.getoption("nic")
    if not name:
        pytest.skip("no --nic IFACE given (a real NIC is used only when named)")
    return borrow(lab.run, name, lab.namespace("nic"), lab.defer,
                  force=request.config.getoption("force_nic"))


@pytest.fixture(autouse=True)
def _kernel_requirements(request):
    """``requires`` marks on the test, its class, module or parameters: all of them."""
    names = [a for m in request.node.iter_markers("requires") for a in m.args]
    if names:
        request.getfixturevalue("kernel").require(*names)
