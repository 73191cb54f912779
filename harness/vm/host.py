"""What the host needs to boot a kernel: virtme-ng, QEMU, busybox; and whether KVM works."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

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
    try:
        res = subprocess.run(argv, capture_output=True, timeout=timeout, env=tool_env(),
                             start_new_session=True)
        if res.returncode == 0:
            return True, "KVM (a probe boot succeeded)"
        return False, f"KVM probe boot failed (rc {res.returncode}): software emulation (TCG)"
    except subprocess.TimeoutExpired:
        return False, f"KVM probe boot hung for {timeout:.0f} s: software emulation (TCG)"


def tool_env() -> dict:
    env = dict(os.environ)
    env["PATH"] = tool_path()
    return env
