"""Building a kernel with the labs' fragment: what the fragment asks and what the config kept."""

import subprocess
import sys

import pytest

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


def _deb(folder, package, version, arch="all"):
    """A minimal .deb of ``package`` ``version``, named as apt-get download names it."""
    root = folder / f"{package}-{version}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: {version}\nArchitecture: {arch}\n"
        "Maintainer: kernel-lab <kl@example.invalid>\nDescription: test\n")
    out = folder / f"{package}_{version.replace(':', '%3a')}_{arch}.deb"
    subprocess.run(["dpkg-deb", "-Zgzip", "--build", str(root), str(out)], check=True,
                   capture_output=True)
    return out


def test_the_exact_deb_of_the_exact_version_is_taken_from_a_shared_folder(tmp_path, monkeypatch):
    """Old code took glob(...)[0]: a stale .deb of another version in the shared downloads
    folder could be unpacked (or a tree labelled with a version it was not built from)."""
    from harness.core.errors import HarnessError
    from harness.vm import debian

    debs = tmp_path / "debs"
    debs.mkdir()
    _deb(debs, "linux-source-6.1", "6.1.190-1")
    wanted = _deb(debs, "linux-source-6.1", "6.1.192-3")
    _deb(debs, "linux-source-6.1x", "6.1.192-3")
    apt = debian.Apt.__new__(debian.Apt)
    monkeypatch.setattr(apt, "_run", lambda *a, **k: "", raising=False)
    assert apt.download("linux-source-6.1", "6.1.192-3", str(debs)) == str(wanted)
    with pytest.raises(HarnessError, match="left no matching .deb"):
        apt.download("linux-source-6.1", "6.1.193-1", str(debs))


@pytest.mark.parametrize("name", ["../../etc", "6.1/../x", "a/b", "..", ""])
def test_a_package_or_release_name_with_dots_or_slashes_is_refused(name):
    from harness.core.errors import HarnessError
    from harness.vm.debian import plain

    with pytest.raises(HarnessError, match="not a plain Debian name"):
        plain(name, "release")
    assert plain("6.1.0-56-amd64", "release") == "6.1.0-56-amd64"
    assert plain("1:2.3~rc1+deb12u1", "version")
