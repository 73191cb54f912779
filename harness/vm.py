"""Kernels under test: boot an image with virtme-ng (QEMU) and run pytest inside it.

    pytest --kernel /boot/vmlinuz-6.1.0-56-amd64 labs/ingress_ifb

The guest sees the host's root file system read-only (9p, with throw-away overlays); the only
host folder it can write is the run's results folder, passed with ``--rwdir``.  The guest runs
the same pytest selection (same venv, same checkout) with ``KERNEL_LAB_IN_GUEST=1``; its records
and JUnit XML land in ``results/<run-id>/<kernel-release>/``.  Its output is streamed live; the
exit code is the guest's pytest exit code.  A missing image, a file that is not a kernel, a
missing virtme-ng or QEMU, a guest panic, or a timeout each give a one-line message and a
non-zero exit, never a hang.
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import time

from .errors import HarnessError

GUEST_MARK = "kernel-lab-guest:"
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


def other_images(boot_dir: str = "/boot") -> list[str]:
    """Kernel images in ``boot_dir`` besides the running kernel's, sorted by name."""
    import glob
    import platform

    return sorted(i for i in glob.glob(os.path.join(boot_dir, "vmlinuz-*"))
                  if not i.endswith(platform.release()))


def kernel_release(image: str) -> str:
    """The release string of a bzImage (from its setup header), e.g. ``6.1.0-56-amd64``."""
    if not os.path.exists(image):
        raise HarnessError(f"kernel image {image} does not exist")
    if not os.path.isfile(image):
        raise HarnessError(f"kernel image {image} is not a file")
    try:
        with open(image, "rb") as f:
            head = f.read(0x1000)
            if len(head) < 0x210 or head[0x202:0x206] != b"HdrS":
                raise HarnessError(f"{image} is not a Linux kernel image (no bzImage header)")
            (offset,) = struct.unpack_from("<H", head, 0x20E)
            f.seek(offset + 0x200)
            version = f.read(256).split(b"\0")[0].decode(errors="replace")
    except PermissionError:
        raise HarnessError(f"cannot read kernel image {image}") from None
    release = version.split(" ")[0]
    if not release:
        raise HarnessError(f"{image} has no version string")
    return release


def require_tools() -> dict:
    found = {}
    for tool, package in (("vng", "virtme-ng (pip)"), ("virtme-run", "virtme-ng (pip)"),
                          ("qemu-system-x86_64", "qemu-system-x86 (Debian)")):
        path = shutil.which(tool, path=_path())
        if not path:
            raise HarnessError(f"{tool} not found: install {package} (make lab does)")
        found[tool] = path
    if not os.path.exists("/bin/busybox") and not shutil.which("busybox"):
        raise HarnessError("busybox not found: install busybox-static (virtme-ng needs it)")
    return found


def _path() -> str:
    """PATH with this interpreter's bin folder first: vng calls virtme-run from there."""
    return os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])


def image_capabilities(image: str) -> tuple[str, dict]:
    """Capabilities of ``image`` read from its config file (``config-<release>`` beside it)."""
    from .kernel import BUILTIN, FEATURES, MISSING, MODULE, read_config

    release = kernel_release(image)
    cfg, source = read_config(release, boot_dir=os.path.dirname(os.path.abspath(image)))
    if not cfg:
        return release, {n: "unknown (no config-" + release + ")" for n in FEATURES}
    states = {"y": BUILTIN, "m": MODULE}
    return release, {n: states.get(cfg.get(f.config), MISSING) for n, f in FEATURES.items()}


# -- acceleration -------------------------------------------------------------------------
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
        res = subprocess.run(argv, capture_output=True, timeout=timeout, env=_env(),
                             start_new_session=True)
        if res.returncode == 0:
            return True, "KVM (a probe boot succeeded)"
        return False, f"KVM probe boot failed (rc {res.returncode}): software emulation (TCG)"
    except subprocess.TimeoutExpired:
        return False, f"KVM probe boot hung for {timeout:.0f} s: software emulation (TCG)"


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = _path()
    return env


# -- running pytest in the guest ----------------------------------------------------------
def _strip_kernel_args(args: list[str]) -> list[str]:
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("--kernel", "--vm-timeout", "--results", "--run-id"):
            skip = True
            continue
        if a.startswith(("--kernel=", "--vm-timeout=", "--results=", "--run-id=")):
            continue
        out.append(a)
    return out


#: pytest's optional built-in plugins, not loaded in the guest unless one of their options is
#: given (each import costs under emulation): plugin -> options that need it
GUEST_OPTIONAL_PLUGINS = {"pastebin": ("--pastebin",), "stepwise": ("--sw", "--stepwise"),
                          "doctest": ("--doctest",), "debugging": ("--pdb", "--trace"),
                          "legacypath": ()}


def guest_plugin_opts(pytest_args: list[str]) -> list[str]:
    """``-p no:<plugin>`` for every optional plugin none of ``pytest_args`` asks for."""
    opts = []
    for plugin, options in GUEST_OPTIONAL_PLUGINS.items():
        if not any(a.startswith(o) for a in pytest_args for o in options):
            opts += ["-p", f"no:{plugin}"]
    return opts


def guest_command(pytest_args: list[str], results_dir: str, release: str, image: str) -> str:
    """The shell command the guest runs.

    Under emulation, pages of files mapped from the 9p root fault in one round trip at a time:
    the interpreter (and libpython) run from the guest's tmpfs instead, and the modules come
    from one zip (harness.guest_bundle).  Measured: ``import pytest`` 11.2 s -> 4.2 s.
    """
    import sysconfig

    from .guest_bundle import build

    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    stage = "/run/kernel-lab-py"
    real_python = os.path.realpath(sys.executable)
    steps = [f"mkdir -p {stage}/lib", f"cp {shlex.quote(real_python)} {stage}/python",
             f"cat {shlex.quote(build())} > {stage}/bundle.zip"]
    libdir, soname = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME")
    if sysconfig.get_config_var("Py_ENABLE_SHARED") and libdir and soname:
        steps.append(f"cp {shlex.quote(os.path.join(libdir, soname))} {stage}/lib/")
    env = {"KERNEL_LAB_IN_GUEST": "1", "KERNEL_LAB_IMAGE": os.path.abspath(image),
           "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/tmp", "PATH": _path(),
           "LD_LIBRARY_PATH": f"{stage}/lib", "PYTHONHOME": sys.base_prefix,
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",  # the root conftest loads harness.plugin
           "PYTHONPATH": os.pathsep.join([f"{stage}/bundle.zip", checkout])}
    # -S: no site-packages scan; everything but the checkout comes from the bundle
    argv = [f"{stage}/python", "-S", "-m", "pytest", "-p", "no:cacheprovider",
            *guest_plugin_opts(pytest_args), *pytest_args,
            "--results", results_dir, "--run-id", release]
    lines = ["#!/bin/sh", "# written by kernel-lab for a guest run; the guest runs it with sh",
             f"echo '{GUEST_MARK} booted'", "set -e", *steps]
    lines.append(f"echo '{GUEST_MARK} staged'")
    lines += [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    lines.append(f"exec {shlex.join(argv)}")
    return "\n".join(lines) + "\n"


BOOT_MODES = ("fast", "pvh", "vng")


def boot_mode() -> str:
    """``KERNEL_LAB_BOOT``: ``fast`` (default: PVH entry and the pre-init, no udev or tmpfiles),
    ``pvh`` (PVH entry, udev and tmpfiles as virtme-ng runs them) or ``vng`` (the image booted
    as vng boots it)."""
    mode = os.environ.get("KERNEL_LAB_BOOT", "fast")
    if mode not in BOOT_MODES:
        raise HarnessError(f"KERNEL_LAB_BOOT={mode}: choose one of {', '.join(BOOT_MODES)}")
    return mode


def boot(image: str, command: str, rwdir: str, timeout: float, log=None,
         cpus: int = 2, memory: str = "2G", boot_timeout: float = 180.0,
         console_log: str | None = None) -> dict:
    """Boot ``image`` and run ``command`` (a short shell command: the kernel command line that
    carries it holds 2048 bytes); stream its output; return what happened.

    The kernel console is on (loglevel 3: errors and panics) and goes to ``console_log``, not
    to the terminal; a panic there, no sign of the command within ``boot_timeout`` seconds, or
    ``timeout`` for the whole run stop the guest.
    """
    from .guest_preinit import guest_init_opts
    from .vmlinux import boot_image

    mode = boot_mode()
    tools = require_tools()
    kernel, entry_note = image, f"bzImage decompressor (KERNEL_LAB_BOOT={mode})"
    if mode != "vng":
        kernel, entry_note = boot_image(image, kernel_release(image))
    kvm, accel_note = kvm_usable(kernel, tools)
    argv = [tools["vng"], "--force-9p", "--run", kernel, "--user", "root", "--cpus", str(cpus),
            "--memory", memory, "--rwdir", rwdir, "--verbose",
            "--append", f"loglevel=3 module_blacklist={UNUSED_MODULES}", "--exec", command]
    if not kvm:
        argv.insert(1, "--disable-kvm")
    init_opts, init_note = [], f"with udev (KERNEL_LAB_BOOT={mode})"
    if mode == "fast":
        init_opts, init_note = guest_init_opts(argv, _env())
    argv += init_opts
    out = log or sys.stdout
    out.write(f"kernel-lab: booting {image} with virtme-ng, {accel_note}; "
              f"entered through the {entry_note}; {init_note}\n")
    out.flush()
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=_env(), start_new_session=True)
    marks, panic, timed_out, buf, shown = {}, None, False, b"", 0
    console = open(console_log, "w") if console_log else None
    try:
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
            _stop(proc)
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


def _stop(proc: subprocess.Popen) -> None:
    """Stop vng and the QEMU it started: their own process group, created by us."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(5)
            return
        except subprocess.TimeoutExpired:
            continue


def run_pytest_in_vm(config, image: str) -> int:
    """pytest_cmdline_main for ``--kernel``: the guest's exit code is ours."""
    from .plugin import _state

    try:
        release = kernel_release(image)
        require_tools()
    except HarnessError as exc:
        sys.stderr.write(f"kernel-lab: {exc}\n")
        return 4
    st = _state(config)
    run_dir = st["run_dir"]
    guest_dir = os.path.join(run_dir, release)
    if os.path.exists(guest_dir):
        sys.stderr.write(f"kernel-lab: {guest_dir} exists already; choose another --run-id\n")
        return 4
    os.makedirs(run_dir, exist_ok=True)
    from .plugin import _link_latest

    _link_latest(st["results_root"], os.path.basename(run_dir))
    args = _strip_kernel_args(list(config.invocation_params.args))
    os.makedirs(guest_dir)
    script = os.path.join(guest_dir, "guest.sh")
    with open(script, "w") as f:
        f.write(guest_command(args, run_dir, release, image))
    try:
        info = boot(image, f"sh {shlex.quote(script)}", rwdir=run_dir,
                    timeout=config.getoption("vm_timeout"),
                    console_log=os.path.join(guest_dir, "console.log"))
    except HarnessError as exc:
        sys.stderr.write(f"kernel-lab: {exc}\n")
        return 4
    info.update({"image": os.path.abspath(image), "release": release, "pytest_args": args})
    with open(os.path.join(guest_dir, "vm.json"), "w") as f:
        json.dump(info, f, indent=1)
    boot_s = info["marks"].get("first test")
    print(f"kernel-lab: {release} under {info['accel']}: boot to first test "
          f"{boot_s:.1f} s, whole run {info['seconds']:.1f} s" if boot_s is not None else
          f"kernel-lab: {release} under {info['accel']}: no test started "
          f"(run {info['seconds']:.1f} s)")
    print(f"kernel-lab: records in {guest_dir}")
    if info["panic"]:
        sys.stderr.write(f"kernel-lab: guest kernel panicked: {info['panic']}\n")
        return EXIT_PANIC
    if info["timed_out"] == "boot":
        sys.stderr.write("kernel-lab: the guest did not reach its command within "
                         f"{info['boot_timeout']:.0f} s; stopped (console: {guest_dir}/console.log)\n")
        return EXIT_TIMEOUT
    if info["timed_out"]:
        sys.stderr.write(f"kernel-lab: guest run exceeded {config.getoption('vm_timeout'):.0f} s; stopped\n")
        return EXIT_TIMEOUT
    if "booted" not in info["marks"]:
        sys.stderr.write(f"kernel-lab: the guest never reached its command (vng rc {info['rc']})\n")
        return EXIT_BOOT if info["rc"] == 0 else info["rc"]
    return info["rc"]
