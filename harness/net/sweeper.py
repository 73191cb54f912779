"""Remove what dead runs left behind, and what a closing run might have missed.

A run is dead when the PID in its registry file no longer runs (or now belongs to another
process, told apart by start time).  For a dead run the sweeper:

1. gives back the NICs it borrowed (their original state is in the registry);
2. stops, by PID, the processes it recorded and their descendants; any other process found in
   its namespaces (a user's shell, say) is reported and left running;
3. deletes its namespaces (which takes their links and qdiscs with them) and any root-namespace
   link with its prefix;
4. removes its cgroups (only those named with its prefix: the net_cls hierarchy is shared by
   every mount of it), unmounts and deletes its state folder, and drops its registry file.

Namespaces with a run prefix but no registry file are orphans of a run that died mid-start,
unless a live process holds that prefix's lock (a run of a session with another state folder:
harness.run.registry): swept only then.  A live run's objects are never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from pyroute2 import IPRoute

from ..core import netns
from ..core.procs import command, descendants, pids_in_netns, process_alive, stop
from ..run import registry
from ..run.registry import PREFIX_RE, STATE_DIR, state_dir
from .cgroups import mounts_under, remove_mount
from .nic import give_back


def sweep_prefix(prefix: str, record: dict | None = None) -> list[str]:
    """Remove every object of the run with ``prefix``; returns a line per removed object and
    per stranger left alone."""
    record = record or {}
    removed = []
    for state in record.get("nics", []):
        try:
            removed += [f"nic {line}" for line in give_back(state)]
        except Exception as exc:  # noqa: BLE001 - report and go on with the rest
            removed.append(f"nic {state.get('name')}: could not give back: {exc}")
    spaces = [n for n in _list(netns.NETNS_RUN_DIR) if n.startswith(prefix)]
    inodes = {netns.inode(n) for n in spaces} - {None}
    recorded = {p["pid"] for p in record.get("processes", [])
                if process_alive(p["pid"], p.get("starttime"))}
    ours = recorded | descendants(recorded)
    inside = set(pids_in_netns(inodes)) if inodes else set()
    for pid in sorted(inside - ours):
        removed.append(f"stranger {pid} ({command(pid)}) in a namespace of {prefix.rstrip('-')}: "
                       "left running")
    for pid in stop([(p, None) for p in sorted(ours)]):
        removed.append(f"process {pid}")
    for name in spaces:
        try:
            netns.remove(name)
            removed.append(f"netns {name}")
        except OSError:
            pass
    state = state_dir(prefix)
    if os.path.isdir(state):
        for mountpoint in mounts_under(state):  # e.g. a net_cls mount (processes are gone)
            try:
                remove_mount(mountpoint, prefix)
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
    records = registry.registries()
    prefixes = {n[: n.index("-") + 1] for n in _list(netns.NETNS_RUN_DIR) if PREFIX_RE.match(n)}
    prefixes |= set(records)
    removed = []
    for prefix in sorted(prefixes):
        record = records.get(prefix)
        if record is not None and registry.run_is_alive(record):
            continue
        if record is None and registry.lock_held(prefix):
            continue  # no registry here, but a live run (another state folder's) holds it
        if dry_run:
            removed.append(f"run {prefix.rstrip('-')} (dead)")
            continue
        removed += sweep_prefix(prefix, record)
        try:
            os.unlink(os.path.join(STATE_DIR, prefix.rstrip("-") + ".json"))
            removed.append(f"registry {prefix.rstrip('-')}")
        except FileNotFoundError:
            pass
    if not dry_run:  # locks no process holds any more (their runs died)
        for fn in _list(registry.LOCK_DIR):
            prefix = fn.removesuffix(".lock") + "-"
            if fn.endswith(".lock") and PREFIX_RE.fullmatch(prefix) and prefix not in records:
                fd = registry.take_lock(prefix)  # held while it is unlinked: no run can
                if fd is not None:               # claim that file meanwhile
                    registry.release_lock(prefix, fd)
    return removed


def close_run(run) -> list[str]:
    """End a live run: unwind its undo stack, sweep whatever a crashed fixture left under its
    prefix, drop its registry entry.  Returns the problems (failed undos, strangers)."""
    failures = run.close()
    leftovers = sweep_prefix(run.prefix, run.registry_data())
    failures += [line for line in leftovers if line.startswith(("stranger", "nic"))]
    run.drop_registry()
    return failures + list(run.notes)


def _list(d):
    try:
        return os.listdir(d)
    except FileNotFoundError:
        return []
