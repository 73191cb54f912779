"""``--kernel IMAGE``: boot the image and run the same pytest selection inside it.

The guest's records and JUnit XML land in ``<run_dir>/<kernel-release>/``; its exit code is the
run's.  Afterwards the host checks every record the guest wrote against the record schema (a
record that breaks it fails the run), and when the guest kernel panicked it writes a failed
record for the test that was running, with the console's panic text, so the report shows
which test hit it.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shlex
import sys

from ..core.errors import HarnessError
from ..kernel.kmsg import splats_in_console
from ..results.records import Recorder, load_records
from .boot import EXIT_BOOT, EXIT_PANIC, EXIT_TIMEOUT, boot
from .guest import guest_command
from .host import require_tools
from .kernels import KernelUnderTest

EXIT_USAGE = 4


HOST_ONLY = ("--kernel", "--modules", "--vm-timeout", "--results", "--run-id", "--vm-net")


def strip_kernel_args(args: list[str]) -> list[str]:
    """The pytest arguments without the host-only ones (the guest gets its own)."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in HOST_ONLY:
            skip = True
            continue
        if a.startswith(tuple(f"{o}=" for o in HOST_ONLY)):
            continue
        out.append(a)
    return out


def run_in_guest(kernel: KernelUnderTest, pytest_args: list[str], run_dir: str, timeout: float,
                 out=None, rootdir: str | None = None, network: str | None = None,
                 started=None) -> int:
    """Boot ``kernel``, run pytest with ``pytest_args`` inside (from the host session's
    ``rootdir``, so node ids are the same on both sides), return the exit code.  ``started``:
    told vng's PID, as :func:`harness.vm.boot.boot` says."""
    out = out or sys.stdout
    release = kernel.release
    try:
        require_tools()
    except HarnessError as exc:
        sys.stderr.write(f"kernel-lab: {exc}\n")
        return EXIT_USAGE
    guest_dir = os.path.join(run_dir, release)
    if os.path.exists(guest_dir):
        sys.stderr.write(f"kernel-lab: {guest_dir} exists already; choose another --run-id\n")
        return EXIT_USAGE
    os.makedirs(guest_dir)
    args = strip_kernel_args(pytest_args)
    if rootdir and not any(a == "--rootdir" or a.startswith("--rootdir=") for a in args):
        args = ["--rootdir", rootdir, *args]
    script = os.path.join(guest_dir, "guest.sh")
    with open(script, "w") as f:
        f.write(guest_command(args, run_dir, release, kernel.image or "", kernel.spec,
                              kernel.config, nic_drivers=("virtio_net",) if network else ()))
    console = os.path.join(guest_dir, "console.log")
    try:
        info = boot(kernel, f"sh {shlex.quote(script)}", rwdir=run_dir, timeout=timeout,
                    console_log=console, log=out, network=network, started=started)
    except HarnessError as exc:
        sys.stderr.write(f"kernel-lab: {exc}\n")
        return EXIT_USAGE
    info.update({"kernel": kernel.as_record(), "image": kernel.image, "release": release,
                 "pytest_args": args, "running_test": running_test(guest_dir)})
    with open(os.path.join(guest_dir, "vm.json"), "w") as f:
        json.dump(info, f, indent=1)
    boot_s = info["marks"].get("first test")
    print(f"kernel-lab: {release} under {info['accel']}: boot to first test "
          f"{boot_s:.1f} s, whole run {info['seconds']:.1f} s" if boot_s is not None else
          f"kernel-lab: {release} under {info['accel']}: no test started "
          f"(run {info['seconds']:.1f} s)", file=out)
    print(f"kernel-lab: records in {guest_dir}", file=out)
    rc = info["rc"]
    _, problems = load_records(guest_dir)
    for p in problems:
        sys.stderr.write(f"kernel-lab: guest record invalid: {p}\n")
    if info["panic"]:
        test = info.get("running_test") or "(no test had started)"
        sys.stderr.write(f"kernel-lab: guest kernel panicked during {test}: {info['panic']}\n")
        _record_panic(guest_dir, kernel, info, console)
        return EXIT_PANIC
    if info["timed_out"] == "boot":
        sys.stderr.write("kernel-lab: the guest did not reach its command within "
                         f"{info['boot_timeout']:.0f} s; stopped (console: {console})\n")
        return EXIT_TIMEOUT
    if info["timed_out"]:
        sys.stderr.write(f"kernel-lab: guest run exceeded {timeout:.0f} s; stopped (during "
                         f"{info.get('running_test') or 'start-up'})\n")
        return EXIT_TIMEOUT
    if "booted" not in info["marks"]:
        sys.stderr.write(f"kernel-lab: the guest never reached its command (vng rc {rc})\n")
        return EXIT_BOOT if rc == 0 else rc
    if problems and rc == 0:
        return 1
    return rc


RUNNING_TEST = "running-test"  # the guest writes the node id of the test it runs here


def running_test(guest_dir: str) -> str | None:
    """The test the guest was running when it stopped (None between tests)."""
    try:
        with open(os.path.join(guest_dir, RUNNING_TEST)) as f:
            return f.read().strip() or None
    except OSError:
        return None


def _record_panic(guest_dir: str, kernel: KernelUnderTest, info: dict, console: str) -> None:
    """A failed record for the test the panic hit (the guest could not write one)."""
    nodeid = info.get("running_test")
    if not nodeid:
        return
    try:
        with open(console, errors="replace") as f:
            text = f.read()
    except OSError:
        text = info["panic"]
    found = splats_in_console(text) or []
    parts = nodeid.split("::")[0].split("/")
    lab = (parts[parts.index("labs") + 1] if "labs" in parts[:-2] else
           parts[-1].removesuffix(".py"))
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")
    meta = {"run_id": os.path.basename(guest_dir),
            "kernel": {"release": kernel.release, "where": "vm", "image": kernel.image or "",
                       "spec": kernel.spec},
            "host": {}, "tools": {}}
    Recorder(guest_dir, meta).write(lab, nodeid, 0, {"name": "kernel panic"}, "failed", now, now,
                                    reason=f"guest kernel panicked: {info['panic']}",
                                    kernel_log={"splats": [s.as_record() for s in found]})
