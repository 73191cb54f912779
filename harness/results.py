"""Self-describing result records: one JSON object per measurement.

Layout: ``results/<run-id>/<lab>/<test>.json`` plus ``results/<run-id>/junit.xml`` and
``results/<run-id>/run.json`` (the run's metadata).  Every record carries what is needed to read
it alone: lab, test id, parameters, kernel, host, tool versions, raw samples, derived figures,
verdict and timestamps.  Schema: ``results/README.md``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import socket
import sys

SCHEMA_VERSION = 1


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def host_facts() -> dict:
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) * 1024
    except OSError:
        pass
    return {"hostname": socket.gethostname(), "cpus": os.cpu_count(), "memory_bytes": mem,
            "machine": platform.machine(), "virtualized_guest": _in_vm_guest()}


def _in_vm_guest() -> bool:
    return os.environ.get("KERNEL_LAB_IN_GUEST") == "1"


def tool_versions() -> dict:
    import pyroute2

    from .traffic.iperf3 import Iperf3

    versions = {"python": sys.version.split()[0], "pyroute2": getattr(pyroute2, "__version__", "?"),
                "libiperf": Iperf3.version()}
    try:
        from importlib.metadata import version

        versions["iperf3-wrapper"] = version("iperf3")
        versions["kernel-lab"] = version("kernel-lab")
    except Exception:  # noqa: BLE001 - not installed as a package
        pass
    import shutil
    import subprocess

    if shutil.which("netperf"):
        out = subprocess.run(["netperf", "-V"], capture_output=True, text=True).stdout.strip()
        versions["netperf"] = out.split()[-1] if out else "?"
    return versions


def safe_name(test_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", test_id).strip("_")[:150]


class Recorder:
    """Writes the records of one run."""

    def __init__(self, run_dir: str, run_meta: dict):
        self.run_dir = run_dir
        self.meta = run_meta
        os.makedirs(run_dir, exist_ok=True)
        with open(os.path.join(run_dir, "run.json"), "w") as f:
            json.dump({"schema": SCHEMA_VERSION, **run_meta}, f, indent=1)

    def write(self, lab: str, test_id: str, index: int, measurement: dict, verdict: str,
              started: str, ended: str) -> str:
        rec = {
            "schema": SCHEMA_VERSION,
            "run_id": self.meta.get("run_id"),
            "lab": lab,
            "test_id": test_id,
            "measurement": index,
            "name": measurement.get("name", ""),
            "params": measurement.get("params", {}),
            "kernel": self.meta.get("kernel", {}),
            "host": self.meta.get("host", {}),
            "tools": self.meta.get("tools", {}),
            "state": measurement.get("state", {}),
            "samples": measurement.get("samples", {}),
            "derived": measurement.get("derived", {}),
            "tolerance": measurement.get("tolerance"),
            "verdict": verdict,
            "started": started,
            "ended": ended,
        }
        folder = os.path.join(self.run_dir, safe_name(lab))
        os.makedirs(folder, exist_ok=True)
        name = safe_name(test_id.split("::", 1)[-1]) + (f"-{index}" if index else "") + ".json"
        path = os.path.join(folder, name)
        with open(path, "w") as f:
            json.dump(rec, f, indent=1, default=str)
        return path


def load_records(run_dir: str) -> tuple[list[dict], list[str]]:
    """All records of a run folder, and one problem line per file that is not a record."""
    records, problems = [], []
    for root, _, files in os.walk(run_dir):
        for fn in sorted(files):
            if not fn.endswith(".json") or fn == "run.json":
                continue
            path = os.path.join(root, fn)
            try:
                with open(path) as f:
                    rec = json.load(f)
                if not isinstance(rec, dict) or "schema" not in rec or "lab" not in rec:
                    raise ValueError("not a kernel-lab record (no schema/lab field)")
                records.append(rec)
            except (OSError, ValueError) as exc:
                problems.append(f"{path}: {exc}")
    return records, problems
