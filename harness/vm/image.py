"""Kernel images: the release a bzImage carries, the images in /boot, and what an image's
config says it can do."""

from __future__ import annotations

import glob
import os
import platform
import struct

from ..core.errors import HarnessError


def other_images(boot_dir: str = "/boot") -> list[str]:
    """Kernel images in ``boot_dir`` besides the running kernel's, sorted by name."""
    return sorted(i for i in glob.glob(os.path.join(boot_dir, "vmlinuz-*"))
                  if not i.endswith(platform.release()))


def kernel_release(image: str) -> str:
    """The release string of a bzImage (from its setup header), e.g. ``6.1.0-56-amd64``."""
    if not os.path.exists(image):
        raise HarnessError(f"kernel image {image} does not exist")
    if not os.path.isfile(image):
        raise HarnessError(f"kernel image {image} is not a file")
    try:
        with open(image, "rb") as f:
            head = f.read(0x1000)
            if len(head) < 0x210 or head[0x202:0x206] != b"HdrS":
                raise HarnessError(f"{image} is not a Linux kernel image (no bzImage header)")
            (offset,) = struct.unpack_from("<H", head, 0x20E)
            f.seek(offset + 0x200)
            version = f.read(256).split(b"\0")[0].decode(errors="replace")
    except PermissionError:
        raise HarnessError(f"cannot read kernel image {image}") from None
    release = version.split(" ")[0]
    if not release:
        raise HarnessError(f"{image} has no version string")
    return release
