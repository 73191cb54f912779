"""What the host needs to boot a kernel: virtme-ng, QEMU, busybox; and whether KVM works."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time

from ..core.errors import HarnessError


def require_tools() -> dict:
    found = {}
    for tool, package in (("vng", "virtme-ng (pip)"), ("virtme-run", "virtme-ng (pip)"),
                          ("qemu-system-x86_64", "qemu-system-x86 (Debian)")):
        path = shutil.which(tool, path=tool_path())
        if not path:
            raise HarnessError(f"{tool} not found: install {package} (make lab does)")
        found[tool] = path
    if not os.path.exists("/bin/busybox") and not shutil.which("busybox"):
        raise HarnessError("busybox not found: install busybox-static (virtme-ng needs it)")
    return found


def tool_path() -> str:
    """PATH with this interpreter's bin folder first: vng calls virtme-run from there."""
    return os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])


def kvm_usable(image: str, tools: dict, timeout: float = 60.0) -> tuple[bool, str]:
    """KVM only when the CPU shows vmx/svm and a quick boot with it really completes."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        flags = ""
    if not re.search(r"\b(vmx|svm)\b", flags):
        return False, "no vmx/svm in /proc/cpuinfo: software emulation (TCG)"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm not usable: software emulation (TCG)"
    argv = [tools["vng"], "--force-9p", "--run", image, "--user", "root", "--exec", "true"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=tool_env(), start_new_session=True)
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return False, f"KVM probe boot hung for {timeout:.0f} s: software emulation (TCG)"
    finally:
        if proc.poll() is None:
            stop_group(proc)  # vng's group holds its QEMU: a hung probe leaves neither
    if rc == 0:
        return True, "KVM (a probe boot succeeded)"
    return False, f"KVM probe boot failed (rc {rc}): software emulation (TCG)"


def tool_env() -> dict:
    env = dict(os.environ)
    env["PATH"] = tool_path()
    return env


def stop_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """Stop vng and the QEMU it started: their own process group, created by us.  Returns when
    the whole group is gone (vng exits before QEMU does), SIGKILL after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            proc.poll()  # reap vng, so the group is empty once its other members are gone
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
