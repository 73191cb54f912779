"""The end of a session on the terminal: flaky tests, teardown problems, the baseline
comparison, the labs' summary tables and the run's results table.  At collection, each lab's
``slides.toml`` is checked against the figures its code declared (a path naming no figure is
an error before anything runs)."""

from __future__ import annotations

import os

import pytest

from ..core.errors import HarnessError
from ..report import presentation
from ..report.render import render_run
from ..results import summary
from .options import IN_GUEST, lab_of
from .session import started
from .verdicts import flaky


def pytest_collection_finish(session):
    labs = {}
    for item in session.items:
        parts = item.path.parts
        if "labs" in parts and not getattr(item, "is_kernel_lab_cell", False):
            labs[lab_of(item)] = os.path.join(*parts[:parts.index("labs") + 1])
    for lab, folder in sorted(labs.items()):
        try:
            presentation.load(lab, labs_dir=folder, strict=True)
        except HarnessError as exc:
            raise pytest.UsageError(f"kernel-lab: {exc}") from None


def pytest_terminal_summary(terminalreporter, config):
    st = started(config)
    if st is None:
        return
    if flaky():
        terminalreporter.write_sep("=", "kernel-lab: flaky (failed, then passed on retry)")
        for line in flaky():
            terminalreporter.write_line(line)
    if st.problems:
        terminalreporter.write_sep("=", "kernel-lab: left as it was found, or not removable")
        for line in st.problems:
            terminalreporter.write_line(line)
    if st.baseline_text:
        terminalreporter.write_sep("=", "kernel-lab: comparison with the baseline")
        terminalreporter.write_line(st.baseline_text)
    for table in summary.filled():
        terminalreporter.write_sep("=", f"{table.lab}: {table.title}")
        terminalreporter.write_line(table.render())
    if st.recorder is None:
        return
    text = render_run(st.recorder.run_dir, fmt="md", validate=not IN_GUEST)
    if text.strip():
        terminalreporter.write_sep("=", "kernel-lab results")
        terminalreporter.write_line(text)
    terminalreporter.write_line(f"kernel-lab: records in {st.recorder.run_dir}")
