"""``--kernel IMAGE``: the session runs inside a booted kernel instead of here.

On the host, pytest_cmdline_main hands the whole selection to ``harness.vm.launch`` and returns
the guest's exit code.  The host side holds a run of its own whose registry names vng (and so
the QEMU below it): stopped with SIGTERM it stops the guest, killed outright it leaves the
guest to the sweeper, never running on its own.  Inside the guest (``KERNEL_LAB_IN_GUEST=1``)
this part prints the marks
the host times the boot with, and keeps ``running-test`` in the guest's results folder up to
date, so that a kernel panic names the test that was running.
"""

from __future__ import annotations

import os
import sys

import pytest

from ..core.errors import HarnessError
from ..net.sweeper import close_run
from ..run.session import Run
from ..vm.guest import GUEST_MARK
from ..vm.kernels import resolve
from ..vm.launch import RUNNING_TEST, run_in_guest
from .options import IN_GUEST, cells_wanted, link_latest
from .session import session_state

_FIRST_TEST: list = []


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    spec = config.getoption("kernel")
    if not spec or IN_GUEST or cells_wanted(config):
        return None  # cells (harness.plugin.cells) boot their kernels each
    try:
        kernel = resolve(spec, modules=config.getoption("modules"))
    except HarnessError as exc:
        print(f"kernel-lab: {exc}", file=sys.stderr)
        return 4
    if kernel.kind == "running":
        print("kernel-lab: --kernel running is this kernel: run pytest without --kernel",
              file=sys.stderr)
        return 4
    st = session_state(config)
    os.makedirs(st.run_dir, exist_ok=True)
    link_latest(st.results_root, st.run_id)
    run = Run(results_root=st.results_root, run_id=st.run_id)
    try:
        return run_in_guest(kernel, list(config.invocation_params.args), st.run_dir,
                            config.getoption("vm_timeout"), rootdir=str(config.rootpath),
                            network=config.getoption("vm_net"),
                            started=lambda pid: run.add_process(pid, "vng (the guest's QEMU)"))
    finally:
        for problem in close_run(run):
            print(f"kernel-lab: {problem}", file=sys.stderr)


def pytest_sessionstart(session):
    if IN_GUEST:
        print(f"{GUEST_MARK} session start", flush=True)


def _running(config, nodeid: str) -> None:
    path = os.path.join(session_state(config).run_dir, RUNNING_TEST)
    try:
        with open(path, "w") as f:
            f.write(nodeid)
    except OSError:
        pass


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    if IN_GUEST:
        if not _FIRST_TEST:
            _FIRST_TEST.append(item.nodeid)
            print(f"\n{GUEST_MARK} first test", flush=True)
        _running(item.config, item.nodeid)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if IN_GUEST:
        _running(session.config, "")
