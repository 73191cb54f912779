"""A kernel's build configuration: ``/proc/config.gz`` for the running kernel, else
``config-<release>`` beside the image (``/boot``)."""

from __future__ import annotations

import gzip
import hashlib
import os
import platform

from ..core import env
from .features import Feature

BUILTIN, MODULE, MISSING, UNKNOWN = "built-in", "module", "missing", "unknown"


def parse_config(text: str) -> dict[str, str]:
    cfg = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            key, _, value = line.partition("=")
            cfg[key] = value.strip().strip('"')
    return cfg


def read_config(release: str | None = None, boot_dir: str = "/boot") -> tuple[dict, str | None]:
    """The config of the running kernel (or of ``release`` from ``boot_dir``) and where it
    came from."""
    candidates = []
    if release is None:
        release = platform.release()
        candidates.append("/proc/config.gz")
        # a guest booted by kernel-lab: the config of the kernel it booted (a fetched Debian
        # kernel's is not in the host's /boot, which the guest sees)
        if env.is_set("KERNEL_LAB_CONFIG"):
            candidates.insert(0, env.get("KERNEL_LAB_CONFIG"))
    candidates.append(os.path.join(boot_dir, f"config-{release}"))
    for path in candidates:
        try:
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt") as f:
                return parse_config(f.read()), path
        except OSError:
            continue
    return {}, None


def config_digest(cfg: dict) -> str | None:
    if not cfg:
        return None
    blob = "\n".join(f"{k}={v}" for k, v in sorted(cfg.items()))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def config_state(cfg: dict, feature: Feature) -> str:
    """built-in, module, missing, or unknown (no config to read)."""
    if not cfg:
        return UNKNOWN
    return {"y": BUILTIN, "m": MODULE}.get(cfg.get(feature.config), MISSING)
