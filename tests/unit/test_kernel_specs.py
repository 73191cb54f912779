"""What --kernel accepts, and one line for what it cannot use (no boot, no network)."""

import os

import pytest

from harness.core.errors import HarnessError
from harness.vm import debian
from harness.vm.kernels import resolve

from test_vm_image import fake_bzimage


def test_debian_specs_parse_and_unknown_suites_are_named():
    assert debian.parse_spec("debian:trixie") == ("trixie", None)
    assert debian.parse_spec("debian:sid=7.2.13-1") == ("sid", "7.2.13-1")
    with pytest.raises(HarnessError, match="unknown Debian suite 'potato'"):
        debian.parse_spec("debian:potato")


def test_the_running_kernel_and_bad_paths(tmp_path):
    assert resolve("running").kind == "running"
    with pytest.raises(HarnessError, match="does not exist"):
        resolve(str(tmp_path / "nope"))
    (tmp_path / "not-a-kernel").write_bytes(b"\0" * 4096)
    with pytest.raises(HarnessError, match="not a Linux kernel image"):
        resolve(str(tmp_path / "not-a-kernel"))


def test_a_folder_that_is_not_a_built_tree_is_named(tmp_path):
    with pytest.raises(HarnessError, match="not a built kernel tree"):
        resolve(str(tmp_path))


def test_a_kernel_tree_is_booted_as_a_tree(tmp_path):
    tree = tmp_path / "linux"
    (tree / "arch" / "x86" / "boot").mkdir(parents=True)
    (tree / ".config").write_text("CONFIG_IFB=m\n")
    fake_bzimage(tree / "arch" / "x86" / "boot" / "bzImage", b"payload", version=b"6.13.0-rc1 (me@box)")
    k = resolve(str(tree))
    assert (k.kind, k.release, k.tree) == ("tree", "6.13.0-rc1", str(tree))
    assert k.config_dict() == {"CONFIG_IFB": "m"}


def test_an_image_with_a_modules_folder(tmp_path):
    image = fake_bzimage(tmp_path / "bzImage", b"payload", version=b"6.13.0-ci (ci@build)")
    with pytest.raises(HarnessError, match="has no lib/modules/6.13.0-ci"):
        resolve(image, modules=str(tmp_path / "mods"))
    (tmp_path / "mods" / "lib" / "modules" / "6.13.0-ci").mkdir(parents=True)
    k = resolve(image, modules=str(tmp_path / "mods"))
    assert (k.kind, k.modules_root) == ("image+modules", str(tmp_path / "mods"))
    with pytest.raises(HarnessError, match=r"no modules for 6.13.0-ci: /lib/modules/6.13.0-ci"):
        resolve(image)  # without --modules, and the host has none for it
    assert os.path.basename(resolve(image, modules=str(tmp_path / "mods")).image) == "bzImage"
