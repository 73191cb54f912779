"""Kernels under test: boot an image with virtme-ng (QEMU) and run pytest inside it.

    pytest --kernel /boot/vmlinuz-6.1.0-56-amd64 labs/ingress_ifb

The guest sees the host's root file system read-only (9p, with throw-away overlays); the only
host folder it can write is its own folder of the run (``results/<run-id>/<release>/``), passed
with ``--rwdir``: it cannot touch the run's other files, and the host removes any symbolic link
it left there before writing anything beside its records (harness.vm.launch).  The guest runs
the same pytest selection (same venv, same checkout) with ``KERNEL_LAB_IN_GUEST=1``; its records
and JUnit XML land in ``results/<run-id>/<kernel-release>/``.  Its output is streamed live; the
exit code is the guest's pytest exit code.  A missing image, a file that is not a kernel, a
missing virtme-ng or QEMU, a guest panic, or a timeout each give a one-line message and a
non-zero exit, never a hang.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from typing import Callable

from ..core.errors import HarnessError
from .guest import GUEST_MARK
from .host import kvm_usable, require_tools, stop_group, tool_env
from .kernels import KernelUnderTest, resolve, staging_root
from .preinit import guest_init_opts
from .vmlinux import boot_image
from ..core import env

# Emulated hardware the labs never use: at boot udev would load a driver for each (under
# emulation kvm_amd alone takes 3 s, the ahci/cdrom probe 1 s).  Measured: command reached at
# 6.8 s of guest uptime instead of 12.0 s.  Network modules are not in the list.
UNUSED_MODULES = ("kvm,kvm_amd,kvm_intel,powernow_k8,acpi_cpufreq,sr_mod,cdrom,ahci,libahci,"
                  "i6300esb,iTCO_wdt,iTCO_vendor_support,lpc_ich,i2c_i801,pcspkr,psmouse,"
                  "aesni_intel,ghash_clmulni_intel,crc32_pclmul,sg,serio_raw,evdev,button,"
                  "joydev,intel_rapl_msr,intel_rapl_common,rapl,drm,bochs,virtio_gpu")
PANIC_RE = re.compile(r"Kernel panic|PANIC: early exception|BUG: kernel NULL pointer|Oops:")
CONSOLE_RE = re.compile(r"^\[\s*\d+\.\d+\] ")
EXIT_PANIC, EXIT_TIMEOUT, EXIT_BOOT = 3, 3, 3
CONSOLE_LOGLEVEL = 5  # the console shows KERN_WARNING and more severe


BOOT_MODES = ("fast", "pvh", "vng")


GUEST_CPUS = 2  # vCPUs of a guest: sender and receiver each get one


def boot_mode() -> str:
    """``KERNEL_LAB_BOOT``: ``fast`` (default: PVH entry and the pre-init, no udev or tmpfiles),
    ``pvh`` (PVH entry, udev and tmpfiles as virtme-ng runs them) or ``vng`` (the image booted
    as vng boots it)."""
    mode = env.get("KERNEL_LAB_BOOT")
    if mode not in BOOT_MODES:
        raise HarnessError(f"KERNEL_LAB_BOOT={mode}: choose one of {', '.join(BOOT_MODES)}")
    return mode


def boot_path(k: KernelUnderTest, mode: str) -> tuple[str, str]:
    """What to hand to ``vng --run`` for kernel ``k``, and how it is entered.

    virtme-ng shows the guest the modules it finds by walking up from that path to a folder
    holding ``lib/modules`` (the host's for an image from /boot); so a Debian kernel's PVH
    ELF is kept in its own folder, an image with ``--modules DIR`` is staged beside a link to
    DIR, and a kernel tree goes to virtme-ng as a tree (its bzImage and its own modules)."""
    if k.kind == "tree":
        return k.tree, "tree's own bzImage (virtme-ng tree mode: the tree's modules)"
    image, folder = k.image, None
    if k.kind == "debian":
        folder = os.path.join(k.modules_root, "boot")
    elif k.kind == "image+modules":
        folder = os.path.join(staging_root(k), "boot")
        link = os.path.join(folder, f"vmlinuz-{k.release}")
        if not os.path.islink(link):
            os.symlink(k.image, link)
        image = link
    if mode == "vng":
        return image, f"bzImage decompressor (KERNEL_LAB_BOOT={mode})"
    return boot_image(k.image, k.release, folder)


def boot(kernel, command: str, rwdir: str, timeout: float, log=None,
         cpus: int = GUEST_CPUS, memory: str = "2G", boot_timeout: float = 180.0,
         console_log: str | None = None, network: str | None = None,
         started: Callable[[int], None] | None = None) -> dict:
    """Boot ``kernel`` (a KernelUnderTest, or anything ``--kernel`` takes) and run ``command``
    (a short shell command: the kernel command line that carries it holds 2048 bytes); stream
    its output; return what happened.

    The kernel console is on (loglevel 5: warnings, errors and panics, so a WARN's stack is in
    the console log too) and goes to ``console_log``, not
    to the terminal; a panic there, no sign of the command within ``boot_timeout`` seconds, or
    ``timeout`` for the whole run stop the guest.  ``started(pid)`` is told vng's PID (the
    leader of the process group that holds QEMU), for a run's registry: if this process is
    killed outright, the sweeper ends the guest.
    """
    mode = boot_mode()
    tools = require_tools()
    k = kernel if isinstance(kernel, KernelUnderTest) else resolve(kernel)
    kernel, entry_note = boot_path(k, mode)
    kvm, accel_note = kvm_usable(kernel, tools)
    argv = [tools["vng"], "--force-9p", "--run", kernel, "--user", "root", "--cpus", str(cpus),
            "--memory", memory, "--rwdir", rwdir, "--verbose",
            "--append", f"loglevel={CONSOLE_LOGLEVEL} module_blacklist={UNUSED_MODULES}", "--exec", command]
    if not kvm:
        argv.insert(1, "--disable-kvm")
    if network:  # loop: two virtio-net NICs cabled to each other through a QEMU hub
        argv[-2:-2] = ["--network", network, "--no-dhcp"]
    init_opts, init_note = [], f"with udev (KERNEL_LAB_BOOT={mode})"
    if mode == "fast":
        init_opts, init_note = guest_init_opts(argv, tool_env())
    argv += init_opts
    out = log or sys.stdout
    out.write(f"kernel-lab: booting {k.label} with virtme-ng, {accel_note}; "
              f"entered through the {entry_note}; {init_note}\n")
    out.flush()
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=tool_env(), start_new_session=True)
    marks, panic, timed_out, buf, shown = {}, None, False, b"", 0
    console = open(console_log, "w") if console_log else None
    try:
        if started:
            started(proc.pid)
        while True:
            elapsed = time.monotonic() - t0
            left = timeout - elapsed
            if left <= 0 or ("booted" not in marks and elapsed > boot_timeout):
                timed_out = "run" if left <= 0 else "boot"
                break
            ready, _, _ = select.select([proc.stdout], [], [], min(left, 1.0))
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                line = raw.decode(errors="replace").rstrip("\r")
                if GUEST_MARK in line:
                    mark = line.split(GUEST_MARK, 1)[1].strip()
                    marks.setdefault(mark, round(time.monotonic() - t0, 2))
                    shown = 0
                    continue
                if PANIC_RE.search(line):
                    panic = line.strip()
                if CONSOLE_RE.match(line) or "booted" not in marks:
                    if console:
                        console.write(line + "\n")
                    shown = 0
                    if not panic:
                        continue
                out.write(line[shown:] + "\n")
                out.flush()
                shown = 0
            # live progress: pytest's dots arrive before their line ends
            partial = buf.decode(errors="replace")
            if ("booted" in marks and len(partial) > shown and not partial.startswith("[")
                    and not GUEST_MARK.startswith(partial[:len(GUEST_MARK)])):
                out.write(partial[shown:])
                out.flush()
                shown = len(partial)
            if panic:
                break
    finally:
        if proc.poll() is None:
            stop_group(proc)
        if console:
            console.close()
    if buf:
        out.write(buf.decode(errors="replace") + "\n")
    rc = proc.wait()
    return {"rc": rc, "accel": "kvm" if kvm else "tcg", "accel_note": accel_note,
            "booted_file": kernel, "entry": entry_note, "init": init_note,
            "boot_timeout": boot_timeout,
            "seconds": time.monotonic() - t0, "marks": marks, "panic": panic,
            "timed_out": timed_out, "argv": argv}
