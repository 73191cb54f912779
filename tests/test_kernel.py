import pytest

from harness.errors import KernelLacks
from harness.kernel import BUILTIN, FEATURES, MISSING, MODULE, Kernel, parse_config, read_config


def test_parse_config():
    cfg = parse_config("CONFIG_IFB=m\n# CONFIG_NET_IPGRE is not set\nCONFIG_VETH=y\nCONFIG_X=\"a\"\n")
    assert cfg == {"CONFIG_IFB": "m", "CONFIG_VETH": "y", "CONFIG_X": "a"}


def test_config_states():
    k = Kernel.__new__(Kernel)
    k.config = {"CONFIG_IFB": "m", "CONFIG_VETH": "y"}
    assert k.config_state(FEATURES["ifb"]) == MODULE
    assert k.config_state(FEATURES["veth"]) == BUILTIN
    assert k.config_state(FEATURES["gre"]) == MISSING


def test_probes_agree_with_the_config(run):
    """Creating each object in a scratch namespace says the same as the kernel config."""
    cfg, source = read_config()
    if not cfg:
        pytest.skip("no kernel config to compare with (/proc/config.gz, /boot/config-*)")
    k = Kernel(probe_namespace=run.scratch_namespace("probet"), allow_modprobe=False)
    disagree = []
    for name in FEATURES:
        cap = k.capability(name)
        if cap.config == BUILTIN and not cap.available:
            disagree.append(f"{name}: config y, probe says absent")
        if cap.config == MISSING and cap.available:
            disagree.append(f"{name}: not in config, probe says present")
    assert disagree == []


def test_missing_feature_names_its_config_option(kernel):
    missing = [n for n in FEATURES if not kernel.has(n)]
    if not missing:
        pytest.skip("this kernel has every feature kernel-lab knows")
    with pytest.raises(KernelLacks) as e:
        kernel.require(missing[0])
    assert FEATURES[missing[0]].config in str(e.value)
