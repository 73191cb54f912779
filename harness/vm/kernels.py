"""Kernels from anywhere: what a user may name with ``--kernel``, resolved to an image and the
modules the guest must see.

    running                          the kernel this machine runs (no VM)
    /boot/vmlinuz-6.1.0-56-amd64     an image file; its modules from /lib/modules/<release>
    6.1.0-56-amd64                   a release installed in /boot
    debian:trixie[=VERSION]          a Debian kernel, fetched once into the cache (harness.vm.debian)
    ~/src/linux                      a kernel tree you built (.config + arch/x86/boot/bzImage),
                                     booted with the tree's own modules, as virtme-ng does
    IMAGE --modules DIR              an image plus ``make modules_install INSTALL_MOD_PATH=DIR``

Each gives a :class:`KernelUnderTest`; :meth:`KernelUnderTest.boot_path` is what is handed to
virtme-ng, placed so that virtme-ng (which walks up from the image to a folder holding
``lib/modules``) finds that kernel's modules and shows them to the guest at
``/lib/modules/<release>``.  A kernel that cannot be found, fetched or unpacked ends with one
line naming the cause.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
from dataclasses import asdict, dataclass

from ..core.cache import cache_dir
from ..core.errors import HarnessError
from ..kernel.config import UNKNOWN, config_state, parse_config, read_config
from ..kernel.features import FEATURES
from . import debian
from .image import kernel_release

RUNNING = "running"


@dataclass
class KernelUnderTest:
    spec: str  # what the user named
    kind: str  # running | image | debian | tree | image+modules
    release: str
    image: str | None  # the bzImage (None for the running kernel)
    modules_root: str | None  # a folder holding lib/modules/<release> (or usr/lib/...)
    config: str | None  # the kernel's .config, when known
    tree: str | None = None  # a kernel tree: handed to virtme-ng as it is

    @property
    def label(self) -> str:
        return self.release if self.spec == self.release else f"{self.spec} ({self.release})"

    @property
    def key(self) -> str:
        """A file-name-safe name of the spec (baselines per kernel are kept under it)."""
        return re.sub(r"[^A-Za-z0-9_.+-]+", "_", self.spec).strip("_") or "kernel"

    def config_dict(self) -> dict:
        if self.kind == "running":
            return read_config()[0]
        if not self.config:
            return {}
        with open(self.config) as f:
            return parse_config(f.read())

    def as_record(self) -> dict:
        return asdict(self)


def resolve(spec: str, modules: str | None = None, log=print) -> KernelUnderTest:
    """The kernel the user named (see the module's docstring)."""
    spec = spec.strip()
    if spec == RUNNING:
        if modules:
            raise HarnessError("--modules goes with an image, not with the running kernel")
        return KernelUnderTest(RUNNING, "running", platform.release(), None, None, None)
    if spec.startswith("debian:"):
        if modules:
            raise HarnessError("--modules goes with an image: Debian kernels bring their own")
        info = debian.fetch(spec, log=log)
        return KernelUnderTest(spec, "debian", info["release"], info["image"], info["root"],
                               info.get("config"))
    path = os.path.expanduser(spec)
    if os.path.isdir(path):
        return _tree(spec, path, modules)
    if not os.path.exists(path) and re.fullmatch(r"[\w.+~-]+", spec) and \
            os.path.isfile(f"/boot/vmlinuz-{spec}"):
        path = f"/boot/vmlinuz-{spec}"
    release = kernel_release(path)  # one line if it is missing or not a kernel
    image = os.path.abspath(path)
    config = _config_beside(image, release)
    if modules:
        return KernelUnderTest(spec, "image+modules", release, image,
                               _modules_folder(modules, release), config)
    if not os.path.isdir(f"/lib/modules/{release}"):
        raise HarnessError(f"no modules for {release}: /lib/modules/{release} does not exist "
                           "(name the folder with --modules DIR, the INSTALL_MOD_PATH you "
                           "installed them into)")
    return KernelUnderTest(spec, "image", release, image, "/", config)


def _tree(spec: str, path: str, modules: str | None) -> KernelUnderTest:
    image = os.path.join(path, "arch", "x86", "boot", "bzImage")
    cfg = os.path.join(path, ".config")
    if not (os.path.isfile(cfg) and os.path.isfile(image)):
        raise HarnessError(f"{spec} is a folder but not a built kernel tree (needs .config and "
                           "arch/x86/boot/bzImage: make olddefconfig && make)")
    release = kernel_release(image)
    if modules:
        return KernelUnderTest(spec, "image+modules", release, image,
                               _modules_folder(modules, release), cfg)
    return KernelUnderTest(spec, "tree", release, image, None, cfg, tree=os.path.abspath(path))


def _modules_folder(modules: str, release: str) -> str:
    root = os.path.abspath(os.path.expanduser(modules))
    for sub in ("lib/modules", "usr/lib/modules"):
        if os.path.isdir(os.path.join(root, sub, release)):
            return root
    raise HarnessError(f"{modules} has no lib/modules/{release} (the layout of `make "
                       f"modules_install INSTALL_MOD_PATH={modules}`)")


def _config_beside(image: str, release: str) -> str | None:
    folder = os.path.dirname(image)
    for candidate in (os.path.join(folder, f"config-{release}"), os.path.join(folder, "config")):
        if os.path.isfile(candidate):
            return candidate
    cfg, source = read_config(release, boot_dir=folder)
    return source if cfg else None


def staging_root(k: KernelUnderTest) -> str:
    """A cache folder where an image and a symlink to its modules sit side by side, so that
    virtme-ng's walk up from the image finds them (for image+modules)."""
    digest = hashlib.sha256(f"{k.image}\0{k.modules_root}".encode()).hexdigest()[:12]
    root = os.path.join(cache_dir("staged"), f"{k.release}-{digest}")
    os.makedirs(os.path.join(root, "boot"), exist_ok=True)
    for sub in ("lib", "usr"):
        src = os.path.join(k.modules_root, sub)
        link = os.path.join(root, sub)
        if os.path.isdir(src) and not os.path.islink(link):
            os.symlink(src, link)
    return root


def config_capabilities(k: KernelUnderTest) -> dict[str, str]:
    """Feature -> built-in / module / missing, from the kernel's config (``unknown`` without
    one: Debian's newest packages ship none beside the image)."""
    cfg = k.config_dict()
    if not cfg:
        return {n: f"{UNKNOWN} (no config for {k.release})" for n in FEATURES}
    return {n: config_state(cfg, f) for n, f in FEATURES.items()}
