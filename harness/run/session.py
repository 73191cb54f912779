"""One run of the harness: its prefix, results folder, registry entry and undo stack.

Every object a run creates is named ``kl<4 hex>-<suffix>`` (namespaces, links) and every process
it starts is written to its registry file together with the owner's PID and start time, so the
sweeper can tell a live run from a dead one and never touches a live run's objects.

Processes: :meth:`Run.add_process` records one the run started; :meth:`Run.finish` waits for it
with a deadline and stops it when the deadline passes (a helper never outlives its use);
:meth:`Run.stop_processes_in` ends the run's own processes inside a namespace and reports, but
never kills, any other process found there.

A process that holds a run unwinds on SIGTERM as on Ctrl-C (:func:`unwind_on_sigterm`): a CI
job's timeout or a ``kill PID`` then runs the undo stack, the fixtures' teardowns and the stop
of a booted guest, instead of leaving everything to the next session's sweeper.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import secrets
import signal
import subprocess
import threading

from ..core import netns
from ..core.defer import Defer
from ..core.errors import HarnessError
from ..core.procs import command, descendants, pids_in_netns, proc_starttime, process_alive, stop
from . import registry
from .registry import IFNAMSIZ, STATE_DIR

log = logging.getLogger(__name__)


def _unwinding(signum, frame):
    log.warning("signal %s while the run unwinds: its teardown goes on", signum)


def _interrupted(signum, frame):
    # once: a SIGTERM after it (a parent that got the same Ctrl-C and now asks the child to
    # stop, harness.core.procs.wait_unwinding) must not cut the teardown short.  A Python
    # handler, not SIG_IGN, which the commands the teardown runs would inherit.
    signal.signal(signal.SIGTERM, _unwinding)
    raise KeyboardInterrupt(f"signal {signum}")


def unwind_on_sigterm() -> None:
    """Make SIGTERM raise KeyboardInterrupt, so ``finally`` blocks and teardowns run (Python's
    default ends the process at once), once: a SIGTERM while the run unwinds (from Ctrl-C or
    the first SIGTERM) is let be.  A second Ctrl-C still interrupts.  Only from the main
    thread, and only where nobody else handles the signal."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupted)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted)


class Run:
    """One run of the harness: prefix, results folder, registry, session-wide undo stack."""

    def __init__(self, results_root: str = "results", run_id: str | None = None):
        os.makedirs(STATE_DIR, exist_ok=True)
        self._lock = threading.Lock()
        self.pid, self.starttime = os.getpid(), proc_starttime(os.getpid())
        self.processes: dict[int, dict] = {}
        self.namespaces: list[str] = []
        self.nics: dict[str, dict] = {}  # borrowed NICs: lab name -> original state
        self.notes: list[str] = []  # what the run saw and left alone (reported at the end)
        self.prefix = self._claim_prefix()
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.run_id = run_id or f"{stamp}-{self.prefix.rstrip('-')}"
        self.results_root = os.path.abspath(results_root)
        self.results_dir = os.path.join(self.results_root, self.run_id)
        self.defer = Defer()
        self.closed = False
        self._write_registry()
        unwind_on_sigterm()

    # -- naming -------------------------------------------------------------------------
    def _claim_prefix(self) -> str:
        """A prefix no live run of any session holds: its lock first (the machine-wide claim,
        held for the run's life), then its registry file and no namespace with it."""
        for _ in range(100):
            prefix = f"kl{secrets.token_hex(2)}-"
            lock = registry.take_lock(prefix)
            if lock is None:
                continue
            try:
                fd = os.open(registry.registry_path(prefix), os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                             0o644)
            except FileExistsError:
                registry.release_lock(prefix, lock)
                continue
            os.close(fd)
            if not any(n.startswith(prefix) for n in _list_netns()):
                self._lock_fd = lock
                return prefix
            os.unlink(registry.registry_path(prefix))
            registry.release_lock(prefix, lock)
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
        return registry.registry_path(self.prefix)

    def registry_data(self) -> dict:
        return {"prefix": self.prefix, "run_id": getattr(self, "run_id", None), "pid": self.pid,
                "starttime": self.starttime, "namespaces": list(self.namespaces),
                "processes": list(self.processes.values()), "nics": list(self.nics.values())}

    def _write_registry(self) -> None:
        with self._lock:
            registry.write(self.prefix, self.registry_data())

    def add_namespace(self, name: str) -> None:
        self.namespaces.append(name)
        self._write_registry()

    def forget_namespace(self, name: str) -> None:
        if name in self.namespaces:
            self.namespaces.remove(name)
            self._write_registry()

    def add_nic(self, lab_name: str, original: dict) -> None:
        """Remember a borrowed NIC's original state (for the give-back, even after a crash)."""
        self.nics[lab_name] = original
        self._write_registry()

    def forget_nic(self, lab_name: str) -> None:
        if self.nics.pop(lab_name, None) is not None:
            self._write_registry()

    def scratch_namespace(self, suffix: str) -> str:
        """An empty namespace of the run (for probes), removed when the run closes."""
        name = self.prefix + suffix
        self.add_namespace(name)
        netns.create(name).close()
        self.defer.push(f"netns {name}", self._drop_namespace, name)
        return name

    def _drop_namespace(self, name: str) -> None:
        self.stop_processes_in(name)
        netns.remove(name)
        self.forget_namespace(name)

    # -- processes ----------------------------------------------------------------------
    def add_process(self, pid: int, what: str) -> None:
        self.processes[pid] = {"pid": pid, "starttime": proc_starttime(pid), "what": what}
        self._write_registry()

    def forget_process(self, pid: int) -> None:
        if self.processes.pop(pid, None) is not None:
            self._write_registry()

    def owns(self, pid: int) -> bool:
        """Did this run start ``pid`` (recorded, or a descendant of the run's own process or
        of a recorded one)?"""
        rec = self.processes.get(pid)
        if rec is not None and process_alive(pid, rec["starttime"]):
            return True
        return pid in descendants({self.pid} | set(self.processes))

    def stop(self, proc: subprocess.Popen) -> None:
        """Stop a process this run started (SIGTERM, then SIGKILL), reap it and forget it."""
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.forget_process(proc.pid)

    def finish(self, proc: subprocess.Popen, timeout: float, what: str = "", stdin=None):
        """Wait up to ``timeout`` s for ``proc`` and return its (stdout, stderr); when the time
        is up, stop it and raise HarnessError.  Either way it is forgotten, never left running."""
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(proc)
            proc.communicate()
            raise HarnessError(f"{what or proc.args[0]} did not finish within {timeout:.0f} s; "
                               "stopped") from None
        finally:
            if proc.poll() is not None:
                self.forget_process(proc.pid)
        return out, err

    def stop_processes_in(self, namespace: str) -> list[int]:
        """End this run's processes inside ``namespace``; report any other process there (a
        user's shell, say) in :attr:`notes` and leave it running.  Returns the PIDs stopped."""
        ino = netns.inode(namespace)
        if ino is None:
            return []
        inside = pids_in_netns({ino})
        ours = descendants({self.pid} | set(self.processes)) | set(self.processes)
        victims = [(p, proc_starttime(p)) for p in inside if p in ours]
        for pid in inside:
            if pid not in ours:
                note = (f"process {pid} ({command(pid)}) inside {namespace} was not started by "
                        "kernel-lab; left running")
                log.warning(note)
                self.notes.append(note)
        stopped = stop(victims)
        for pid in stopped:
            self.forget_process(pid)
        return stopped

    # -- end ----------------------------------------------------------------------------
    def close(self) -> list[str]:
        """Unwind everything the run still holds.  The registry entry is dropped by the caller
        once the sweeper has checked for leftovers (``harness.net.sweeper.close_run``)."""
        if self.closed:
            return []
        self.closed = True
        return self.defer.unwind()

    def drop_registry(self) -> None:
        """The run is over: its registry file goes, and then its lock."""
        try:
            os.unlink(self.registry_path)
        except FileNotFoundError:
            pass
        fd, self._lock_fd = getattr(self, "_lock_fd", None), None
        if fd is not None:
            registry.release_lock(self.prefix, fd)


def _list_netns() -> list[str]:
    try:
        return os.listdir(netns.NETNS_RUN_DIR)
    except FileNotFoundError:
        return []
