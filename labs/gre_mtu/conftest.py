"""gre_mtu's summary table: rows added by the tests, printed at the end of the session and
written to results/<run>/gre_mtu/table.md (harness.results.summary, as harness.lab.summary)."""

import pytest

from harness.lab import summary

HEADERS = ["tunnel", "inner MTU", "offloads", "traffic", "throughput", "fragments/datagram",
           "datagram loss", "IP fragments created"]


@pytest.fixture(scope="session")
def mtu_table():
    return summary.table("gre_mtu", "MTU x tunnel x offloads", HEADERS)
