"""The registry of runs: one JSON file per live run under ``/run/kernel-lab/``, and one lock.

A live run holds an exclusive ``flock`` on ``/run/kernel-lab-locks/<prefix>.lock`` from the
moment it claims its prefix until it ends (the kernel drops it when the process dies, however
it dies).  That folder is fixed, whatever ``KERNEL_LAB_STATE`` says: a session with another
state folder cannot see this run's registry, but it sees the lock, and the sweeper leaves a
run whose lock is held alone.  The lock is also what claims a prefix, so two sessions with
different state folders never share one.

``<prefix>.json`` holds the owner's PID and start time (a run is alive while that very process
runs), the run's namespaces, the processes it started (PID + start time) and the NICs it
borrowed with their original state.  The sweeper reads these files to clean up after a run that
died; nothing else of the machine is ever inferred to be ours.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time

from ..core.procs import process_alive
from ..core import env

STATE_DIR = env.get("KERNEL_LAB_STATE")
LOCK_DIR = "/run/kernel-lab-locks"  # fixed: every session on the machine sees every lock
PREFIX_RE = re.compile(r"^kl[0-9a-f]{4}-")
IFNAMSIZ = 15  # usable characters of an interface name


def state_dir(prefix: str) -> str:
    """The run's folder for files that are not results (private OVS databases and sockets, a
    net_cls mount): ``/run/kernel-lab/<prefix>.d``, removed by the run or the sweeper."""
    return os.path.join(STATE_DIR, prefix.rstrip("-") + ".d")


def registry_path(prefix: str) -> str:
    return os.path.join(STATE_DIR, prefix.rstrip("-") + ".json")


def lock_path(prefix: str) -> str:
    return os.path.join(LOCK_DIR, prefix.rstrip("-") + ".lock")


def take_lock(prefix: str) -> int | None:
    """The file descriptor holding ``prefix``'s lock, or None when another process holds it.
    Close-on-exec: the programs a run starts do not inherit it."""
    os.makedirs(LOCK_DIR, mode=0o755, exist_ok=True)
    fd = os.open(lock_path(prefix), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def release_lock(prefix: str, fd: int) -> None:
    try:
        os.unlink(lock_path(prefix))
    except FileNotFoundError:
        pass
    os.close(fd)


def lock_held(prefix: str) -> bool:
    """Some live process holds ``prefix``'s lock (a run of any session is using it)."""
    try:
        fd = os.open(lock_path(prefix), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def write(prefix: str, data: dict) -> None:
    """Replace the registry file of ``prefix`` atomically."""
    path = registry_path(prefix)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def registries() -> dict[str, dict]:
    """Every registry file: prefix -> its content ({"_mtime": ...} while still being written)."""
    found = {}
    try:
        names = os.listdir(STATE_DIR)
    except FileNotFoundError:
        return found
    for fn in names:
        if not fn.endswith(".json"):
            continue
        prefix = fn[: -len(".json")] + "-"
        if not PREFIX_RE.fullmatch(prefix):  # only a run's registry, never any other JSON
            continue
        path = os.path.join(STATE_DIR, fn)
        try:
            with open(path) as f:
                found[prefix] = json.load(f)
        except (OSError, ValueError):
            found[prefix] = {"_mtime": _mtime(path)}  # an empty claim: decided by age
    return found


def _mtime(path):
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return time.time()


def run_is_alive(record: dict) -> bool:
    if "pid" not in record:
        # a claim file without content yet: alive for a grace minute
        return time.time() - record.get("_mtime", 0) < 60
    return process_alive(record["pid"], record.get("starttime"))
