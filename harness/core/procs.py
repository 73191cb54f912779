"""Processes told apart by PID *and* start time, so a reused PID is never mistaken for ours.

The run records ``(pid, starttime)`` of everything it starts; only those are ever stopped
(:func:`stop`), and a process found where only ours should be is reported, not killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time


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


def parent_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
        return None


def command(pid: int) -> str:
    """A short description of ``pid``: its command line, or its name."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        if argv:
            return " ".join(argv)[:120]
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def pids_in_netns(inodes: set[int]) -> list[int]:
    """Every process whose network namespace is one of ``inodes`` (not this process)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino in inodes:
                pids.append(int(entry))
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    return pids


def descendants(roots: set[int]) -> set[int]:
    """The processes below ``roots`` in the process tree (not the roots themselves)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ppid = parent_pid(int(entry))
            if ppid is not None:
                children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found and child not in roots:
                found.add(child)
                todo.append(child)
    return found


def stop(processes: list[tuple[int, int | None]], timeout: float = 2.0) -> list[int]:
    """SIGTERM, then SIGKILL after ``timeout``, each ``(pid, starttime)`` still alive as that
    very process; reaps our own children.  Returns the PIDs that were signalled."""
    signalled = []
    for pid, start in processes:
        if not process_alive(pid, start):
            continue
        try:
            os.kill(pid, signal.SIGTERM)
            signalled.append((pid, start))
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(process_alive(p, s) for p, s in signalled):
        for pid, _ in signalled:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        time.sleep(0.02)
    for pid, start in signalled:
        if process_alive(pid, start):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    return [pid for pid, _ in signalled]


#: seconds a child session gets to unwind (its labs' teardown, its guest) once it is told to stop
UNWIND_S = 60


def wait_unwinding(proc: subprocess.Popen, timeout: float | None = None,
                   unwind_s: float = UNWIND_S) -> tuple:
    """``proc.communicate()``, except when the wait is cut short (Ctrl-C, the timeout, SIGTERM
    raised as an exception): the child is then asked to stop (SIGTERM) and given ``unwind_s``
    to tear down what it built, and only then killed.  ``subprocess.run`` and ``call`` kill it
    at once, which left a child session's namespaces and guest to the sweeper."""
    try:
        return proc.communicate(timeout=timeout)
    except BaseException:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.communicate(timeout=unwind_s)
        except subprocess.TimeoutExpired:
            proc.kill()  # what it registered is the sweeper's
            proc.communicate()
        raise


def run_unwinding(argv: list[str], *, timeout: float | None = None, unwind_s: float = UNWIND_S,
                  capture_output: bool = False, **popen) -> subprocess.CompletedProcess:
    """``subprocess.run`` for a child that builds things (a pytest session, kernel-lab): stopped
    as :func:`wait_unwinding` says."""
    if capture_output:
        popen["stdout"] = popen["stderr"] = subprocess.PIPE
    with subprocess.Popen(argv, **popen) as proc:
        out, err = wait_unwinding(proc, timeout, unwind_s)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
