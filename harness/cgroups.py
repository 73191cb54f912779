"""cgroup v1 net_cls for the cgroup classifier: a private mount of the net_cls hierarchy in the
run's state folder (``/run/kernel-lab/<prefix>.d/net_cls``), cgroups named with the run prefix,
each with its ``net_cls.classid``.  Closing removes the cgroups and unmounts; the sweeper does
the same for a dead run.

    cls = NetCls(run)                    # raises KernelLacks when net_cls cannot be mounted
    g = cls.group("c10", classid=0x10010)
    proc = ns.popen(argv, preexec_fn=g.join_self)  # the process sends from class 1:10
    cls.close()
"""

from __future__ import annotations

import os
import subprocess
import time

from .errors import KernelLacks
from .run import state_dir


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
            raise KernelLacks("cgroup v1 net_cls controller", "CONFIG_CGROUP_NET_CLASSID",
                              f"mount -t cgroup -o net_cls failed: {res.stderr.strip()}")

    def group(self, name: str, classid: int) -> Group:
        path = os.path.join(self.mountpoint, self.prefix + name)
        os.mkdir(path)
        with open(os.path.join(path, "net_cls.classid"), "w") as f:
            f.write(str(classid))
        return Group(path, classid)

    def close(self) -> None:
        remove_mount(self.mountpoint)


def remove_mount(mountpoint: str, timeout: float = 5.0) -> None:
    """Remove the (empty) cgroups under ``mountpoint``, then unmount and remove it."""
    deadline = time.monotonic() + timeout
    for entry in os.listdir(mountpoint):
        path = os.path.join(mountpoint, entry)
        if os.path.isdir(path):
            while True:  # a process that just ended leaves its cgroup a moment later
                try:
                    os.rmdir(path)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
    subprocess.run(["umount", mountpoint], check=True, capture_output=True)
    os.rmdir(mountpoint)


def mounts_under(folder: str) -> list[str]:
    with open("/proc/self/mounts") as f:
        points = [line.split()[1] for line in f]
    return [p for p in points if p.startswith(folder + "/")]
