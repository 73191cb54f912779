"""A private Open vSwitch instance inside one namespace of the run.

ovsdb-server and ovs-vswitchd are started directly (no systemd, no ovs-ctl), in the foreground as
children of the harness, inside the namespace: the run records their PIDs, stops them by PID, and
the sweeper finds them in a dead run's namespace.  Database, sockets and pid files live in the
run's state folder (``/run/kernel-lab/<prefix>.d/ovs-<namespace>``), removed when the instance
stops; the logs go to the results folder.

    sw = OVS(host_ns, logdir).start()
    sw.add_bridge("grebr0", datapath="netdev")   # or "system"
    sw.add_port("grebr0", "gre0", type="gre", remote_ip="198.18.1.2")
    ...
    sw.stop()

Datapaths (one per bridge, both can coexist in one instance): ``system`` is the kernel datapath
(module openvswitch, one ``ovs-system`` datapath per namespace); ``netdev`` is the userspace
datapath (packets through AF_PACKET sockets and taps).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from ..core import faults, netns
from ..core.errors import HarnessError
from ..core.tools import require_tool
from ..run.registry import state_dir

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
DATAPATHS = ("system", "netdev")


class OVS:
    def __init__(self, ns, logdir: str):
        self.ns = ns
        self.dir = os.path.join(state_dir(ns.run.prefix), "ovs-" + ns.name)
        self.logdir = logdir
        self.db_sock = os.path.join(self.dir, "db.sock")
        self.procs: list[subprocess.Popen] = []
        self.bridges: list[str] = []

    # -- life cycle -----------------------------------------------------------------------
    def start(self, timeout: float = 20.0) -> "OVS":
        for tool in ("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl"):
            require_tool(tool, "openvswitch-switch")
        if not os.path.exists(SCHEMA):
            raise HarnessError(f"{SCHEMA} missing: install openvswitch-switch")
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(self.logdir, exist_ok=True)
        db = os.path.join(self.dir, "conf.db")
        self._run(["ovsdb-tool", "create", db, SCHEMA])
        self._daemon("ovsdb-server", [db, f"--remote=punix:{self.db_sock}",
                                      f"--unixctl={self.dir}/ovsdb-server.ctl"])
        self._wait(lambda: os.path.exists(self.db_sock), timeout, "ovsdb-server socket")
        self.vsctl("--no-wait", "init")
        self._daemon("ovs-vswitchd", [f"unix:{self.db_sock}",
                                      f"--unixctl={self.dir}/ovs-vswitchd.ctl"])
        self._wait(lambda: self._appctl_ok("version"), timeout, "ovs-vswitchd control socket")
        return self

    def stop(self) -> None:
        """Delete the bridges (and with them the datapath), then end the daemons by PID."""
        try:
            if self.procs and self.procs[-1].poll() is None:
                for br in list(self.bridges):
                    self.vsctl("--if-exists", "del-br", br, check=False)
                self.appctl("exit", "--cleanup", check=False, timeout=10)
        finally:
            for proc in reversed(self.procs):
                self.ns.run.stop(proc)
            self.procs.clear()
            shutil.rmtree(self.dir, ignore_errors=True)
            try:
                os.rmdir(os.path.dirname(self.dir))
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- configuration --------------------------------------------------------------------
    def add_bridge(self, name: str, datapath: str) -> None:
        if datapath not in DATAPATHS:
            raise HarnessError(f"unknown OVS datapath {datapath!r} (system or netdev)")
        self.vsctl("add-br", name, "--", "set", "bridge", name, f"datapath_type={datapath}")
        self._recipe("add-br", name, "--", "set", "bridge", name, f"datapath_type={datapath}")
        self.bridges.append(name)

    def del_bridge(self, name: str) -> None:
        self.vsctl("--if-exists", "del-br", name)
        if name in self.bridges:
            self.bridges.remove(name)

    def add_port(self, bridge: str, port: str, type: str | None = None, **options) -> None:
        argv = ["add-port", bridge, port]
        if type or options:
            argv += ["--", "set", "interface", port]
            if type:
                argv.append(f"type={type}")
            argv += [f"options:{k}={v}" for k, v in options.items()]
        if faults.apply("vsctl", "add-port", type, {"args": argv}) is None:
            return  # an injected fault: the port is never added
        self.vsctl(*argv)
        self._recipe(*argv)

    def ports(self, bridge: str) -> list[str]:
        return self.vsctl("list-ports", bridge).split()

    def interface(self, name: str, column: str) -> str:
        return self.vsctl("get", "interface", name, column).strip().strip('"')

    def datapaths(self) -> list[str]:
        """The datapaths ovs-vswitchd really runs, e.g. ``system@ovs-system``, ``netdev@ovs-netdev``."""
        return [line.split(":")[0] for line in self.appctl("dpif/show").splitlines()
                if line and not line[0].isspace()]

    def wait_tunnel_endpoint(self, local_ip: str, remote_ip: str, timeout: float = 30.0) -> None:
        """Wait until the userspace datapath terminates tunnels on ``local_ip`` (a listening
        port in ``tnl/ports/show``) and routes to ``remote_ip`` (``ovs/route``), both learned
        from the kernel over netlink some time after the address is set; then flush the
        datapath's flows.  A tunnel packet that arrives before that is sent to the bridge's
        local port, and the flow installed for it keeps doing so while packets keep coming
        (seen in an emulated guest: 9 GRE packets answered "protocol unreachable" by the
        hypervisor's kernel over 12 s).  Without a tunnel port there is no endpoint to wait for."""
        tunnels = self.vsctl("--bare", "--columns=name", "find", "interface",
                             "type!=internal", "type!=system", 'type!=""').split()
        if not tunnels:
            return

        def ready() -> bool:
            ports = self.appctl("tnl/ports/show", "-v", check=False) or ""
            route = self.appctl("ovs/route/lookup", remote_ip, check=False) or ""
            return f"dst={local_ip}," in ports and "src" in route.lower()
        try:
            self._wait(ready, timeout, f"tunnel endpoint {local_ip} (to {remote_ip}) in the "
                                       "userspace datapath", every=0.2)
        except HarnessError as e:
            raise HarnessError(f"{e}; tnl/ports/show: "
                               f"{(self.appctl('tnl/ports/show', '-v', check=False) or '')[-400:]}"
                               ) from None
        self.appctl("dpctl/del-flows", "netdev@ovs-netdev")

    def log(self) -> str:
        try:
            with open(os.path.join(self.logdir, "ovs-vswitchd.log")) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    # -- plumbing -------------------------------------------------------------------------
    def _recipe(self, *args: str) -> None:
        """The lab's recipe gets the change as the user would type it against their own
        Open vSwitch (this one is private to the run: its database socket is the run's)."""
        recipe = getattr(self.ns, "recipe", None)
        if recipe is not None:
            recipe.add("ip", "netns", "exec", self.ns.name, "ovs-vsctl", *args)

    def vsctl(self, *args: str, check: bool = True) -> str | None:
        return self._run(["ovs-vsctl", f"--db=unix:{self.db_sock}", "--timeout=20", *args],
                         check=check)

    def appctl(self, *args: str, check: bool = True, timeout: float = 20) -> str | None:
        return self._run(["ovs-appctl", "-t", f"{self.dir}/ovs-vswitchd.ctl",
                          f"--timeout={int(timeout)}", *args], check=check)

    def _appctl_ok(self, *args) -> bool:
        dead = [p.args[0] for p in self.procs if p.poll() is not None]
        if dead:
            raise HarnessError(f"{', '.join(dead)} exited early; log in {self.logdir}")
        return os.path.exists(f"{self.dir}/ovs-vswitchd.ctl") and \
            self.appctl(*args, check=False) is not None

    def _env(self) -> dict:
        env = dict(os.environ)
        env.update(OVS_RUNDIR=self.dir, OVS_DBDIR=self.dir, OVS_LOGDIR=self.logdir,
                   OVS_SYSCONFDIR=self.dir)
        return env

    def _daemon(self, prog: str, args: list[str]) -> None:
        argv = [prog, *args, "--no-chdir", f"--log-file={self.logdir}/{prog}.log",
                "-vconsole:off"]
        log = open(os.path.join(self.logdir, prog + ".out"), "w")
        proc = self.ns.popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self._env(),
                             stdin=subprocess.DEVNULL)
        log.close()
        self.procs.append(proc)

    def _run(self, argv: list[str], check: bool = True) -> str | None:
        """The command's output; on failure an error, or None when ``check`` is off."""
        res = subprocess.run(argv, capture_output=True, text=True, env=self._env(),
                             preexec_fn=lambda: netns.enter(self.ns.name))
        if res.returncode == 0:
            return res.stdout
        if check:
            raise HarnessError(f"{' '.join(argv[:1] + argv[2:])} failed: "
                               f"{(res.stderr or res.stdout).strip()[-300:]}")
        return None

    @staticmethod
    def _wait(cond, timeout: float, what: str, every: float = 0.02) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(every)
        raise HarnessError(f"OVS: no {what} after {timeout:.0f} s")
