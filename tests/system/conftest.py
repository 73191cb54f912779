"""Fixtures of the system tests (root, real traffic, booted kernels)."""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness.core.procs import run_unwinding
from harness.vm.image import other_images
from hostcheck import root_namespace

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EVERY_LAB = ["labs/ingress_ifb", "labs/gre_mtu", "labs/ovs_gre", "labs/netlink_kinds"]
#: a few tests of every lab, so every kind of object is built and torn down (ifb and its
#: redirect, shapers, tunnels and random loss, private OVS daemons, taps and bridges)
SOME_OF_EACH = ("goes_through or cannot_hold or baseline or (accurate and 10mbit and htb) or "
                "(accurate and 100mbit and tbf) or loss_multiplies or sized or segmented or "
                "which_configurations or vport or vm_mtu or tap_owned")


@dataclass
class LabRun:
    folder: Path
    output: str
    returncode: int
    before: dict
    after: dict


@pytest.fixture(scope="session")
def four_labs(tmp_path_factory, run) -> LabRun:
    """A real run of all four labs (a few tests of each, on this kernel), with the root
    namespace read before and after it."""
    root = tmp_path_factory.mktemp("four-labs")
    before = root_namespace()
    r = run_unwinding([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                       *EVERY_LAB, "-k", SOME_OF_EACH, "--results", str(root), "--run-id", "four"],
                      cwd=ROOT, capture_output=True, text=True, timeout=900)
    return LabRun(root / "four", r.stdout + r.stderr, r.returncode, before, root_namespace())


@pytest.fixture(scope="session")
def debian_image() -> str:
    """A kernel image in /boot besides the running one (make test installs Debian's)."""
    images = other_images()
    if not images:
        pytest.fail("no kernel image in /boot besides the running one: make test installs "
                    "linux-image-amd64", pytrace=False)
    return images[-1]
