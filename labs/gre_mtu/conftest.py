"""gre_mtu's summary table: rows collected by the tests, printed at the end of the session
and written to results/<run>/gre_mtu/table.md."""

import os

import pytest
from tabulate import tabulate

HEADERS = ["tunnel", "inner MTU", "offloads", "traffic", "throughput", "fragments/datagram",
           "datagram loss", "IP fragments created"]
_ROWS: list = []


@pytest.fixture(scope="session")
def mtu_table(run):
    yield _ROWS
    if _ROWS:
        folder = os.path.join(run.results_dir, "gre_mtu")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "table.md"), "w") as f:
            f.write(render() + "\n")


def render() -> str:
    return tabulate(sorted(_ROWS, key=lambda r: [str(x) for x in r]), headers=HEADERS,
                    tablefmt="github")


def pytest_terminal_summary(terminalreporter):
    if _ROWS:
        terminalreporter.write_sep("=", "gre_mtu: MTU x tunnel x offloads")
        terminalreporter.write_line(render())
