"""What can this kernel do?

Three sources, strongest last:
1. the kernel config (``/proc/config.gz``, else ``/boot/config-<release>``): built in (=y), a
   module (=m), or not set;
2. ``modprobe`` where the kernel can load modules (``/lib/modules/<release>`` exists), the
   classic way: ``modprobe ifb numifbs=1``;
3. a probe: create the object in a scratch namespace and see whether the kernel knows the kind
   (ENOENT / EOPNOTSUPP from netlink means it does not).

A lab asks ``kernel.require("gre")``; a missing feature raises KernelLacks naming the CONFIG
option, which the pytest plugin turns into a skip.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass, field

from .errors import KernelLacks


@dataclass(frozen=True)
class Feature:
    name: str
    config: str
    module: str | None
    kind: str  # link | qdisc | filter | action | genl | chardev
    probe_arg: str = ""
    params: tuple = ()
    describe: str = ""


FEATURES = {f.name: f for f in [
    Feature("veth", "CONFIG_VETH", "veth", "link", "veth", describe="veth pairs"),
    Feature("ifb", "CONFIG_IFB", "ifb", "link", "ifb", ("numifbs=1",), "intermediate functional block"),
    Feature("bridge", "CONFIG_BRIDGE", "bridge", "link", "bridge", describe="Linux bridge"),
    Feature("macvlan", "CONFIG_MACVLAN", "macvlan", "link", "macvlan"),
    Feature("vxlan", "CONFIG_VXLAN", "vxlan", "link", "vxlan", describe="VXLAN tunnels"),
    Feature("gre", "CONFIG_NET_IPGRE", "ip_gre", "link", "gre", describe="GRE tunnels"),
    Feature("gretap", "CONFIG_NET_IPGRE", "ip_gre", "link", "gretap", describe="GRE tap tunnels"),
    Feature("geneve", "CONFIG_GENEVE", "geneve", "link", "geneve"),
    Feature("vlan", "CONFIG_VLAN_8021Q", "8021q", "link", "vlan", describe="802.1Q VLAN devices"),
    Feature("dummy", "CONFIG_DUMMY", "dummy", "link", "dummy"),
    Feature("tun", "CONFIG_TUN", "tun", "chardev", "/dev/net/tun", describe="tun/tap devices"),
    Feature("openvswitch", "CONFIG_OPENVSWITCH", "openvswitch", "genl", "ovs_datapath",
            describe="OVS kernel datapath"),
    Feature("htb", "CONFIG_NET_SCH_HTB", "sch_htb", "qdisc", "htb"),
    Feature("tbf", "CONFIG_NET_SCH_TBF", "sch_tbf", "qdisc", "tbf"),
    Feature("ingress", "CONFIG_NET_SCH_INGRESS", "sch_ingress", "qdisc", "ingress",
            describe="ingress and clsact qdiscs"),
    Feature("netem", "CONFIG_NET_SCH_NETEM", "sch_netem", "qdisc", "netem"),
    Feature("fq_codel", "CONFIG_NET_SCH_FQ_CODEL", "sch_fq_codel", "qdisc", "fq_codel"),
    Feature("cake", "CONFIG_NET_SCH_CAKE", "sch_cake", "qdisc", "cake"),
    Feature("prio", "CONFIG_NET_SCH_PRIO", "sch_prio", "qdisc", "prio"),
    Feature("u32", "CONFIG_NET_CLS_U32", "cls_u32", "filter", "u32"),
    Feature("flower", "CONFIG_NET_CLS_FLOWER", "cls_flower", "filter", "flower"),
    Feature("matchall", "CONFIG_NET_CLS_MATCHALL", "cls_matchall", "filter", "matchall"),
    Feature("cgroup", "CONFIG_NET_CLS_CGROUP", "cls_cgroup", "filter", "cgroup",
            describe="cgroup classifier"),
    Feature("fw", "CONFIG_NET_CLS_FW", "cls_fw", "filter", "fw", describe="fw (mark) classifier"),
    Feature("cls_bpf", "CONFIG_NET_CLS_BPF", "cls_bpf", "filter", "bpf"),
    Feature("mirred", "CONFIG_NET_ACT_MIRRED", "act_mirred", "action", "mirred"),
    Feature("police", "CONFIG_NET_ACT_POLICE", "act_police", "action", "police"),
    Feature("gact", "CONFIG_NET_ACT_GACT", "act_gact", "action", "gact"),
    Feature("skbedit", "CONFIG_NET_ACT_SKBEDIT", "act_skbedit", "action", "skbedit"),
    Feature("act_vlan", "CONFIG_NET_ACT_VLAN", "act_vlan", "action", "vlan"),
]}

BUILTIN, MODULE, MISSING, UNKNOWN = "built-in", "module", "missing", "unknown"


def parse_config(text: str) -> dict[str, str]:
    cfg = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            key, _, value = line.partition("=")
            cfg[key] = value.strip().strip('"')
    return cfg


def read_config(release: str | None = None, boot_dir: str = "/boot") -> tuple[dict, str | None]:
    """The config of the running kernel (or of ``release`` from /boot) and where it came from."""
    candidates = []
    if release is None:
        release = platform.release()
        candidates.append("/proc/config.gz")
    candidates.append(os.path.join(boot_dir, f"config-{release}"))
    for path in candidates:
        try:
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt") as f:
                return parse_config(f.read()), path
        except OSError:
            continue
    return {}, None


def config_digest(cfg: dict) -> str | None:
    if not cfg:
        return None
    blob = "\n".join(f"{k}={v}" for k, v in sorted(cfg.items()))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class Capability:
    feature: Feature
    config: str  # built-in | module | missing | unknown (from the config file)
    available: bool | None  # from modprobe and probe; None when not probed
    how: str = ""


@dataclass
class Kernel:
    """The running kernel: its release, config and (probed on demand) capabilities."""

    release: str = field(default_factory=platform.release)
    probe_namespace: str | None = None  # scratch namespace for probes (created by the caller)
    allow_modprobe: bool = True
    _cache: dict = field(default_factory=dict, repr=False)
    _module_devices: dict = field(default_factory=dict, repr=False)
    modprobe_log: list = field(default_factory=list, repr=False)

    def __post_init__(self):
        self.config, self.config_source = read_config()

    @property
    def can_load_modules(self) -> bool:
        return (os.path.isdir(f"/lib/modules/{self.release}") and shutil.which("modprobe") is not None
                and os.path.exists("/proc/modules"))

    def config_state(self, feature: Feature) -> str:
        if not self.config:
            return UNKNOWN
        return {"y": BUILTIN, "m": MODULE}.get(self.config.get(feature.config), MISSING)

    def modprobe(self, module: str, *params: str) -> bool:
        """Load ``module`` the classic way; True when it is (now) loaded.

        Devices that appear in the root namespace because of the load (``numifbs=1`` makes
        ifb0) were made by this run: they are remembered for :meth:`claim_module_device`.
        """
        if not (self.allow_modprobe and self.can_load_modules):
            return False
        before = _root_links()
        res = subprocess.run(["modprobe", module, *params], capture_output=True, text=True)
        self.modprobe_log.append({"argv": ["modprobe", module, *params], "rc": res.returncode,
                                  "stderr": res.stderr.strip()})
        new = sorted(_root_links() - before)
        if new:
            self._module_devices.setdefault(module, []).extend(new)
        return res.returncode == 0

    def claim_module_device(self, module: str) -> str | None:
        """Name of a root-namespace device this run's modprobe of ``module`` created, once."""
        devices = self._module_devices.get(module) or []
        while devices:
            name = devices.pop(0)
            if name in _root_links():
                return name
        return None

    def capability(self, name: str) -> Capability:
        if name in self._cache:
            return self._cache[name]
        feature = FEATURES[name]
        state = self.config_state(feature)
        how = state
        if state == MODULE:
            loaded = self.modprobe(feature.module, *feature.params)
            how = f"module, loaded with modprobe {feature.module} {' '.join(feature.params)}".strip() \
                if loaded else "module (not loaded)"
        available = None
        if self.probe_namespace is not None or feature.kind in ("chardev", "genl"):
            available = probe(feature, self.probe_namespace)
            if available and state == MISSING:
                how = "present (probe), not in config"
        elif state in (BUILTIN, MODULE):
            available = state == BUILTIN or "loaded" in how
        elif state == MISSING:
            available = False
        cap = Capability(feature, state, available, how)
        self._cache[name] = cap
        return cap

    def has(self, name: str) -> bool:
        return bool(self.capability(name).available)

    def require(self, *names: str) -> None:
        for name in names:
            cap = self.capability(name)
            if not cap.available:
                detail = {"module": "module could not be loaded"}.get(cap.config, "")
                raise KernelLacks(cap.feature.describe or name, cap.feature.config, detail)

    def table(self, names=None) -> list[Capability]:
        return [self.capability(n) for n in (names or FEATURES)]


def _root_links() -> set[str]:
    try:
        return set(os.listdir("/sys/class/net"))
    except OSError:
        return set()


# -- probes ------------------------------------------------------------------------------------
ABSENT_CODES = {errno.ENOENT, errno.EOPNOTSUPP}


def probe(feature: Feature, namespace: str | None) -> bool:
    if feature.kind == "chardev":
        return os.path.exists(feature.probe_arg)
    if feature.kind == "genl":
        return _probe_genl(feature.probe_arg)
    from pyroute2 import IPRoute

    from . import netns

    with IPRoute(use_socket=netns.netlink_socket(namespace)) as ns:
        return {"link": _probe_link, "qdisc": _probe_qdisc, "filter": _probe_filter,
                "action": _probe_action}[feature.kind](ns, feature.probe_arg)


def _probe_genl(family: str) -> bool:
    from pyroute2.netlink.generic import GenericNetlinkSocket

    sock = GenericNetlinkSocket()
    try:
        sock.bind(family, None)
        return True
    except Exception:  # noqa: BLE001 - family unknown
        return False
    finally:
        sock.close()


def _scratch_veth(ns) -> int:
    found = ns.link_lookup(ifname="probe0")
    if not found:
        ns.link("add", ifname="probe0", kind="veth", peer="probe1")
        found = ns.link_lookup(ifname="probe0")
    return found[0]


def _expect(fn) -> bool:
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        fn()
        return True
    except NetlinkError as exc:
        return exc.code not in ABSENT_CODES


def _probe_link(ns, kind: str) -> bool:
    kwargs = {"veth": {"peer": "probe-p1"}, "vxlan": {"vxlan_id": 1}, "geneve": {"geneve_id": 1, "geneve_remote": "198.18.0.1"}}
    if kind in ("vlan", "macvlan"):
        kwargs[kind] = {"link": _scratch_veth(ns)}
        if kind == "vlan":
            kwargs[kind]["vlan_id"] = 5

    def make():
        ns.link("add", ifname="probe-x", kind=kind, **kwargs.get(kind, {}))
        ns.link("del", ifname="probe-x")

    return _expect(make)


def _raw_tc(ns, msg_type: int, index: int, parent: int, handle: int, info: int, attrs: list):
    from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST
    from pyroute2.netlink.rtnl.tcmsg import tcmsg

    m = tcmsg()
    m["index"], m["parent"], m["handle"], m["info"] = index, parent, handle, info
    m["attrs"] = attrs
    m["header"]["type"] = msg_type
    m["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    return ns.nlm_request_batch([m])


def _probe_qdisc(ns, kind: str) -> bool:
    from pyroute2.netlink.rtnl import RTM_NEWQDISC

    idx = _scratch_veth(ns)
    parent = 0xFFFFFFF1 if kind == "ingress" else 0xFFFFFFFF
    handle = 0xFFFF0000 if kind == "ingress" else 0x50000

    def make():
        try:
            _raw_tc(ns, RTM_NEWQDISC, idx, parent, handle, 0, [["TCA_KIND", kind]])
        finally:
            try:
                ns.tc("del", index=idx, handle=handle, parent=parent)
            except Exception:  # noqa: BLE001
                pass

    return _expect(make)


_filter_prio = [100]


def _clsact(ns) -> int:
    idx = _scratch_veth(ns)
    if not any(q.get_attr("TCA_KIND") == "clsact" for q in ns.get_qdiscs(index=idx)):
        ns.tc("add", "clsact", idx)
    return idx


def _probe_filter(ns, kind: str) -> bool:
    from pyroute2.netlink.rtnl import RTM_NEWTFILTER

    idx = _clsact(ns)
    _filter_prio[0] += 1
    info = (_filter_prio[0] << 16) | 0x0300  # ETH_P_ALL, network order
    return _expect(lambda: _raw_tc(ns, RTM_NEWTFILTER, idx, 0xFFFFFFF2, 0, info, [["TCA_KIND", kind]]))


def _probe_action(ns, kind: str) -> bool:
    from pyroute2.netlink.rtnl import RTM_NEWTFILTER

    idx = _clsact(ns)
    _filter_prio[0] += 1
    info = (_filter_prio[0] << 16) | 0x0300
    options = {"attrs": [
        ["TCA_U32_CLASSID", 0x10001],
        ["TCA_U32_SEL", {"keys": ["0x0/0x0+0"]}],
        ["TCA_U32_ACT", {"attrs": [["TCA_ACT_PRIO_1", {"attrs": [["TCA_ACT_KIND", kind]]}]]}],
    ]}
    return _expect(lambda: _raw_tc(ns, RTM_NEWTFILTER, idx, 0xFFFFFFF2, 0, info,
                                   [["TCA_KIND", "u32"], ["TCA_OPTIONS", options]]))
