"""``--replay-recipes``: at the end of a session that ran labs, each test function's recipe
(``state.recipe``) is replayed with iproute2 in fresh namespaces on this kernel and compared
with what the lab built (``harness.net.recipe_replay``), into ``replay.json`` in the run folder.
Inside a guest (``--kernel``) that is the guest's kernel: GRE, skbedit and the cgroup
classifier are replayed where they exist.  A recipe that does not rebuild the same lab fails
the session (the recipe is the lab's documentation, and it would be wrong)."""

from __future__ import annotations

import json
import os

import pytest

from ..net import sweeper
from ..net.recipe_replay import REPLAY_FILE, replay_records
from ..results.records import load_records
from ..run.session import Run
from .session import started


def pytest_sessionfinish(session, exitstatus):
    st = started(session.config)
    if not session.config.getoption("replay_recipes") or st is None or st.run is None:
        return  # not asked for, or no lab ran here (a host that handed the session to a guest)
    records, _ = load_records(st.run_dir, validate=False)
    replaying = Run(results_root=st.results_root, run_id=st.run_id)  # a prefix of its own
    try:
        rows = replay_records(records, replaying)
    finally:
        left = sweeper.close_run(replaying)
    with open(os.path.join(st.run_dir, REPLAY_FILE), "w") as f:
        json.dump(rows, f, indent=1)
    wrong = [row["test_id"] for row in rows if not row["equal"]]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter:
        reporter.ensure_newline()
        reporter.write_line(f"kernel-lab: {len(rows) - len(wrong)} of {len(rows)} recipes "
                            f"replayed on this kernel rebuilt the same lab ({REPLAY_FILE})"
                            + "".join(f"\n  differs: {t}" for t in wrong)
                            + "".join(f"\n  left: {p}" for p in left))
    if (wrong or left) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
