"""The fast boot path: PVH entry of a decompressed vmlinux, and the guest pre-init."""

import bz2
import gzip
import lzma
import os
import struct

import pytest

from harness import guest_preinit, vmlinux
from harness.errors import HarnessError
from harness.vm import boot, boot_mode

from test_vm import debian_image

ELF_NO_NOTES = (b"\x7fELF\x02\x01\x01" + b"\0" * 9 + struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, 0,
                                                                 64, 0, 0, 64, 56, 0, 64, 0, 0))


def fake_bzimage(path, payload: bytes) -> str:
    """A file with just enough of a bzImage setup header to carry ``payload``."""
    setup = bytearray(2 * 512)  # setup_sects = 1
    setup[0x1F1] = 1
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, 0x20F)
    struct.pack_into("<II", setup, 0x248, 16, len(payload))
    path.write_bytes(bytes(setup) + b"\0" * 16 + payload + b"trailer")
    return str(path)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "kernel-lab"


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


def test_the_debian_kernel_boots_through_its_pvh_entry_from_the_cache(cache):
    image = debian_image()
    release = os.path.basename(image)[len("vmlinuz-"):]
    path, note = vmlinux.boot_image(image, release)
    assert note.startswith("PVH entry") and path.startswith(str(cache / "vmlinux"))
    with open(path, "rb") as f:
        elf = f.read()
    assert vmlinux.has_pvh_note(elf)
    assert len(elf) > 3 * os.path.getsize(image)  # really decompressed
    mtime = os.path.getmtime(path)
    assert vmlinux.boot_image(image, release)[0] == path and os.path.getmtime(path) == mtime


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


def test_the_preinit_is_a_static_program(cache):
    path = guest_preinit.preinit_binary()
    with open(path, "rb") as f:
        elf = f.read()
    assert elf[:4] == b"\x7fELF" and os.access(path, os.X_OK)
    types = [p_type for p_type, _, _ in vmlinux.program_headers(elf)]
    assert types and vmlinux.PT_INTERP not in types  # no loader or library from the 9p root
    assert guest_preinit.preinit_binary() == path


def test_the_guest_boots_without_udev_and_keeps_io_and_exit_code(tmp_path):
    """The pre-init's /dev/virtio-ports links carry output, stderr and the exit code; udevd is
    neither running nor findable, nor is systemd-tmpfiles; the kernel entered through PVH."""
    log = tmp_path / "out.txt"
    with open(log, "w") as out:
        info = boot(debian_image(),
                    "echo 'kernel-lab-guest: booted'; test ! -e /usr/lib/systemd/systemd-udevd"
                    " && ! pgrep -x systemd-udevd && ! command -v systemd-tmpfiles"
                    " && echo NO-UDEV; echo ON-STDERR >&2; exit 7",
                    rwdir=str(tmp_path), timeout=240, log=out,
                    console_log=str(tmp_path / "console.log"))
    text = log.read_text()
    assert info["rc"] == 7, text
    assert "NO-UDEV" in text and "ON-STDERR" in text
    assert info["init"].startswith("without udev") and info["entry"].startswith("PVH entry")


def test_the_boot_mode_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("KERNEL_LAB_BOOT", raising=False)
    assert boot_mode() == "fast"
    monkeypatch.setenv("KERNEL_LAB_BOOT", "vng")
    assert boot_mode() == "vng"
    monkeypatch.setenv("KERNEL_LAB_BOOT", "quick")
    with pytest.raises(HarnessError, match="KERNEL_LAB_BOOT=quick: choose one of fast, pvh, vng"):
        boot_mode()
