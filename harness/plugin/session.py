"""The state a pytest session of kernel-lab shares between the plugin's parts, typed.

Decided once per session (:func:`session_state`; a pytest-xdist worker takes its controller's
run id), filled as the session goes: the run (the ``run`` fixture), its recorder, the problems
teardown found, the baseline comparison's text.
"""

from __future__ import annotations

import datetime as _dt
import os
import secrets
from dataclasses import dataclass, field

import pytest

from ..core.paths import check_run_id


@dataclass
class SessionState:
    run_id: str
    results_root: str
    run_dir: str
    rates: list[int] | None = None  # --rates, parsed
    run: object = None  # harness.run.session.Run, once the run fixture made it
    recorder: object = None  # harness.results.records.Recorder, with the run
    problems: list[str] = field(default_factory=list)  # teardown: left as found, or not removable
    baseline_text: str = ""  # the comparison with --baseline, for the terminal
    topologies: set = field(default_factory=set)  # test functions whose lab was read back


STATE = pytest.StashKey[SessionState]()


def session_state(config) -> SessionState:
    """The session's state (made on first use)."""
    if STATE not in config.stash:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        run_id = check_run_id(getattr(config, "workerinput", {}).get("kernel_lab_run_id")
                              or config.getoption("run_id") or f"{stamp}-{secrets.token_hex(2)}")
        root = config.getoption("results")
        if not os.path.isabs(root):
            root = os.path.join(str(config.rootpath), root)
        config.stash[STATE] = SessionState(run_id, root, os.path.join(root, run_id))
    return config.stash[STATE]


def started(config) -> SessionState | None:
    """The state if the session made one (a session that never got that far has none)."""
    return config.stash.get(STATE, None)
