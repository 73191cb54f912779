"""The guest's first process: ``harness/vm/preinit.c``, run before virtme-ng-init.

It makes the /dev/virtio-ports links the guest's command talks through and hides
systemd-udevd and systemd-tmpfiles, so virtme-ng-init skips udev's coldplug and tmpfiles' boot
entries (see the C file for why).  It is built
once per source on the host (``cc -static``) and kept in the kernel-lab cache.

vng always puts its own ``init=`` last on the kernel command line, and virtme-ng's initramfs
runs the last one.  So :func:`guest_init_opts` reads the command line vng would use
(``--dry-run``), swaps its ``init=`` for the pre-init (passing the original as
``kernel_lab_init``) and hands the result to QEMU as a later ``-append``, which replaces the
first.  Whatever cannot be done (no C compiler, vng's command line unreadable) leaves the boot
as vng makes it, with udev, and the note says why.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess

from ..core.cache import cache_dir, file_digest, made_once
from ..core.errors import HarnessError

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "preinit.c")


def preinit_binary() -> str:
    """The static pre-init built from SOURCE (made on first use)."""

    def write(tmp: str) -> None:
        cc = shutil.which("cc") or shutil.which("gcc")
        if not cc:
            raise HarnessError("no C compiler (cc) to build the guest pre-init")
        res = subprocess.run([cc, "-static", "-O2", "-o", tmp, SOURCE], capture_output=True,
                             text=True)
        if res.returncode != 0:
            raise HarnessError(f"cc -static failed: {res.stderr.strip()[-300:]}")

    path = os.path.join(cache_dir("preinit"), f"preinit-{file_digest(SOURCE)}")
    return made_once(path, write)


def swap_init(cmdline: str, preinit: str) -> str:
    """``cmdline`` with its last ``init=X`` replaced by ``kernel_lab_init=X init=preinit``."""
    inits = list(re.finditer(r"(?:^| )init=(\S+)", cmdline))
    if not inits:
        raise HarnessError("no init= in vng's kernel command line")
    last = inits[-1]
    head = cmdline[:last.start(1) - len("init=")]
    return f"{head}kernel_lab_init={last.group(1)} init={preinit}{cmdline[last.end(1):]}"


def vng_cmdline(argv: list[str], env: dict) -> str:
    """The kernel command line vng would pass to QEMU for ``argv`` (from ``--dry-run``)."""
    try:
        res = subprocess.run([*argv, "--dry-run"], capture_output=True, text=True, timeout=60,
                             env=env, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HarnessError(f"vng --dry-run failed: {exc}") from None
    for line in reversed(res.stdout.splitlines()):
        if " -append " not in line:
            continue
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        if "-append" in words[:-1]:
            return words[words.index("-append") + 1]
    raise HarnessError(f"vng --dry-run printed no -append (rc {res.returncode})")


def guest_init_opts(argv: list[str], env: dict) -> tuple[list[str], str]:
    """Extra vng options that boot the guest through the pre-init, and a note saying which."""
    try:
        cmdline = swap_init(vng_cmdline(argv, env), preinit_binary())
    except (HarnessError, OSError) as exc:
        return [], f"with udev ({exc})"
    note = "without udev or tmpfiles (kernel-lab pre-init)"
    return [f"--qemu-opts=-append {shlex.quote(cmdline)}"], note
