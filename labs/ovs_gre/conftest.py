"""ovs_gre's fixtures: two "hypervisor" namespaces, each running a private Open vSwitch instance
for the lab's tests (module scope: the labs after it neither see them in their topology nor
lose their recipes' replay to them), and the lab's summary table."""

import os
from dataclasses import dataclass

import pytest

from harness.lab import OVS, Lab, Namespace, summary

HEADERS = ["datapath", "configuration", "VM MTU", "traffic", "carried", "throughput",
           "datagram loss", "underlay pkts/datagram", "IP fragments created", "dropped in hypervisor"]


@dataclass
class Hypervisor:
    ns: Namespace
    ovs: OVS


@pytest.fixture(scope="module")
def hypervisors(run):
    """Two namespaces h1 and h2, each with its own ovsdb-server and ovs-vswitchd (database and
    sockets in the run's state folder, logs under results/<run>/ovs_gre/ovs/)."""
    lab = Lab(run)
    started = []
    try:
        for name in ("h1", "h2"):
            ns = lab.namespace(name)
            sw = OVS(ns, os.path.join(run.results_dir, "ovs_gre", "ovs", name))
            started.append(sw)
            sw.start()
        yield [Hypervisor(sw.ns, sw) for sw in started]
    finally:
        for sw in started:
            sw.stop()
        lab.close()


@pytest.fixture(scope="session")
def ovs_table():
    return summary.table("ovs_gre", "datapath x configuration x VM MTU", HEADERS)
