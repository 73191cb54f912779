"""A zip of compiled Python modules for the guest.

Under software emulation every file the guest's Python opens or stats crosses 9p, and pytest
with pyroute2 imports about 550 modules: that alone took 20 s in the guest.  One zip on
PYTHONPATH, read once, holds the standard library and the packages the labs need as byte code;
the guest runs ``python -S`` with it (no site-packages scan).  The bundle is built on the host
once per Python and package versions and kept beside the virtual environment.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata as md
import importlib.util
import marshal
import os
import sys
import sysconfig
import zipfile

from ..core.cache import made_once

PACKAGES = ["pytest", "pluggy", "iniconfig", "packaging", "pygments", "pyroute2", "iperf3", "tabulate",
            "pytest-rerunfailures", "pytest-repeat"]
STDLIB_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip", "pydoc_data",
               "site-packages", "lib-dynload", "__pycache__", "venv", "distutils",
               "config-3.11-x86_64-linux-gnu"}


def _key() -> str:
    parts = [sys.version]
    for name in PACKAGES:
        try:
            parts.append(f"{name}={md.version(name)}")
        except md.PackageNotFoundError:
            parts.append(f"{name}=-")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def bundle_path() -> str:
    return os.path.join(sys.prefix, "kernel-lab-guest", f"bundle-{_key()}.zip")


def _top_level(dist: str) -> list[str]:
    """Top-level modules/packages of an installed distribution."""
    d = md.distribution(dist)
    names = set()
    for f in d.files or []:
        parts = f.parts
        if not parts or parts[0].endswith((".dist-info", ".data")) or parts[0] in ("..", "bin"):
            continue
        names.add(parts[0][:-3] if parts[0].endswith(".py") else parts[0])
    return sorted(n for n in names if n != "__pycache__" and not n.endswith(".pth"))


def lazy_init_source(init_path: str) -> str:
    """pyroute2's ``__init__`` imports every socket class it has (about 370 modules); the guest
    needs a few.  This writes an ``__init__`` with the same names, each imported on first use."""
    tree = ast.parse(open(init_path).read())
    lazy = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pyroute2."):
            for alias in node.names:
                lazy[alias.asname or alias.name] = node.module
    version = "unknown"
    try:
        version = md.version("pyroute2")
    except md.PackageNotFoundError:
        pass
    return (
        '"""pyroute2 with lazy top-level names (kernel-lab guest bundle)."""\n'
        f"__version__ = {version!r}\n"
        f"_LAZY = {lazy!r}\n\n"
        "def __getattr__(name):\n"
        "    if name in _LAZY:\n"
        "        import importlib\n"
        "        value = getattr(importlib.import_module(_LAZY[name]), name)\n"
        "        globals()[name] = value\n"
        "        return value\n"
        "    raise AttributeError(name)\n"
    )


def build(path: str | None = None) -> str:
    return made_once(path or bundle_path(), _write)


def _write(tmp: str) -> None:
    stdlib = sysconfig.get_paths()["stdlib"]
    purelib = sysconfig.get_paths()["purelib"]
    with zipfile.PyZipFile(tmp, "w", compression=zipfile.ZIP_STORED, optimize=0) as z:
        for entry in sorted(os.listdir(stdlib)):
            full = os.path.join(stdlib, entry)
            if entry in STDLIB_SKIP:
                continue
            if entry.endswith(".py"):
                z.writepy(full)
            elif os.path.isdir(full) and os.path.exists(os.path.join(full, "__init__.py")):
                z.writepy(full, filterfunc=lambda p: "/test" not in p and "/tests" not in p)
        for dist in PACKAGES:
            d = md.distribution(dist)
            for f in d.files or []:  # metadata: importlib.metadata reads versions from it
                if f.parts and f.parts[0].endswith(".dist-info") and f.name in (
                        "METADATA", "entry_points.txt", "top_level.txt"):
                    z.write(f.locate(), "/".join(f.parts))
            for top in _top_level(dist):
                full = os.path.join(purelib, top)
                if top == "pyroute2":
                    for entry in sorted(os.listdir(full)):
                        sub = os.path.join(full, entry)
                        if entry.endswith(".py") and entry != "__init__.py":
                            z.writepy(sub, basename="pyroute2")
                        elif os.path.isfile(os.path.join(sub, "__init__.py")):
                            z.writepy(sub, basename="pyroute2")
                    src = lazy_init_source(os.path.join(full, "__init__.py"))
                    code = compile(src, "pyroute2/__init__.py", "exec")
                    z.writestr("pyroute2/__init__.pyc", importlib.util.MAGIC_NUMBER
                               + b"\0" * 12 + marshal.dumps(code))
                elif os.path.isdir(full):
                    z.writepy(full)
                elif os.path.exists(full + ".py"):
                    z.writepy(full + ".py")


if __name__ == "__main__":
    print(build())
