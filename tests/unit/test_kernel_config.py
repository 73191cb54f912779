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


def test_a_feature_the_config_claims_but_the_probe_misses_fails_and_is_no_skip(monkeypatch):
    """Old code: config =y and a probe that finds nothing raised KernelLacks (a skip, then run
    "elsewhere" by kernel-lab lab and reported green).  A kernel that claims what it lacks is
    broken: KernelBroken, which is no KernelLacks, names the option and the probe."""
    monkeypatch.setattr(capabilities, "probe", lambda feature, ns: False)
    k = kernel_with({"CONFIG_NET_SCH_HTB": "y"})
    k.probe_namespace = "kl0000-probe"
    with pytest.raises(capabilities.KernelBroken,
                       match=r"claims CONFIG_NET_SCH_HTB=y .* probe that adds qdisc 'htb'") as e:
        k.require("htb")
    assert not isinstance(e.value, KernelLacks)
    # a feature the config leaves out, and the probe misses too, is still a plain skip
    with pytest.raises(KernelLacks):
        k.require("netem")


def test_the_harness_own_facilities_are_features_in_the_fragment():
    """Old code: the receiver's counter read inet_diag and ovs_gre packet_diag, yet neither was a
    feature: a tree built from `kernel-lab kconfig` lacked them and every shaping test failed
    with "run them longer".  Each is a feature, probed, required by the kernel fixture, and in
    the fragment with what it depends on."""
    from harness.kernel.features import HARNESS_FEATURES
    from harness.plugin.kconfig import fragment

    assert {FEATURES[n].config for n in HARNESS_FEATURES} == {"CONFIG_INET_TCP_DIAG",
                                                              "CONFIG_PACKET_DIAG"}
    text = fragment([os.path.join(os.path.dirname(HARNESS), "labs", "_example")])
    for opt in ("CONFIG_INET_DIAG=y", "CONFIG_INET_TCP_DIAG=y", "CONFIG_PACKET_DIAG=y"):
        assert opt in text.splitlines()
    fixtures = open(os.path.join(HARNESS, "plugin", "fixtures.py")).read()
    assert "k.require(*HARNESS_FEATURES)" in fixtures


def test_sock_diag_probe_reads_the_error_a_dump_ends_with():
    """pyroute2 0.9.7 drops the error in a dump's NLMSG_DONE: the probe reads the raw answer.
    This kernel has TCP and packet diag but no raw-socket diag (CONFIG_INET_RAW_DIAG) and no
    AF_XDP diag: both must read as absent (ENOENT), the two present ones as answering."""
    import socket

    from harness.kernel.config import read_config
    config, _ = read_config()
    assert probes.sock_diag_error(socket.AF_INET, socket.IPPROTO_TCP) == 0
    assert probes.sock_diag_error(socket.AF_PACKET, 0) == 0
    assert probes.probe(FEATURES["tcp_diag"], None) is True
    if config.get("CONFIG_INET_RAW_DIAG") is None:
        assert probes.sock_diag_error(socket.AF_INET, socket.IPPROTO_RAW) == errno.ENOENT
    if config.get("CONFIG_XDP_SOCKETS_DIAG") is None:
        assert probes.sock_diag_error(44, 0) == errno.ENOENT


def test_a_sock_diag_module_is_left_to_the_kernel_to_load(monkeypatch):
    """A distribution host has tcp_diag as a module: the kernel loads it on the first dump
    (sock_diag's request_module), as it did for the counters all along; the harness does not
    ask for --modprobe for it, and the probe decides."""
    monkeypatch.setattr(capabilities, "module_loaded", lambda m: False)
    monkeypatch.setattr(capabilities, "probe", lambda feature, ns: True)
    k = kernel_with({"CONFIG_INET_TCP_DIAG": "m", "CONFIG_PACKET_DIAG": "m"},
                    ModuleLoader(allowed=False))
    k.require("tcp_diag", "packet_diag")
    assert k.capability("tcp_diag").how == "module, loaded by the kernel on first use"
    assert k.modules.log == []
