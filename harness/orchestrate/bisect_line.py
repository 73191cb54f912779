"""The ``kernel-lab bisect`` line a nightly prints under a regression: the baseline's kernel
as the good end, tonight's as the bad one.  Apart from harness.orchestrate.bisect so that the
nightly, which bisect's steps run through, does not import it back."""

from __future__ import annotations

import json
import os


def pinned(kernel: dict | None) -> str:
    """How to name this very kernel again in ``--kernels``: a Debian kernel with the package
    version it came from, an image or tree by its path, else the spec (``running``)."""
    if not kernel:
        return "?"
    if kernel.get("kind") == "debian" and kernel.get("modules_root"):
        from ..vm.debian import MARKER

        try:
            with open(os.path.join(kernel["modules_root"], MARKER)) as f:
                info = json.load(f)
            return f"debian:{info['suite']}={info['meta_version']}"
        except (OSError, ValueError, KeyError):
            return kernel.get("spec") or "?"
    if kernel.get("kind") == "tree" and kernel.get("tree"):
        return kernel["tree"]
    if kernel.get("kind") == "image" and kernel.get("image"):
        return kernel["image"]
    return kernel.get("spec") or "?"


def command_for(change, good_kernel: dict | None, bad_kernel: dict | None) -> str:
    """The ``kernel-lab bisect`` line for a regression a nightly reported: the baseline's
    kernel as the good end, tonight's as the bad one (the kernels between go in order)."""
    lab = change.measurement.split("::", 1)[0]
    line = f"kernel-lab bisect --kernels {pinned(good_kernel)},{pinned(bad_kernel)} --labs {lab}"
    if change.metric is None:  # a measurement that failed or went missing: by verdict
        return line
    value, _ = change.threshold
    if not change.metric.absolute:
        value *= abs(change.baseline or 1)
    return (f"{line} --figure '{change.measurement}' --metric {change.metric.key} "
            f"--threshold {value:.3g} --repeat 3")
