"""The end of a session on the terminal: flaky tests, teardown problems, the baseline
comparison, the labs' summary tables and the run's results table."""

from __future__ import annotations

from ..report.render import render_run
from ..results import summary
from .options import IN_GUEST, STATE
from .verdicts import flaky


def pytest_terminal_summary(terminalreporter, config):
    st = config.stash.get(STATE, {})
    if flaky():
        terminalreporter.write_sep("=", "kernel-lab: flaky (failed, then passed on retry)")
        for line in flaky():
            terminalreporter.write_line(line)
    if st.get("problems"):
        terminalreporter.write_sep("=", "kernel-lab: left as it was found, or not removable")
        for line in st["problems"]:
            terminalreporter.write_line(line)
    if st.get("baseline_text"):
        terminalreporter.write_sep("=", "kernel-lab: comparison with the baseline")
        terminalreporter.write_line(st["baseline_text"])
    for table in summary.filled():
        terminalreporter.write_sep("=", f"{table.lab}: {table.title}")
        terminalreporter.write_line(table.render())
    if "recorder" not in st:
        return
    text = render_run(st["recorder"].run_dir, fmt="md", validate=not IN_GUEST)
    if text.strip():
        terminalreporter.write_sep("=", "kernel-lab results")
        terminalreporter.write_line(text)
    terminalreporter.write_line(f"kernel-lab: records in {st['recorder'].run_dir}")
