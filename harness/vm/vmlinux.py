"""Boot a kernel image through its PVH entry instead of its bzImage decompressor.

A bzImage is a small real-mode/decompressor stub around the compressed kernel.  Under software
emulation the decompressor is slow: Debian's 6.1 image (xz, 8 MB -> 66 MB) spends 2.6 s of a
boot decompressing itself, every boot.  A kernel built with CONFIG_PVH=y carries a Xen
``PHYS32_ENTRY`` ELF note, and QEMU boots such an ELF ``vmlinux`` directly (``-kernel
vmlinux``), initramfs included.  So the harness decompresses the payload once on the host (the
setup header says where it is), keeps the ELF in a cache keyed by the image's SHA-256, and hands
that to virtme-ng.  Images it cannot use this way (no PVH note, a compression the host cannot
undo) boot as they are.
"""

from __future__ import annotations

import bz2
import lzma
import os
import shutil
import struct
import subprocess
import zlib

from ..core.cache import cache_dir, file_digest, made_once
from ..core.errors import HarnessError

XEN_ELFNOTE_PHYS32_ENTRY = 18
PT_INTERP, PT_NOTE = 3, 4


def payload(image: str) -> bytes:
    """The compressed kernel inside a bzImage (boot protocol 2.08+: payload_offset/length)."""
    with open(image, "rb") as f:
        data = f.read()
    if len(data) < 0x250 or data[0x202:0x206] != b"HdrS":
        raise HarnessError(f"{image} is not a bzImage")
    (version,) = struct.unpack_from("<H", data, 0x206)
    if version < 0x208:
        raise HarnessError(f"{image}: boot protocol {version:#x} has no payload fields")
    setup_sects = data[0x1F1] or 4
    offset, length = struct.unpack_from("<II", data, 0x248)
    start = (setup_sects + 1) * 512 + offset
    return data[start:start + length]


def decompress(blob: bytes) -> bytes:
    """Undo the kernel's compression: xz, gzip and bzip2 with the standard library, zstd with
    the ``zstd`` program when it is installed."""
    if blob.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(blob)
    if blob.startswith(b"\x1f\x8b"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(blob)
    if blob.startswith(b"BZh"):
        return bz2.BZ2Decompressor().decompress(blob)
    if blob.startswith(b"\x28\xb5\x2f\xfd"):
        zstd = shutil.which("zstd")
        if not zstd:
            raise HarnessError("the kernel is zstd-compressed and the zstd program is missing")
        res = subprocess.run([zstd, "-d", "-c"], input=blob, capture_output=True)
        if res.returncode != 0 and not res.stdout:
            raise HarnessError(f"zstd could not decompress the kernel: {res.stderr.decode()}")
        return res.stdout
    raise HarnessError(f"unknown kernel compression (magic {blob[:4].hex()})")


def program_headers(elf: bytes) -> list[tuple[int, int, int]]:
    """(p_type, p_offset, p_filesz) of each program header of a 64-bit little-endian ELF; []
    for anything else."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        return []
    (phoff,) = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    headers = []
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", elf, phoff + i * phentsize)
        headers.append((p_type, p_offset, p_filesz))
    return headers


def has_pvh_note(elf: bytes) -> bool:
    """True if the ELF has a Xen note of type PHYS32_ENTRY (the PVH entry point)."""
    for p_type, p_offset, p_filesz in program_headers(elf):
        if p_type != PT_NOTE:
            continue
        pos, end = p_offset, p_offset + p_filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", elf, pos)
            name = elf[pos + 12:pos + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and ntype == XEN_ELFNOTE_PHYS32_ENTRY:
                return True
            pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


def pvh_vmlinux(image: str, release: str, folder: str | None = None) -> str:
    """The cached PVH-bootable ELF of ``image``, made on first use in ``folder`` (default: the
    kernel-lab cache); HarnessError if the image cannot be booted that way.  A kernel whose
    modules are not the host's keeps its ELF beside them (``folder``), because virtme-ng finds
    an image's modules by walking up from the image's path."""

    def write(tmp: str) -> None:
        elf = decompress(payload(image))
        if not has_pvh_note(elf):
            raise HarnessError(f"{image} has no PVH entry (CONFIG_PVH is off)")
        with open(tmp, "wb") as f:
            f.write(elf)

    path = os.path.join(folder or cache_dir("vmlinux"), f"vmlinux-{release}-{file_digest(image)}")
    return made_once(path, write)


def boot_image(image: str, release: str, folder: str | None = None) -> tuple[str, str]:
    """(what to hand to QEMU, a note saying which) for ``image``."""
    try:
        path = pvh_vmlinux(image, release, folder)
    except (HarnessError, OSError, lzma.LZMAError, zlib.error) as exc:
        return image, f"bzImage decompressor ({exc})"
    return path, f"PVH entry of its vmlinux ({path})"
