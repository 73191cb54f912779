"""Loading kernel modules the classic way (``modprobe ifb numifbs=1``), only where allowed.

A module load changes the root namespace: ``numifbs=1`` makes ``ifb0`` there, ``ip_gre`` adds
the fallback devices ``gre0``, ``gretap0`` and ``erspan0`` to every namespace.  So on the host
kernel-lab loads modules only when the user says so (``--modprobe``); inside a guest it always
may (the guest is thrown away).  Every load is logged with the root-namespace devices it
created and their kind; a device is handed to a lab only if this run's load created it and it
has the kind the lab expects; what the run could not take or remove is named in the run's
records (``module_loads`` in run.json).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess

from pyroute2 import IPRoute


def root_links() -> dict[str, str | None]:
    """Links of the root namespace (this process's): name -> kind (None for a plain device)."""
    out = {}
    with IPRoute() as ipr:
        for msg in ipr.get_links():
            info = msg.get_attr("IFLA_LINKINFO")
            out[msg.get_attr("IFLA_IFNAME")] = info.get_attr("IFLA_INFO_KIND") if info else None
    return out


def module_loaded(module: str) -> bool:
    return os.path.isdir(f"/sys/module/{module}")


class ModuleLoader:
    """modprobe for one run; ``allowed`` is the user's (or the guest's) permission."""

    def __init__(self, allowed: bool, release: str | None = None):
        self.allowed = allowed
        self.release = release or platform.release()
        self.log: list[dict] = []
        self._claimed: set[str] = set()

    @property
    def can_load(self) -> bool:
        return (os.path.isdir(f"/lib/modules/{self.release}") and shutil.which("modprobe") is not None
                and os.path.exists("/proc/modules"))

    def load(self, module: str, *params: str) -> dict:
        """Run ``modprobe module params``; returns the log entry (rc, stderr, created devices)."""
        was_loaded = module_loaded(module)
        before = root_links()
        res = subprocess.run(["modprobe", module, *params], capture_output=True, text=True)
        after = root_links()
        created = [] if was_loaded else [{"name": n, "kind": k} for n, k in sorted(after.items())
                                         if n not in before]
        entry = {"argv": ["modprobe", module, *params], "rc": res.returncode,
                 "stderr": res.stderr.strip(), "was_loaded": was_loaded, "created": created}
        self.log.append(entry)
        return entry

    def claim(self, module: str, kind: str) -> str | None:
        """A root-namespace device of ``kind`` that this run's load of ``module`` created and
        nobody has claimed yet, or None."""
        present = root_links()
        for entry in self.log:
            if entry["argv"][1] != module:
                continue
            for dev in entry["created"]:
                name = dev["name"]
                if dev["kind"] == kind and name not in self._claimed and present.get(name) == kind:
                    self._claimed.add(name)
                    dev["claimed"] = True
                    return name
        return None

    def leftovers(self) -> list[dict]:
        """Devices this run's loads created that still sit in the root namespace."""
        present = root_links()
        return [dict(dev, module=e["argv"][1]) for e in self.log for dev in e["created"]
                if dev["name"] in present and not dev.get("claimed")]

    def remove_leftovers(self) -> list[dict]:
        """Delete what the loads created and the run can remove (an unclaimed ifb0); return
        what stays (fallback tunnel devices such as gre0 cannot be deleted)."""
        stays = []
        with IPRoute() as ipr:
            for dev in self.leftovers():
                found = ipr.link_lookup(ifname=dev["name"])
                if not found:
                    continue
                try:
                    ipr.link("del", index=found[0])
                    dev["removed"] = True
                except Exception as exc:  # noqa: BLE001 - e.g. EOPNOTSUPP for gre0
                    dev["kept"] = f"cannot be removed: {exc}"
                    stays.append(dev)
        return stays
