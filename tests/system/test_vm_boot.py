"""The fast boot path: PVH entry of a decompressed vmlinux, and the guest pre-init."""

import os

from harness.vm import preinit as guest_preinit
from harness.vm import vmlinux
from harness.vm.boot import boot


def test_the_debian_kernel_boots_through_its_pvh_entry_from_the_cache(cache, debian_image):
    image = debian_image
    release = os.path.basename(image)[len("vmlinuz-"):]
    path, note = vmlinux.boot_image(image, release)
    assert note.startswith("PVH entry") and path.startswith(str(cache / "vmlinux"))
    with open(path, "rb") as f:
        elf = f.read()
    assert vmlinux.has_pvh_note(elf)
    assert len(elf) > 3 * os.path.getsize(image)  # really decompressed
    mtime = os.path.getmtime(path)
    assert vmlinux.boot_image(image, release)[0] == path and os.path.getmtime(path) == mtime


def test_the_preinit_is_a_static_program(cache):
    path = guest_preinit.preinit_binary()
    with open(path, "rb") as f:
        elf = f.read()
    assert elf[:4] == b"\x7fELF" and os.access(path, os.X_OK)
    types = [p_type for p_type, _, _ in vmlinux.program_headers(elf)]
    assert types and vmlinux.PT_INTERP not in types  # no loader or library from the 9p root
    assert guest_preinit.preinit_binary() == path


def test_the_guest_boots_without_udev_and_keeps_io_and_exit_code(tmp_path, debian_image):
    """The pre-init's /dev/virtio-ports links carry output, stderr and the exit code; udevd is
    neither running nor findable, nor is systemd-tmpfiles; the kernel entered through PVH."""
    log = tmp_path / "out.txt"
    with open(log, "w") as out:
        info = boot(debian_image,
                    "echo 'kernel-lab-guest: booted'; test ! -e /usr/lib/systemd/systemd-udevd"
                    " && ! pgrep -x systemd-udevd && ! command -v systemd-tmpfiles"
                    " && echo NO-UDEV; echo ON-STDERR >&2; exit 7",
                    rwdir=str(tmp_path), timeout=240, log=out,
                    console_log=str(tmp_path / "console.log"))
    text = log.read_text()
    assert info["rc"] == 7, text
    assert "NO-UDEV" in text and "ON-STDERR" in text
    assert info["init"].startswith("without udev") and info["entry"].startswith("PVH entry")
