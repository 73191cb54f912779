"""``kernel-lab kconfig [LAB ...]``: the kernel config fragment a selection of labs needs.

Like the kernel selftests' per-directory ``config`` files, but derived from the labs
themselves: pytest collects the selected labs (nothing runs) and every test's
``requires(...)`` marks (on the test or on its parameters) and the fixtures it uses (``pair``
needs veth, ``ifb`` an ifb device) name kernel features; ``harness.kernel.features`` maps them
to CONFIG options.  ``uses(...)`` marks name features a lab takes when present (netem for
random loss, else nftables): they are listed too.  Append the fragment to a config and run
``make olddefconfig``, or hand it to ``vng --build --config FILE``.
"""

from __future__ import annotations

import contextlib
import io

import pytest

from ..kernel.features import BASE_CONFIG, DEPENDS, FEATURES, HARNESS_FEATURES
from .fixtures import FIXTURE_FEATURES
from .recording import lab_of


class Collector:
    """A pytest plugin that notes, per feature, the labs that need or use it."""

    def __init__(self):
        self.required: dict[str, set] = {}
        self.used: dict[str, set] = {}

    def pytest_collection_modifyitems(self, items):
        for item in items:
            lab = lab_of(item)
            names = [a for m in item.iter_markers("requires") for a in m.args]
            names += [f for fx in item.fixturenames for f in FIXTURE_FEATURES.get(fx, ())]
            for name in names:
                self.required.setdefault(name, set()).add(lab)
            for name in (a for m in item.iter_markers("uses") for a in m.args):
                self.used.setdefault(name, set()).add(lab)


def collect(lab_paths: list[str]) -> Collector:
    c = Collector()
    with contextlib.redirect_stdout(io.StringIO()) as out:
        rc = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:junitxml",
                          *lab_paths], plugins=[c])
    if rc not in (0, 5):
        raise RuntimeError(f"collecting {' '.join(lab_paths)} failed:\n{out.getvalue()[-2000:]}")
    return c


def fragment(lab_paths: list[str]) -> str:
    c = collect(lab_paths)
    lines = [f"# kernel config for kernel-lab: {', '.join(p.rstrip('/').split('/')[-1] for p in lab_paths)}",
             "# append to a .config and run `make olddefconfig` (or `vng --build --config FILE`)",
             "# every lab"]
    done: set[str] = set()

    def option(opt: str) -> list[str]:
        """``opt=y``, after what it depends on (each option once)."""
        if opt in done:
            return []
        done.add(opt)
        return [line for dep in DEPENDS.get(opt, []) for line in option(dep)] + [f"{opt}=y"]

    lines += [line for opt in BASE_CONFIG for line in option(opt)]
    lines.append("# the harness itself (sock_diag: the receiver's byte counter, packet-socket drops)")
    lines += [line for name in HARNESS_FEATURES for line in option(FEATURES[name].config)]
    for title, table in (("needed", c.required), ("used when present", c.used)):
        options = {}
        for name, labs in table.items():
            feature = FEATURES[name]
            options.setdefault(feature.config, set()).update(labs)
        for opt in sorted(options):
            if opt not in done:
                lines += [f"# {title}: {', '.join(sorted(options[opt]))}", *option(opt)]
    return "\n".join(lines) + "\n"
