"""The capability check against the running kernel (probes in a scratch namespace)."""

import pytest

from harness.kernel.capabilities import Kernel, KernelLacks
from harness.kernel.config import BUILTIN, MISSING, read_config
from harness.kernel.features import FEATURES


def test_probes_agree_with_the_config(run):
    """Creating each object in a scratch namespace says the same as the kernel config."""
    cfg, source = read_config()
    if not cfg:
        pytest.skip("no kernel config to compare with (/proc/config.gz, /boot/config-*)")
    k = Kernel(probe_namespace=run.scratch_namespace("probet"))
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
