"""A kernel built from `kernel-lab kconfig` alone runs the labs: the path a kernel developer
and a bisect take.

Debian's linux-source with virtme-ng's minimal config plus the labs' fragment, built once per
machine and fragment (about 11 minutes on 2 CPUs; `kernel-lab build-kernel` reuses the tree
after that), booted as a tree.  One test of each lab, and the tests that read the harness's own
facilities (the receiver's TCP byte counter over inet_diag, packet-socket drops over
packet_diag), must pass; the guest's exit code must come back through its virtio port (the
tree has CONFIG_DEVTMPFS_MOUNT=y, which Debian's kernels do not), so the run exits 0."""

import json
import os
import sys

from harness.core.procs import run_unwinding
from test_kernels import ONE_OF_EACH, pytest_kernel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
READS_DIAG = {
    "ingress_ifb": "labs/ingress_ifb/test_ingress_ifb.py::"
                   "test_ingress_shaping_is_accurate[100mbit-iperf3-htb]",
    "ovs_gre": "labs/ovs_gre/test_ovs_gre.py::test_which_configurations_carry_traffic[netdev-a]",
}


def test_a_tree_built_from_the_fragment_runs_one_test_of_each_lab_and_exits_0(tmp_path):
    built = run_unwinding([sys.executable, "-m", "harness.cli", "build-kernel"], cwd=ROOT,
                          capture_output=True, text=True, timeout=3600)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    tree = built.stdout.strip().splitlines()[-1]
    with open(os.path.join(tree, ".config")) as f:
        config = f.read()
    for opt in ("CONFIG_INET_DIAG=y", "CONFIG_INET_TCP_DIAG=y", "CONFIG_PACKET_DIAG=y",
                "CONFIG_DEVTMPFS_MOUNT=y"):
        assert opt in config.splitlines(), opt
    r = pytest_kernel(tmp_path, "--kernel", tree, *ONE_OF_EACH.values(), *READS_DIAG.values(),
                      timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "did not reach the host" not in r.stderr and "virtio port" not in r.stderr
    (guest,) = [p for p in (tmp_path / "k").iterdir() if p.is_dir()]
    vm = json.loads((guest / "vm.json").read_text())
    assert vm["rc"] == 0 and vm["vng_rc"] == 0 and vm["rc_source"] == "file", vm
    records = [json.loads(p.read_text()) for p in guest.glob("*/*.json")]
    assert {rec["lab"] for rec in records} == set(ONE_OF_EACH)
    assert all(rec["verdict"] == "passed" for rec in records), \
        [(rec["name"], rec["verdict"], rec["reason"]) for rec in records]
    shaped = [rec for rec in records if rec["name"] == "htb 100mbit iperf3"]
    assert shaped and abs(shaped[0]["derived"]["goodput_error"]) < 0.01
    console = (guest / "console.log").read_text(errors="replace")
    assert "preinit: mount /dev" not in console
