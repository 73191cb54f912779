"""The identity of one run: its unique prefix, its registry entry, its undo stack.

Every object a run creates is named ``kl<4 hex>-<suffix>`` (namespaces, links) and every process
it starts is written to its registry file under ``/run/kernel-lab/`` together with the owner's
PID and start time.  The sweeper (``harness.sweeper``) uses that file to tell a live run from a
dead one, so a run's objects are never removed while it lives.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import secrets
import threading

from .defer import Defer
from .errors import HarnessError

STATE_DIR = os.environ.get("KERNEL_LAB_STATE", "/run/kernel-lab")
PREFIX_RE = re.compile(r"^kl[0-9a-f]{4}-")
IFNAMSIZ = 15  # usable characters of an interface name


def state_dir(prefix: str) -> str:
    """The run's folder for files that are not results (private OVS databases and sockets, a
    net_cls mount): ``/run/kernel-lab/<prefix>.d``, removed by the run or the sweeper."""
    return os.path.join(STATE_DIR, prefix.rstrip("-") + ".d")


def proc_starttime(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(data.rsplit(")", 1)[1].split()[19])


def process_alive(pid: int, starttime: int | None) -> bool:
    """True when ``pid`` runs and is the very process that was recorded (no PID reuse)."""
    now = proc_starttime(pid)
    return now is not None and (starttime is None or now == starttime)


class Run:
    """One run of the harness: prefix, results folder, registry, session-wide undo stack."""

    def __init__(self, results_root: str = "results", run_id: str | None = None):
        os.makedirs(STATE_DIR, exist_ok=True)
        self._lock = threading.Lock()
        self.prefix = self._claim_prefix()
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.run_id = run_id or f"{stamp}-{self.prefix.rstrip('-')}"
        self.results_root = os.path.abspath(results_root)
        self.results_dir = os.path.join(self.results_root, self.run_id)
        self.defer = Defer()
        self.processes: dict[int, dict] = {}
        self.namespaces: list[str] = []
        self.closed = False
        self._write_registry()

    # -- naming -------------------------------------------------------------------------
    def _claim_prefix(self) -> str:
        for _ in range(100):
            prefix = f"kl{secrets.token_hex(2)}-"
            path = os.path.join(STATE_DIR, prefix.rstrip("-") + ".json")
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                continue
            os.close(fd)
            if not any(n.startswith(prefix) for n in _list_netns()):
                return prefix
            os.unlink(path)
        raise HarnessError(f"could not claim a free run prefix in {STATE_DIR}")

    def name(self, suffix: str) -> str:
        """An object name carrying the run prefix; interface names fit IFNAMSIZ."""
        name = self.prefix + suffix
        if len(name) > IFNAMSIZ:
            raise HarnessError(f"name {name!r} is longer than {IFNAMSIZ} characters")
        return name

    # -- registry -----------------------------------------------------------------------
    @property
    def registry_path(self) -> str:
        return os.path.join(STATE_DIR, self.prefix.rstrip("-") + ".json")

    def _write_registry(self) -> None:
        with self._lock:
            data = {
                "prefix": self.prefix,
                "run_id": getattr(self, "run_id", None),
                "pid": os.getpid(),
                "starttime": proc_starttime(os.getpid()),
                "namespaces": list(self.namespaces),
                "processes": list(self.processes.values()),
            }
            tmp = self.registry_path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(data, f)
            os.replace(tmp, self.registry_path)

    def add_namespace(self, name: str) -> None:
        self.namespaces.append(name)
        self._write_registry()

    def forget_namespace(self, name: str) -> None:
        if name in self.namespaces:
            self.namespaces.remove(name)
            self._write_registry()

    def scratch_namespace(self, suffix: str) -> str:
        """An empty namespace of the run (for probes), removed when the run closes."""
        from . import netns

        name = self.prefix + suffix
        self.add_namespace(name)
        netns.create(name).close()
        self.defer.push(f"netns {name}", self._drop_namespace, name)
        return name

    def _drop_namespace(self, name: str) -> None:
        from . import netns

        netns.remove(name)
        self.forget_namespace(name)

    def add_process(self, pid: int, what: str) -> None:
        self.processes[pid] = {"pid": pid, "starttime": proc_starttime(pid), "what": what}
        self._write_registry()

    def forget_process(self, pid: int) -> None:
        if self.processes.pop(pid, None) is not None:
            self._write_registry()

    def close(self) -> list[str]:
        """Unwind everything the run still holds and drop its registry entry."""
        if self.closed:
            return []
        failures = self.defer.unwind()
        from .sweeper import sweep_prefix  # what a crashed fixture may have left

        sweep_prefix(self.prefix, self._registry_data())
        try:
            os.unlink(self.registry_path)
        except FileNotFoundError:
            pass
        self.closed = True
        return failures

    def _registry_data(self) -> dict:
        return {"processes": list(self.processes.values()), "namespaces": list(self.namespaces)}


def _list_netns() -> list[str]:
    from .netns import NETNS_RUN_DIR

    try:
        return os.listdir(NETNS_RUN_DIR)
    except FileNotFoundError:
        return []
