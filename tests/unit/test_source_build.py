"""Building a kernel with the labs' fragment: what the fragment asks and what the config kept."""

import subprocess
import sys

from harness.kernel.features import DEPENDS
from harness.vm.source_build import missing_options, options_of

FRAGMENT = "# needed: gre_mtu\nCONFIG_NET_IPGRE_DEMUX=y\nCONFIG_NET_IPGRE=y\nCONFIG_IFB=y\n"


def test_an_option_olddefconfig_switched_off_is_named():
    config = "CONFIG_NET_IPGRE_DEMUX=m\n# CONFIG_NET_IPGRE is not set\nCONFIG_IFB=y\n"
    assert missing_options(FRAGMENT, config) == ["CONFIG_NET_IPGRE"]
    assert missing_options(FRAGMENT, config + "CONFIG_NET_IPGRE=m\n") == []


def test_options_of_reads_only_option_lines():
    assert options_of(FRAGMENT) == {"CONFIG_NET_IPGRE_DEMUX": "y", "CONFIG_NET_IPGRE": "y",
                                    "CONFIG_IFB": "y"}


def test_the_fragment_lists_what_an_option_depends_on_before_it():
    out = subprocess.run([sys.executable, "-m", "harness.cli", "kconfig", "gre_mtu"],
                         capture_output=True, text=True, check=True).stdout
    options = list(options_of(out))
    for opt, deps in DEPENDS.items():
        if opt in options:
            assert all(options.index(d) < options.index(opt) for d in deps), opt
    assert options.count("CONFIG_NET_IPGRE") == 1 and "CONFIG_NET_IPGRE_DEMUX" in options
