"""Kernel images and the guest's boot command line, without booting anything."""

import bz2
import os
import gzip
import lzma
import struct

import pytest

from harness.core.errors import HarnessError
from harness.vm import preinit as guest_preinit
from harness.vm import vmlinux
from harness.vm.boot import boot_mode

ELF_NO_NOTES = (b"\x7fELF\x02\x01\x01" + b"\0" * 9 + struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, 0,
                                                                 64, 0, 0, 64, 56, 0, 64, 0, 0))


def fake_bzimage(path, payload: bytes, version: bytes = b"") -> str:
    """A file with just enough of a bzImage setup header to carry ``payload`` (and a kernel
    version string, as the setup header points to it)."""
    setup = bytearray(2 * 512)  # setup_sects = 1
    setup[0x1F1] = 1
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, 0x20F)
    struct.pack_into("<II", setup, 0x248, 16, len(payload))
    if version:
        struct.pack_into("<H", setup, 0x20E, 0x100)
        setup[0x300:0x300 + len(version) + 1] = version + b"\0"
    path.write_bytes(bytes(setup) + b"\0" * 16 + payload + b"trailer")
    return str(path)


@pytest.mark.parametrize("compress", [lzma.compress, gzip.compress, bz2.compress])
def test_payloads_in_the_kernels_compressions_come_back_whole(tmp_path, compress):
    if compress is lzma.compress:
        compress = lambda b: lzma.compress(b, format=lzma.FORMAT_XZ)  # noqa: E731
    image = fake_bzimage(tmp_path / "bz", compress(ELF_NO_NOTES * 3))
    assert vmlinux.decompress(vmlinux.payload(image)) == ELF_NO_NOTES * 3


def test_unknown_compression_and_non_kernels_are_refused(tmp_path):
    with pytest.raises(HarnessError, match="unknown kernel compression"):
        vmlinux.decompress(b"\x01\x02\x03\x04 not compressed")
    (tmp_path / "x").write_bytes(b"\0" * 4096)
    with pytest.raises(HarnessError, match="not a bzImage"):
        vmlinux.payload(str(tmp_path / "x"))


def test_an_image_without_a_pvh_entry_boots_as_it_is(tmp_path, cache):
    image = fake_bzimage(tmp_path / "bz", gzip.compress(ELF_NO_NOTES))
    assert not vmlinux.has_pvh_note(ELF_NO_NOTES)
    path, note = vmlinux.boot_image(image, "0.0-test")
    assert path == image and "CONFIG_PVH is off" in note
    assert not (cache / "vmlinux").exists() or not os.listdir(cache / "vmlinux")


def test_the_last_init_is_swapped_for_the_preinit():
    cmd = "xinit=/no a=1 init=/first b=`x y` init=/v/virtme-ng-init"
    assert guest_preinit.swap_init(cmd, "/c/preinit") == (
        "xinit=/no a=1 init=/first b=`x y` kernel_lab_init=/v/virtme-ng-init init=/c/preinit")
    assert guest_preinit.swap_init("init=/a -- x", "/p") == "kernel_lab_init=/a init=/p -- x"
    with pytest.raises(HarnessError, match="no init="):
        guest_preinit.swap_init("xinit=/no root=/dev/x", "/p")


def test_the_boot_mode_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("KERNEL_LAB_BOOT", raising=False)
    assert boot_mode() == "fast"
    monkeypatch.setenv("KERNEL_LAB_BOOT", "vng")
    assert boot_mode() == "vng"
    monkeypatch.setenv("KERNEL_LAB_BOOT", "quick")
    with pytest.raises(HarnessError, match="KERNEL_LAB_BOOT=quick: choose one of fast, pvh, vng"):
        boot_mode()
