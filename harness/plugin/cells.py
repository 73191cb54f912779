"""Cells: the kernel x lab matrix as pytest items, so existing engines run it.

    pytest --kernel running,debian:trixie labs/          # 2 kernels x 4 labs = 8 cells, in turn
    pytest -n 2 --kernel debian:bookworm,debian:sid labs/  # two at once (pytest-xdist)
    pytest --cells --shard 2/4 --kernel a,b,c labs/       # this machine's quarter of the cells

With several kernels, ``-n N``, ``--shard`` or ``--cells``, the lab tests pytest selected (``-k``
and ``-m`` apply) are grouped per lab, and each (kernel, lab) becomes one item: a cell, run by
:func:`harness.orchestrate.cells.run_cell` as a pytest session of its own (booted with
virtme-ng for any kernel but the running one) into ``<run>/<lab>/<release>/``.  pytest-xdist
distributes the cells over its workers, longest first; every worker writes into the same run.
kernel-lab's own options (``--rates``, ``--retries``, ``--repeat``, ``--modprobe``, ``--nics``,
...) are passed on to every cell; at the end the run gets one JUnit suite per kernel, KTAP and
KCIDB files (harness.report.exports) and a table per kernel on the terminal.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict

import pytest

from ..core.errors import HarnessError
from ..orchestrate.cells import (CellSpec, by_kernel, dealt, longest_first, parse_shard,
                                 previous_durations, run_cell, shard, summary_table)
from ..report.exports import write_exports
from ..results.cellfiles import CELL_LOG, read_cells, write_plan
from .options import cells_wanted, kernels_of
from .session import session_state
from .recording import lab_of

DURATIONS = pytest.StashKey[dict]()
#: kernel-lab options every cell's session gets as they were given: dest -> flag
FORWARDED = {"rates": "--rates", "modprobe": "--modprobe", "nics": "--nics", "vm_net": "--vm-net",
             "nic": "--nic", "force_nic": "--force-nic", "repeat": "--repeat",
             "retries": "--retries", "modules": "--modules", "inject_fault": "--inject-fault",
             "capture_rings": "--capture-rings", "evidence_until_compare": "--evidence-until-compare",
             "sweep": "--sweep"}
_DEFAULTS = {"repeat": 1, "retries": 0, "capture_rings": "auto"}


def pytest_addoption(parser):
    g = parser.getgroup("kernel-lab")
    g.addoption("--cells", action="store_true",
                help="run the labs as kernel x lab cells, each a session of its own (implied by "
                     "several --kernel, -n N or --shard)")
    g.addoption("--shard", default=None, metavar="I/N",
                help="run only shard I of N of the kernel x lab cells (the same split on every "
                     "machine; kernel-lab merge joins the shards' run folders)")


def forwarded_args(config) -> list[str]:
    args = []
    if config.pluginmanager.has_plugin("harness.plugin.faults"):
        args += ["-p", "harness.plugin.faults"]
    for dest, flag in FORWARDED.items():
        value = config.getoption(dest, default=None)
        if value in (None, False, [], _DEFAULTS.get(dest)):
            continue
        if value is True:
            args.append(flag)
        elif isinstance(value, list):
            for v in value:
                args += [flag, str(v)]
        else:
            args += [flag, str(value)]
    return args


def pytest_configure(config):
    if not cells_wanted(config) or hasattr(config, "workerinput"):
        return
    if config.getoption("baseline"):
        raise pytest.UsageError("kernel-lab: --baseline compares one kernel's run; for cells "
                                "use kernel-lab nightly --baseline NAME (one baseline per kernel)")
    if config.getoption("shard"):
        try:
            parse_shard(config.getoption("shard"))
        except HarnessError as exc:
            raise pytest.UsageError(f"kernel-lab: {exc}") from None
    config.stash[DURATIONS] = previous_durations(session_state(config).results_root)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """pytest-xdist: every worker writes into the controller's run and orders the cells alike."""
    config = node.config
    node.workerinput["kernel_lab_run_id"] = session_state(config).run_id
    node.workerinput["kernel_lab_cells"] = cells_wanted(config)
    node.workerinput["kernel_lab_durations"] = json.dumps(config.stash.get(DURATIONS, {}))
    # a worker's own options say dist "no": the controller's scheduler is what it deals for
    node.workerinput["kernel_lab_dist"] = config.getoption("dist", None)
    node.workerinput["kernel_lab_maxschedchunk"] = config.getoption("maxschedchunk", None)


def _durations(config) -> dict:
    if hasattr(config, "workerinput"):
        return json.loads(config.workerinput.get("kernel_lab_durations") or "{}")
    return config.stash.get(DURATIONS, {})


class CellFailed(Exception):
    def __init__(self, message: str, result: dict):
        super().__init__(message)
        self.result = result


class CellItem(pytest.Item):
    """One kernel x lab cell: the lab's selected tests, on one kernel, as a session of its own."""

    is_kernel_lab_cell = True

    def __init__(self, *, spec: CellSpec, tests: list[str], **kwargs):
        super().__init__(**kwargs)
        self.spec, self.tests, self.result = spec, tests, None

    def runtest(self):
        config = self.config
        st = session_state(config)
        jobs = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
        self.result = r = run_cell(self.spec, self.tests, st.results_root, st.run_id,
                                   config.getoption("vm_timeout"), forwarded_args(config),
                                   jobs=jobs, cwd=str(config.rootpath))
        self.user_properties.append(("cell_folder", r["folder"]))
        if r["error"]:
            raise CellFailed(f"cell {self.spec.id} could not run: {r['error']}", r)
        if r["rc"] != 0:
            raise CellFailed(f"cell {self.spec.id}: its session exited with {r['rc']}", r)

    def repr_failure(self, excinfo, style=None):
        if not isinstance(excinfo.value, CellFailed):
            return super().repr_failure(excinfo, style)
        r, tail = excinfo.value.result, ""
        log = os.path.join(session_state(self.config).run_dir, r.get("folder", ""), CELL_LOG)
        try:
            with open(log, errors="replace") as f:
                tail = "".join(f.readlines()[-40:])
        except OSError:
            pass
        return f"kernel-lab: {excinfo.value}\n{tail}"

    def reportinfo(self):
        return self.path, None, f"cell {self.spec.id}"


@pytest.hookimpl(trylast=True)  # after -k / -m deselected what they deselect
def pytest_collection_modifyitems(session, config, items):
    if not cells_wanted(config):
        return
    labs: OrderedDict[str, list[str]] = OrderedDict()
    others = []
    for item in items:
        if "labs" in item.path.parts[:-1]:
            labs.setdefault(lab_of(item), []).append(item.nodeid)
        else:
            others.append(item)
    every = [CellSpec(k, lab) for k in kernels_of(config) for lab in labs]
    cells = every
    if config.getoption("shard"):
        cells = shard(every, *parse_shard(config.getoption("shard")))
    cells = longest_first(cells, _durations(config))
    if hasattr(config, "workerinput") and config.workerinput.get("kernel_lab_dist") == "load":
        cells = dealt(cells, int(config.workerinput.get("workercount", 1)),
                      config.workerinput.get("kernel_lab_maxschedchunk"))
    # every xdist worker collects the same cells and writes the same plan
    write_plan(session_state(config).run_dir,
               {"kernels": kernels_of(config), "labs": list(labs),
                "shard": config.getoption("shard"), "all": sorted(c.id for c in every),
                "cells": sorted(c.id for c in cells)})
    items[:] = others + [CellItem.from_parent(session, name=c.id, spec=c, tests=labs[c.lab])
                         for c in cells]


def _ran_cells(config) -> list[dict]:
    if not cells_wanted(config) or hasattr(config, "workerinput"):
        return []
    run_dir = session_state(config).run_dir
    return read_cells(run_dir) if os.path.isdir(run_dir) else []


def pytest_sessionfinish(session, exitstatus):
    if _ran_cells(session.config):
        write_exports(session_state(session.config).run_dir)


def pytest_terminal_summary(terminalreporter, config):
    cells = _ran_cells(config)
    if not cells:
        return
    terminalreporter.write_sep("=", "kernel-lab cells, per kernel")
    terminalreporter.write_line(summary_table(by_kernel(cells, kernels_of(config))))
    terminalreporter.write_line(f"kernel-lab: run in {session_state(config).run_dir} "
                                "(junit.xml: one suite per kernel; results.ktap; kcidb.json)")
