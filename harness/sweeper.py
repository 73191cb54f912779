"""Remove what dead runs left behind.

A run is dead when the PID in its registry file no longer runs (or now belongs to another
process, told apart by start time).  For a dead run the sweeper kills, by PID, the processes it
recorded and any process still inside one of its namespaces (nothing but the run itself ever
ran there), deletes its namespaces (which takes their links and qdiscs with them), deletes any
root-namespace link with its prefix, and drops its registry file.  Namespaces with a run prefix
but no registry file are orphans of a run that died mid-start: also swept.
A live run's objects are never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

from . import netns
from .run import PREFIX_RE, STATE_DIR, process_alive, state_dir


def _registries() -> dict[str, dict]:
    found = {}
    try:
        names = os.listdir(STATE_DIR)
    except FileNotFoundError:
        return found
    for fn in names:
        if not fn.endswith(".json"):
            continue
        prefix = fn[: -len(".json")] + "-"
        try:
            with open(os.path.join(STATE_DIR, fn)) as f:
                found[prefix] = json.load(f)
        except (OSError, ValueError):
            found[prefix] = {}  # being written, or empty claim file: decided by age below
            found[prefix]["_mtime"] = _mtime(os.path.join(STATE_DIR, fn))
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


def _pids_in_namespaces(inodes: set[int]) -> list[int]:
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


def stop_processes_in(namespaces: list[str]) -> list[int]:
    """End (SIGTERM, then SIGKILL) every process inside these run namespaces; returns the PIDs.
    Only the run's own namespaces are ever passed: what runs there was started by the run."""
    inodes = {netns.inode(n) for n in namespaces} - {None}
    return _kill(_pids_in_namespaces(inodes)) if inodes else []


def _kill(pids: list[int], timeout: float = 2.0) -> list[int]:
    killed = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
            killed.append(pid)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in killed):
        for p in killed:
            try:
                os.waitpid(p, os.WNOHANG)
            except ChildProcessError:
                pass
        time.sleep(0.02)
    for pid in killed:
        if os.path.exists(f"/proc/{pid}"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return killed


def sweep_prefix(prefix: str, record: dict | None = None) -> list[str]:
    """Remove every object of the run with ``prefix``; returns a line per removed object."""
    from pyroute2 import IPRoute, netns as pr_netns

    record = record or {}
    removed = []
    spaces = [n for n in _list(netns.NETNS_RUN_DIR) if n.startswith(prefix)]
    inodes = {netns.inode(n) for n in spaces} - {None}
    recorded = [p["pid"] for p in record.get("processes", [])
                if process_alive(p["pid"], p.get("starttime"))]
    victims = sorted(set(recorded) | set(_pids_in_namespaces(inodes)))
    for pid in _kill(victims):
        removed.append(f"process {pid}")
    for name in spaces:
        try:
            pr_netns.remove(name)
            removed.append(f"netns {name}")
        except OSError:
            pass
    state = state_dir(prefix)
    if os.path.isdir(state):
        from .cgroups import mounts_under, remove_mount

        for mountpoint in mounts_under(state):  # e.g. a net_cls mount (processes are gone)
            try:
                remove_mount(mountpoint)
                removed.append(f"mount {mountpoint}")
            except (OSError, subprocess.CalledProcessError):
                subprocess.run(["umount", "-l", mountpoint], capture_output=True)
        shutil.rmtree(state, ignore_errors=True)
        removed.append(f"state {state}")
    with IPRoute() as ipr:
        for link in ipr.get_links():
            ifname = link.get_attr("IFLA_IFNAME")
            if ifname and ifname.startswith(prefix):
                try:
                    ipr.link("del", index=link["index"])
                    removed.append(f"link {ifname}")
                except Exception:  # noqa: BLE001 - gone meanwhile
                    pass
    return removed


def sweep(dry_run: bool = False) -> list[str]:
    """Sweep every dead run; returns what was removed (or would be, with ``dry_run``)."""
    registries = _registries()
    prefixes = {n[: n.index("-") + 1] for n in _list(netns.NETNS_RUN_DIR) if PREFIX_RE.match(n)}
    prefixes |= set(registries)
    removed = []
    for prefix in sorted(prefixes):
        record = registries.get(prefix)
        if record is not None and run_is_alive(record):
            continue
        if dry_run:
            removed.append(f"run {prefix.rstrip('-')} (dead)")
            continue
        removed += sweep_prefix(prefix, record)
        try:
            os.unlink(os.path.join(STATE_DIR, prefix.rstrip("-") + ".json"))
            removed.append(f"registry {prefix.rstrip('-')}")
        except FileNotFoundError:
            pass
    return removed


def _list(d):
    try:
        return os.listdir(d)
    except FileNotFoundError:
        return []
