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
from .guest import EXIT_CODE_FILE, guest_command
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
        # the guest may write its own folder and nothing else of the run
        info = boot(kernel, f"sh {shlex.quote(script)}", rwdir=guest_dir, timeout=timeout,
                    console_log=console, log=out, network=network, started=started)
    except HarnessError as exc:
        sys.stderr.write(f"kernel-lab: {exc}\n")
        return EXIT_USAGE
    # the guest is gone: no link it planted is followed by what the host writes or reads now
    info["guest_symlinks_removed"] = remove_symlinks(guest_dir)
    info.update({"kernel": kernel.as_record(), "image": kernel.image, "release": release,
                 "pytest_args": args, "running_test": running_test(guest_dir)})
    info["vng_rc"], info["rc"], info["rc_source"] = info["rc"], *guest_exit_code(guest_dir,
                                                                              info["rc"])
    with open(os.path.join(guest_dir, "vm.json"), "w") as f:
        json.dump(info, f, indent=1)
    boot_s = info["marks"].get("first test")
    print(f"kernel-lab: {release} under {info['accel']}: boot to first test "
          f"{boot_s:.1f} s, whole run {info['seconds']:.1f} s" if boot_s is not None else
          f"kernel-lab: {release} under {info['accel']}: no test started "
          f"(run {info['seconds']:.1f} s)", file=out)
    print(f"kernel-lab: records in {guest_dir}", file=out)
    rc = info["rc"]
    if info["rc_source"] == "unknown" and not info["panic"] and not info["timed_out"]:
        sys.stderr.write(f"kernel-lab: the guest's exit code did not reach the host (vng "
                         f"exit {info['vng_rc']}, no {EXIT_CODE_FILE} file): its result is "
                         f"unknown (console: {console})\n")
    elif info["rc_source"] == "file" and info["vng_rc"] != rc:
        sys.stderr.write(f"kernel-lab: vng exited {info['vng_rc']} but the guest's pytest "
                         f"exited {rc} (its {EXIT_CODE_FILE} file): the virtio port that "
                         "carries the exit code and output did not work in this guest\n")
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


def remove_symlinks(folder: str) -> list[str]:
    """Remove every symbolic link under ``folder`` (the guest could write there; the host
    made none) and return their paths and targets.  ``os.walk`` does
    not descend through a link, so nothing outside ``folder`` is touched."""
    removed = []
    for root, dirs, files in os.walk(folder):
        for name in sorted(dirs + files):
            path = os.path.join(root, name)
            if os.path.islink(path):
                removed.append(f"{os.path.relpath(path, folder)} -> {os.readlink(path)}")
                os.unlink(path)
    if removed:
        sys.stderr.write(f"kernel-lab: removed {len(removed)} symbolic link(s) the guest left "
                         f"in {folder}: {'; '.join(removed[:5])}\n")
    return removed


def guest_exit_code(guest_dir: str, vng_rc: int) -> tuple[int, str]:
    """The guest pytest's exit code and where it came from: its own ``exit-code`` file
    (``file``, read without following a link the guest may have planted), else vng's exit code
    when the file is missing but vng says 0..5 (``vng``), else 255 (``unknown``)."""
    path = os.path.join(guest_dir, EXIT_CODE_FILE)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return (vng_rc, "vng") if 0 <= vng_rc <= 5 else (255, "unknown")
    with os.fdopen(fd) as f:
        text = f.read(16).strip()
    return (int(text), "file") if text.isdigit() else (255, "unknown")


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
