"""The capability check: config states, and that only a missing feature becomes a skip.

A probe that breaks, a module that exists but is not allowed to (or does not) load, and a
net_cls mount that fails are harness errors with their cause, never "the kernel lacks X"."""

import ast
import errno
import os

import pytest
from pyroute2.netlink.exceptions import NetlinkError

from harness.core.errors import HarnessError
from harness.kernel import capabilities, modules, probes
from harness.kernel.capabilities import Kernel, KernelLacks
from harness.kernel.config import BUILTIN, MISSING, MODULE, parse_config
from harness.kernel.features import FEATURES
from harness.kernel.modules import ModuleLoader

HARNESS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "harness")


def test_parse_config():
    cfg = parse_config("CONFIG_IFB=m\n# CONFIG_NET_IPGRE is not set\nCONFIG_VETH=y\nCONFIG_X=\"a\"\n")
    assert cfg == {"CONFIG_IFB": "m", "CONFIG_VETH": "y", "CONFIG_X": "a"}


def test_config_states():
    k = Kernel.__new__(Kernel)
    k.config = {"CONFIG_IFB": "m", "CONFIG_VETH": "y"}
    assert k.config_state(FEATURES["ifb"]) == MODULE
    assert k.config_state(FEATURES["veth"]) == BUILTIN
    assert k.config_state(FEATURES["gre"]) == MISSING


def kernel_with(config: dict, loader: ModuleLoader | None = None) -> Kernel:
    k = Kernel(modules=loader)
    k.config = config
    return k


def test_a_missing_feature_is_the_only_skip():
    k = kernel_with({"CONFIG_VETH": "y"})
    with pytest.raises(KernelLacks, match=r"kernel lacks CONFIG_NET_SCH_NETEM \(netem\)") as e:
        k.require("netem")
    assert e.value.capability.available is False


def test_a_genl_probe_that_breaks_is_an_error_not_absent(monkeypatch):
    """Old code: any exception from the probe read as "openvswitch absent" (a skip)."""
    def broken(self, family, *a):
        raise NetlinkError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(probes.GenericNetlinkSocket, "bind", broken)
    with pytest.raises(HarnessError, match="probing openvswitch") as e:
        probes.probe(FEATURES["openvswitch"], None)
    assert not isinstance(e.value, KernelLacks)


def test_an_unknown_genl_family_is_absent(monkeypatch):
    def unknown(self, family, *a):
        raise NetlinkError(errno.ENOENT, "No such file or directory")

    monkeypatch.setattr(probes.GenericNetlinkSocket, "bind", unknown)
    assert probes.probe(FEATURES["openvswitch"], None) is False


def test_a_probe_without_a_namespace_is_an_error():
    with pytest.raises(HarnessError, match="needs a scratch namespace"):
        probes.probe(FEATURES["gre"], None)


def test_net_cls_is_read_from_proc_cgroups(tmp_path):
    (tmp_path / "cgroups").write_text("#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
                                      "net_cls\t10\t1\t1\nnet_prio\t0\t1\t0\n")
    assert probes.probe_cgroup_v1("net_cls", str(tmp_path / "cgroups")) is True
    assert probes.probe_cgroup_v1("net_prio", str(tmp_path / "cgroups")) is False
    assert probes.probe_cgroup_v1("nonesuch", str(tmp_path / "cgroups")) is False


def test_a_module_that_may_not_be_loaded_is_an_error(monkeypatch):
    """On the host a module is loaded only with --modprobe: without it the feature is an error
    that says so, not a skip (the kernel does have it)."""
    loader = ModuleLoader(allowed=False)
    monkeypatch.setattr(ModuleLoader, "can_load", property(lambda self: True))
    monkeypatch.setattr(capabilities, "module_loaded", lambda m: False)
    k = kernel_with({"CONFIG_IFB": "m"}, loader)
    with pytest.raises(HarnessError, match="--modprobe") as e:
        k.require("ifb")
    assert not isinstance(e.value, KernelLacks)
    assert loader.log == []  # nothing was loaded


def test_a_module_that_fails_to_load_is_an_error(monkeypatch):
    loader = ModuleLoader(allowed=True)
    monkeypatch.setattr(ModuleLoader, "can_load", property(lambda self: True))
    monkeypatch.setattr(capabilities, "module_loaded", lambda m: False)
    monkeypatch.setattr(loader, "load", lambda m, *p: {"argv": ["modprobe", m, *p], "rc": 1,
                                                         "stderr": "FATAL: Module x not found"})
    k = kernel_with({"CONFIG_IFB": "m"}, loader)
    with pytest.raises(HarnessError, match="modprobe ifb numifbs=1 failed") as e:
        k.require("ifb")
    assert not isinstance(e.value, KernelLacks)


def test_only_a_device_of_the_expected_kind_made_by_our_load_is_claimed(monkeypatch):
    """Old code claimed any link that appeared during the load."""
    present = {"lo": None, "gre0": "gre", "ifb0": "ifb", "eth9": "veth"}
    monkeypatch.setattr(modules, "root_links", lambda: dict(present))
    loader = ModuleLoader(allowed=True)
    loader.log = [{"argv": ["modprobe", "ip_gre"], "created": [{"name": "gre0", "kind": "gre"}]},
                  {"argv": ["modprobe", "ifb", "numifbs=1"],
                   "created": [{"name": "eth9", "kind": "veth"}, {"name": "ifb0", "kind": "ifb"}]}]
    assert loader.claim("ip_gre", kind="ifb") is None
    assert loader.claim("ifb", kind="ifb") == "ifb0"
    assert loader.claim("ifb", kind="ifb") is None  # once
    assert [d["name"] for d in loader.leftovers()] == ["gre0", "eth9"]


def test_kernel_lacks_is_raised_only_by_the_capability_check():
    """A skip must come from the capability check: no other module may construct KernelLacks."""
    offenders = []
    for folder, _, files in os.walk(HARNESS):
        for fn in files:
            if not fn.endswith(".py"):
                continue
            path = os.path.join(folder, fn)
            tree = ast.parse(open(path).read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "KernelLacks":
                    offenders.append(os.path.relpath(path, HARNESS))
    assert set(offenders) == {os.path.join("kernel", "capabilities.py")}
