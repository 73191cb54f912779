"""Self-describing result records: one JSON object per measurement and attempt.

Layout: ``results/<run-id>/<lab>/<test>[-N][-aK].json`` plus ``results/<run-id>/junit.xml`` and
``results/<run-id>/run.json`` (the run's metadata).  Every record carries what is needed to read
it alone: lab, test id, attempt, parameters, kernel, host, tool versions, raw samples, derived
figures, verdict and its reason, the kernel's splats, timestamps.  The schema is
``record.schema.json`` beside this file (explained in ``results/README.md``); the writer refuses
a record that breaks it, and the readers skip such a file and name it.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version

import pyroute2

from ..core.errors import HarnessError
from ..core.figures import check_derived, declarations_of
from ..measure import accounting, shaping  # noqa: F401 - they declare their figures
from ..measure.accounting import machine_unjudged
from ..net.recipe_replay import REPLAY_FILE
from ..traffic.iperf3 import Iperf3
from ..core import env

SCHEMA_VERSION = 2
LACKS_FILE = "kernel-lacks.json"  # a run's tests skipped for a missing kernel feature
INTERVALS_FILE = "intervals.json"  # --repeat N: each figure's mean +- 95 % CI over its records
#: JSON files of a run folder that are about the run, not measurements
NOT_RECORDS = {"run.json", "vm.json", LACKS_FILE, INTERVALS_FILE, "nightly.json", "cell.json",
               "merged.json", "kcidb.json", "plan.json", REPLAY_FILE}
#: set by the cell runner (harness.orchestrate.cells) for the session it starts: JSON of what
#: else the host carries meanwhile; copied into every record as ``conditions``
CONDITIONS_ENV = "KERNEL_LAB_CONDITIONS"
SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "record.schema.json")


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def host_facts() -> dict:
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) * 1024
    except OSError:
        pass
    from ..net.evidence import virtualization

    # virtualized_guest: kernel-lab's own guest ran the test; virtualization: what the machine
    # that ran it is (a figure from a VM or a container is read differently)
    return {"hostname": socket.gethostname(), "cpus": os.cpu_count(), "memory_bytes": mem,
            "machine": platform.machine(), "virtualized_guest": _in_vm_guest(),
            "virtualization": virtualization()}


def run_conditions() -> dict | None:
    """The host's load while this session runs, as the cell runner said (None: run alone)."""
    try:
        return json.loads(env.get(CONDITIONS_ENV)) or None
    except (KeyError, ValueError):
        return None


def _in_vm_guest() -> bool:
    return env.in_guest()


def tool_versions() -> dict:
    versions = {"python": sys.version.split()[0], "pyroute2": getattr(pyroute2, "__version__", "?"),
                "libiperf": Iperf3.version()}
    for dist in ("iperf3", "kernel-lab", "pytest"):
        try:
            versions["iperf3-wrapper" if dist == "iperf3" else dist] = version(dist)
        except PackageNotFoundError:  # a plain checkout, or the guest's bundle
            pass
    if shutil.which("netperf"):
        out = subprocess.run(["netperf", "-V"], capture_output=True, text=True).stdout.strip()
        versions["netperf"] = out.split()[-1] if out else "?"
    return versions


def safe_name(test_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", test_id).strip("_")[:150]


_validator = None


def validator():
    """The JSON Schema validator of records (jsonschema, loaded on first use)."""
    global _validator
    if _validator is None:
        import jsonschema  # noqa: PLC0415 - heavy, and only needed where records are checked

        with open(SCHEMA_FILE) as f:
            schema = json.load(f)
        jsonschema.Draft202012Validator.check_schema(schema)
        _validator = jsonschema.Draft202012Validator(schema)
    return _validator


def schema_problem(rec: dict) -> str | None:
    """Why ``rec`` breaks the record schema (the first problem, one line), or None."""
    errors = sorted(validator().iter_errors(rec), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    e = errors[0]
    where = "/".join(str(p) for p in e.absolute_path) or "(top)"
    return f"{where}: {e.message}"[:300]


def upgrade(rec: dict) -> dict:
    """A schema-1 record (before attempts, reasons and kernel logs) in today's shape."""
    if rec.get("schema") == 1:
        rec = dict(rec, schema=2)
        rec.setdefault("attempt", 1)
        rec.setdefault("reason", "")
        rec.setdefault("kernel_log", {"splats": []})
        rec.setdefault("faults_injected", [])
        if rec.get("verdict") not in ("passed", "failed", "skipped", "flaky"):
            rec["verdict"] = "failed"
    return rec


class Recorder:
    """Writes the records of one run (and refuses one that breaks the schema)."""

    def __init__(self, run_dir: str, run_meta: dict, validate: bool = True):
        self.run_dir = run_dir
        self.meta = run_meta
        self.validate = validate
        os.makedirs(run_dir, exist_ok=True)

    def write_meta(self, **more) -> None:
        """(Re)write run.json, e.g. with what the run learnt by its end (module loads, notes)."""
        self.meta.update(more)
        with open(os.path.join(self.run_dir, "run.json"), "w") as f:
            json.dump({"schema": SCHEMA_VERSION, **self.meta}, f, indent=1, default=str)

    def write(self, lab: str, test_id: str, index: int, measurement: dict, verdict: str,
              started: str, ended: str, attempt: int = 1, reason: str = "",
              kernel_log: dict | None = None, faults: list[str] | None = None,
              evidence: dict | None = None) -> str:
        derived = dict(measurement.get("derived", {}))
        problems = check_derived(derived)
        if problems:
            raise HarnessError(f"record {lab}/{measurement.get('name')!r}: " + "; ".join(problems))
        unjudged = machine_unjudged(derived)
        if unjudged:  # an end-to-end figure that carries the machine's losses is not compared
            said = derived.get("metrics") if isinstance(derived.get("metrics"), dict) else {}
            derived["metrics"] = {**said, **{k: {**(said.get(k) or {}), **v}
                                             for k, v in unjudged.items()}}
        if declarations_of(derived):  # the record says how each of its figures is judged
            derived["metrics"] = declarations_of(derived)
        rec = {
            "schema": SCHEMA_VERSION,
            "run_id": self.meta.get("run_id"),
            "lab": lab,
            "test_id": test_id,
            "measurement": index,
            "attempt": attempt,
            "name": measurement.get("name", ""),
            "params": measurement.get("params", {}),
            "kernel": self.meta.get("kernel", {}),
            "host": self.meta.get("host", {}),
            **({"conditions": self.meta["conditions"]} if self.meta.get("conditions") else {}),
            "tools": self.meta.get("tools", {}),
            "state": measurement.get("state", {}),
            "samples": measurement.get("samples", {}),
            "derived": derived,
            "tolerance": measurement.get("tolerance"),
            "verdict": verdict,
            "reason": reason,
            "kernel_log": kernel_log or {"splats": []},
            "faults_injected": list(faults or []),
            "started": started,
            "ended": ended,
            **({"evidence": evidence} if evidence else {}),
        }
        rec = json.loads(json.dumps(rec, default=str))  # what lands on disk is what is checked
        if self.validate:
            problem = schema_problem(rec)
            if problem:
                raise HarnessError(f"record {lab}/{measurement.get('name')!r} breaks the record "
                                   f"schema: {problem}")
        folder = os.path.join(self.run_dir, safe_name(lab))
        os.makedirs(folder, exist_ok=True)
        name = (safe_name(test_id.split("::", 1)[-1]) + (f"-{index}" if index else "")
                + (f"-a{attempt}" if attempt > 1 else "") + ".json")
        path = os.path.join(folder, name)
        with open(path, "w") as f:
            json.dump(rec, f, indent=1)
        return path


def _rebase_captures(rec: dict, session: str, run_dir: str) -> None:
    """A record names its capture files relative to the folder of the session that wrote it
    (``<session>/<lab>/<record>.json``: a guest's, a nightly cell's); as loaded, they are
    relative to ``run_dir``, the folder the reader was given, so a report written anywhere
    links them.  A name that leaves ``run_dir`` is dropped, not followed."""
    for capture in (rec.get("evidence") or {}).get("captures") or []:
        if not isinstance(capture, dict) or not isinstance(capture.get("files"), list):
            continue
        files = []
        for f in capture["files"]:
            if not isinstance(f, str) or os.path.isabs(f):
                continue
            rel = os.path.relpath(os.path.normpath(os.path.join(session, f)), run_dir)
            if rel != ".." and not rel.startswith(".." + os.sep):
                files.append(rel)
        capture["files"] = files


def load_records(run_dir: str, validate: bool = True) -> tuple[list[dict], list[str]]:
    """All records of a run folder, and one problem line per file that is not a valid record.

    Records live in lab folders (``<run>/<lab>/``, also under a guest's or a cell's folder):
    JSON files at the top of ``run_dir`` are the run's own (a report's figure data), not
    records.  Capture files are named relative to ``run_dir`` (:func:`_rebase_captures`)."""
    records, problems = [], []
    for root, _, files in os.walk(run_dir):
        for fn in sorted(files):
            if not fn.endswith(".json") or fn in NOT_RECORDS or root == run_dir:
                continue
            path = os.path.join(root, fn)
            try:
                with open(path) as f:
                    rec = json.load(f)
                if not isinstance(rec, dict) or "schema" not in rec or "lab" not in rec:
                    raise ValueError("not a kernel-lab record (no schema/lab field)")
                rec = upgrade(rec)
                problem = schema_problem(rec) if validate else None
                if problem:
                    raise ValueError(f"breaks the record schema: {problem}")
                _rebase_captures(rec, os.path.dirname(root), run_dir)
                records.append(rec)
            except (OSError, ValueError) as exc:
                problems.append(f"{path}: {exc}")
    return records, problems
