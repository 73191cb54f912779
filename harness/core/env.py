"""Every ``KERNEL_LAB_*`` environment variable, read here and nowhere else.

The README's table ("Environment variables") is this one; ``tests/unit/test_env.py`` fails when
a module reads a ``KERNEL_LAB_*`` variable past this module, or the README misses one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Variable:
    name: str
    default: str
    set_by: str  # user | harness (for its guests and cells) | tests
    does: str


VARIABLES = {v.name: v for v in (
    Variable("KERNEL_LAB_RESULTS", "results", "user", "the results root (as --results)"),
    Variable("KERNEL_LAB_RUN_ID", "", "user", "the run folder's name (as --run-id)"),
    Variable("KERNEL_LAB_STATE", "/run/kernel-lab", "user",
             "the runtime folder of run registries and locks (the sweeper's view of live runs)"),
    Variable("KERNEL_LAB_BOOT", "fast", "user",
             "how a guest boots: fast (PVH entry, our pre-init), pvh (with udev), vng (as vng)"),
    Variable("KERNEL_LAB_BUILD_CACHE", "32", "user",
             "built kernels kept per commit and fragment (least recently used go; 0: off)"),
    Variable("KERNEL_LAB_DEBIAN_MIRROR", "http://deb.debian.org/debian", "user",
             "where debian:SUITE kernels are fetched from"),
    Variable("KERNEL_LAB_DEBIAN_SECURITY", "http://deb.debian.org/debian-security", "user",
             "Debian's security archive, for a stable suite's newest kernel"),
    Variable("KERNEL_LAB_IN_GUEST", "", "harness", "1 inside a guest kernel-lab booted"),
    Variable("KERNEL_LAB_IMAGE", "running", "harness", "the guest's kernel image, for records"),
    Variable("KERNEL_LAB_SPEC", "running", "harness", "the guest's kernel as --kernel named it"),
    Variable("KERNEL_LAB_CONFIG", "", "harness", "the guest kernel's config file"),
    Variable("KERNEL_LAB_CONDITIONS", "", "harness",
             "a cell's load conditions (jobs, CPUs), for its records"),
    Variable("KERNEL_LAB_PAUSE_AT", "", "tests",
             "crash tests: the checkpoint at which the harness stops"),
    Variable("KERNEL_LAB_PAUSE_MARK", "", "tests",
             "crash tests: the file the harness writes when it stops there"),
)}


def get(name: str) -> str:
    """The variable's value, or its default ("" for none)."""
    return os.environ.get(name, VARIABLES[name].default)


def is_set(name: str) -> bool:
    return bool(os.environ.get(name))


def in_guest() -> bool:
    return os.environ.get("KERNEL_LAB_IN_GUEST") == "1"


def readme_table() -> str:
    """The README's table of the variables."""
    rows = ["| variable | default | set by | what it does |", "|---|---|---|---|"]
    rows += [f"| `{v.name}` | {('`' + v.default + '`') if v.default else '-'} | {v.set_by} | "
             f"{v.does} |" for v in VARIABLES.values()]
    return "\n".join(rows)
