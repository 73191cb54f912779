"""A guest's session has kernel-lab's code and the guest bundle only (harness.vm.bundle: the
standard library, pytest, pyroute2, iperf3, tabulate...): no graphviz, no jsonschema, no
matplotlib.  Every module a guest session imports must import there.  (Seen: the failure view's
diagram imported graphviz at the top of harness.report.failures, and every guest session of a
night ended at plugin load with PluginImportFailure.)"""

import os
import subprocess
import sys
import sysconfig

from harness.vm.bundle import build

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUEST_SIDE = ["harness.plugin", *(f"harness.plugin.{m}" for m in (
    "options", "fixtures", "traffic", "health", "evidence", "recording", "verdicts", "guest",
    "cells", "reporting", "judge", "faults")), "harness.lab", "harness.report.render"]


def test_the_guest_side_imports_with_the_bundle_alone():
    bundle = build()
    code = "; ".join(f"import {m}" for m in GUEST_SIDE) + "; print('ok')"
    env = {"PATH": os.environ["PATH"], "KERNEL_LAB_IN_GUEST": "1",
           "PYTHONHOME": sys.base_prefix, "PYTHONPATH": f"{bundle}:{ROOT}",
           "PYTHONDONTWRITEBYTECODE": "1",
           "LD_LIBRARY_PATH": sysconfig.get_config_var("LIBDIR") or ""}
    r = subprocess.run([os.path.realpath(sys._base_executable), "-S", "-c", code], env=env,
                       cwd="/", capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
