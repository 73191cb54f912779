"""Kernels from anywhere: Debian kernels fetched by name (6.12, 7.2) run a test of each lab
with their own modules; an image plus a modules folder boots the same way; `kernel-lab lab`
runs what the running kernel lacks inside a kernel that has it."""

import json
import os
import sys
import textwrap


from harness.core.procs import run_unwinding
from harness.vm.kernels import resolve

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ONE_OF_EACH = {
    "ingress_ifb": "labs/ingress_ifb/test_ingress_ifb.py::test_traffic_goes_through_the_ifb",
    "gre_mtu": "labs/gre_mtu/test_gre_mtu.py::test_overhead_sets_the_largest_unfragmented_packet[gre]",
    "ovs_gre": "labs/ovs_gre/test_ovs_gre.py::test_gre_port_is_a_vport_not_a_device[system]",
    "netlink_kinds": "labs/netlink_kinds/test_netlink_kinds.py::"
                     "test_gre_devices_configured_and_read_back_over_netlink[gretap]",
    "rate_limiters": "labs/rate_limiters/test_rate_limiters.py::"
                     "test_limiter_holds_its_rate[20mbit-1flow-mtu1500-hfsc]",
}


def pytest_kernel(tmp_path, *args, timeout=900):
    return run_unwinding([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--results",
                          str(tmp_path), "--run-id", "k", *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=timeout)


def guest_folder(tmp_path, release):
    return tmp_path / "k" / release


def loaded_modules(folder) -> set:
    meta = json.loads((folder / "run.json").read_text())
    return {e["argv"][1] for e in meta.get("module_loads", []) if e["rc"] == 0}


def one_of_each_passed(folder, release) -> list:
    records = [json.loads(p.read_text()) for p in folder.rglob("*.json")
               if p.parent != folder]
    assert {rec["lab"] for rec in records} == set(ONE_OF_EACH)
    assert all(rec["verdict"] == "passed" for rec in records)
    assert {rec["kernel"]["release"] for rec in records} == {release}
    # the kernel's own modules, loaded the classic way inside the guest (openvswitch is
    # loaded by ovs-vswitchd itself when it creates the kernel datapath)
    assert {"ifb", "ip_gre"} <= loaded_modules(folder)
    return records


def test_one_test_of_each_lab_passes_in_a_debian_kernel_named_by_suite(tmp_path):
    """7.2 by its suite's name; 6.12 runs the same tests below, as an image and a modules
    folder (one boot of each: a boot of 6.12 by name as well cost make test 3.5 minutes and
    takes the same path as sid's)."""
    spec = "debian:sid"
    kernel = resolve(spec)  # fetched into the cache once (apt with kernel-lab's own lists)
    r = pytest_kernel(tmp_path, "--kernel", spec, *ONE_OF_EACH.values())
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    records = one_of_each_passed(guest_folder(tmp_path, kernel.release), kernel.release)
    assert {rec["kernel"]["spec"] for rec in records} == {spec}
    again = []
    assert resolve(spec, log=again.append).release == kernel.release and again == []  # cached


def test_an_image_with_a_modules_folder_boots_with_those_modules(tmp_path):
    """The layout a CI job's ``make modules_install INSTALL_MOD_PATH=DIR`` writes: here the
    fetched 6.12's (``debian:trixie``) unpacked packages stand in for DIR."""
    trixie = resolve("debian:trixie")
    r = pytest_kernel(tmp_path, "--kernel", trixie.image, "--modules", trixie.modules_root,
                      *ONE_OF_EACH.values())
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    folder = guest_folder(tmp_path, trixie.release)
    one_of_each_passed(folder, trixie.release)
    vm = json.loads((folder / "vm.json").read_text())
    assert vm["kernel"]["kind"] == "image+modules"


def test_a_kernel_that_cannot_be_had_is_one_line(tmp_path):
    r = pytest_kernel(tmp_path, "--kernel", "debian:potato", ONE_OF_EACH["ingress_ifb"])
    assert r.returncode == 4
    assert r.stderr.strip().splitlines() == [
        "kernel-lab: unknown Debian suite 'potato' in 'debian:potato': one of bookworm, "
        "bookworm-backports, sid, trixie, unstable"]


LAB_HALF_HERE = textwrap.dedent("""
    import pytest

    def test_runs_anywhere(record):
        record("anywhere")

    @pytest.mark.requires("gre")
    def test_needs_gre(kernel, record):
        record("gre here", params={"release": kernel.release})
""")


def test_kernel_lab_lab_runs_what_this_kernel_lacks_in_a_kernel_that_has_it(tmp_path):
    lab = tmp_path / "labs" / "half"
    lab.mkdir(parents=True)
    (lab / "test_half.py").write_text(LAB_HALF_HERE)
    r = run_unwinding([sys.executable, "-m", "harness.cli", "--results", str(tmp_path / "res"),
                       "lab", str(lab), "--run-id", "both"], cwd=ROOT, capture_output=True,
                      text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    records = [json.loads(p.read_text()) for p in (tmp_path / "res" / "both").rglob("test_*.json")]
    where = {rec["name"]: rec["kernel"]["where"] for rec in records if rec["verdict"] == "passed"}
    gre_on_host = any(rec["name"] == "gre here" and rec["kernel"]["where"] == "host"
                      for rec in records)
    assert where["anywhere"] == "host"
    assert where["gre here"] == ("host" if gre_on_host else "vm")
    assert (tmp_path / "res" / "both" / "report.md").exists()
    assert "2 kernels side by side" in r.stdout or gre_on_host
