"""What the guest runs: the same pytest selection, staged for speed under emulation.

The guest sees the host's root file system read-only (9p); its script copies the interpreter
to tmpfs, takes the standard library and packages from one zip (``harness.vm.bundle``), and
runs pytest with the run's results folder as ``--results`` and its release as ``--run-id``: its
own folder of the run, the only host folder it may write.
Lines starting with ``kernel-lab-guest:`` are marks for the host: booted, staged, session
start, and the node id of each test as it starts (so a panic names the test it hit).
"""

from __future__ import annotations

import os
import shlex
import sys
import sysconfig

from ..results.records import CONDITIONS_ENV
from .bundle import build
from .host import tool_path

GUEST_MARK = "kernel-lab-guest:"
EXIT_CODE_FILE = "exit-code"  # the guest's pytest exit code, written by the guest itself


#: pytest's optional built-in plugins, not loaded in the guest unless one of their options is
#: given (each import costs under emulation): plugin -> options that need it
GUEST_OPTIONAL_PLUGINS = {"pastebin": ("--pastebin",), "stepwise": ("--sw", "--stepwise"),
                          "doctest": ("--doctest",), "debugging": ("--pdb", "--trace"),
                          "legacypath": ()}


#: maintained plugins the guest loads (plugin autoload is off there) when an option needs them
GUEST_EXTRA_PLUGINS = {"pytest_rerunfailures": ("--retries",), "pytest_repeat": ("--repeat",),
                       "harness.plugin.faults": ("--inject-fault",)}


def guest_plugin_opts(pytest_args: list[str]) -> list[str]:
    """``-p no:<plugin>`` for every optional plugin none of ``pytest_args`` asks for, and
    ``-p <plugin>`` for the extra ones they do need."""
    opts = []
    for plugin, options in GUEST_OPTIONAL_PLUGINS.items():
        if not any(a.startswith(o) for a in pytest_args for o in options):
            opts += ["-p", f"no:{plugin}"]
    given = " ".join(pytest_args)
    for plugin, options in GUEST_EXTRA_PLUGINS.items():
        if any(a.startswith(o) for a in pytest_args for o in options) and plugin not in given:
            opts += ["-p", plugin]
    return opts


def guest_command(pytest_args: list[str], results_dir: str, release: str, image: str,
                  spec: str = "", config: str | None = None, nic_drivers: tuple = ()) -> str:
    """The shell command the guest runs.

    Under emulation, pages of files mapped from the 9p root fault in one round trip at a time:
    the interpreter (and libpython) run from the guest's tmpfs instead, and the modules come
    from one zip (harness.vm.bundle).  Measured: ``import pytest`` 11.2 s -> 4.2 s.
    """
    checkout = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    stage = "/run/kernel-lab-py"
    real_python = os.path.realpath(sys.executable)
    steps = [f"mkdir -p {stage}/lib", f"cp {shlex.quote(real_python)} {stage}/python",
             f"cat {shlex.quote(build())} > {stage}/bundle.zip"]
    libdir, soname = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME")
    if sysconfig.get_config_var("Py_ENABLE_SHARED") and libdir and soname:
        steps.append(f"cp {shlex.quote(os.path.join(libdir, soname))} {stage}/lib/")
    env = {"KERNEL_LAB_IN_GUEST": "1", "KERNEL_LAB_IMAGE": image, "KERNEL_LAB_SPEC": spec or image,
           "KERNEL_LAB_CONFIG": config or "",
           CONDITIONS_ENV: os.environ.get(CONDITIONS_ENV, ""),  # what else the host carries
           "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/tmp", "PATH": tool_path(),
           "LD_LIBRARY_PATH": f"{stage}/lib", "PYTHONHOME": sys.base_prefix,
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",  # the root conftest loads harness.plugin
           "PYTHONPATH": os.pathsep.join([f"{stage}/bundle.zip", checkout])}
    # -S: no site-packages scan; everything but the checkout comes from the bundle
    argv = [f"{stage}/python", "-S", "-m", "pytest", "-p", "no:cacheprovider", "-p", "harness.plugin",
            *guest_plugin_opts(pytest_args), *pytest_args,
            "--results", results_dir, "--run-id", release]
    lines = ["#!/bin/sh", "# written by kernel-lab for a guest run; the guest runs it with sh",
             f"echo '{GUEST_MARK} booted'", "set -e", *steps]
    if nic_drivers:  # no udev to load the drivers of the NICs the guest was given
        lines.append(f"modprobe -a {' '.join(nic_drivers)} 2>/dev/null || true")
    lines.append(f"echo '{GUEST_MARK} staged'")
    lines += [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    # the exit code also goes to a file: the virtio port vng reads it from may be missing
    # (then vng says 255), and the host must tell "failed" from "could not tell"
    rc_file = shlex.quote(os.path.join(results_dir, release, EXIT_CODE_FILE))
    lines += ["set +e", shlex.join(argv), "rc=$?", f"echo $rc > {rc_file}", "exit $rc"]
    return "\n".join(lines) + "\n"
