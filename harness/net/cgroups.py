"""cgroup v1 net_cls for the cgroup classifier: a private mount of the net_cls hierarchy in the
run's state folder (``/run/kernel-lab/<prefix>.d/net_cls``), cgroups named with the run prefix,
each with its ``net_cls.classid``.

The net_cls hierarchy is one per machine: every mount of it shows the same cgroups, other
users' included.  So the run removes only the cgroups it made (named with its prefix), then
unmounts; the sweeper does the same for a dead run.  Whether the kernel has net_cls at all is
the capability check's question (feature ``net_cls``, CONFIG_CGROUP_NET_CLASSID); a mount that
fails here is a harness error with its cause, never "the kernel lacks it".

    cls = NetCls(run)
    g = cls.group("c10", classid=0x10010)
    proc = ns.popen(argv, preexec_fn=g.join_self)  # the process sends from class 1:10
    cls.close()
"""

from __future__ import annotations

import os
import subprocess
import time

from ..core.errors import HarnessError
from ..run.registry import state_dir


class Group:
    def __init__(self, path: str, classid: int):
        self.path, self.classid = path, classid

    def join_self(self) -> None:
        """For preexec_fn: move the calling process into this cgroup."""
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))


class NetCls:
    def __init__(self, run):
        self.prefix = run.prefix
        self.mountpoint = os.path.join(state_dir(run.prefix), "net_cls")
        os.makedirs(self.mountpoint, exist_ok=True)
        res = subprocess.run(["mount", "-t", "cgroup", "-o", "net_cls", "kl-net_cls",
                              self.mountpoint], capture_output=True, text=True)
        if res.returncode != 0:
            os.rmdir(self.mountpoint)
            raise HarnessError(f"mount -t cgroup -o net_cls {self.mountpoint} failed: "
                               f"{res.stderr.strip() or res.returncode}")

    def group(self, name: str, classid: int) -> Group:
        path = os.path.join(self.mountpoint, self.prefix + name)
        os.mkdir(path)
        with open(os.path.join(path, "net_cls.classid"), "w") as f:
            f.write(str(classid))
        return Group(path, classid)

    def close(self) -> None:
        remove_mount(self.mountpoint, self.prefix)


def run_cgroups(mountpoint: str, prefix: str) -> list[str]:
    """The cgroups of the run with ``prefix`` under ``mountpoint`` (never anyone else's)."""
    return sorted(os.path.join(mountpoint, e) for e in os.listdir(mountpoint)
                  if e.startswith(prefix) and os.path.isdir(os.path.join(mountpoint, e)))


def remove_mount(mountpoint: str, prefix: str, timeout: float = 5.0) -> list[str]:
    """Remove the run's (empty) cgroups under ``mountpoint``, then unmount and remove the
    folder.  Returns the cgroups removed."""
    deadline = time.monotonic() + timeout
    removed = []
    for path in run_cgroups(mountpoint, prefix):
        while True:  # a process that just ended leaves its cgroup a moment later
            try:
                os.rmdir(path)
                removed.append(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    subprocess.run(["umount", mountpoint], check=True, capture_output=True)
    os.rmdir(mountpoint)
    return removed


def mounts_under(folder: str) -> list[str]:
    with open("/proc/self/mounts") as f:
        points = [line.split()[1] for line in f]
    return [p for p in points if p.startswith(folder + "/")]
