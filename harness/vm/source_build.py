"""A kernel built from Debian's source package with the labs' config fragment, booted as a tree.

    kernel-lab build-kernel [--source debian:bookworm] [LAB ...]   # prints the tree's path
    pytest --kernel ~/.cache/kernel-lab/trees/<...> labs/ingress_ifb

What a user does with their own tree, done once per machine to prove the path end to end:
``linux-source-<version>`` is fetched with kernel-lab's private apt (harness.vm.debian: the
machine's apt sources stay as they are), its tarball unpacked into
``~/.cache/kernel-lab/trees/<package>_<version>_<fragment digest>/``, configured with
virtme-ng's minimal config for a guest (``vng --kconfig``: defconfig plus what virtme needs)
with the fragment ``kernel-lab kconfig`` prints merged in, checked (every option of the
fragment must have survived ``olddefconfig``: one that did not names what it depends on), and
built with ``make -j<CPUs>`` (image and modules).  ``build.json`` in the tree keeps the source
version, the fragment's digest and the build's seconds; a tree with it is reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

from ..core.cache import cache_dir, locked
from ..core.errors import HarnessError
from .debian import Apt, _depends, parse_spec, plain

MARKER = "build.json"
FRAGMENT = "kernel-lab.config"
#: what building a kernel needs besides gcc and make (Debian package: the tool it provides)
BUILD_TOOLS = {"flex": "flex", "bison": "bison", "bc": "bc"}
BUILD_HEADERS = {"libelf-dev": "/usr/include/libelf.h", "libssl-dev": "/usr/include/openssl/ssl.h"}


def options_of(fragment: str) -> dict[str, str]:
    """{CONFIG_X: value} of a fragment's ``CONFIG_X=value`` lines."""
    return dict(re.findall(r"^(CONFIG_\w+)=(\S+)", fragment, re.M))


def missing_options(fragment: str, config: str) -> list[str]:
    """The fragment's options that the final .config does not have (=y and =m both count)."""
    have = options_of(config)
    return [opt for opt, value in options_of(fragment).items()
            if value in ("y", "m") and have.get(opt) not in ("y", "m")]


def _missing_build_deps() -> list[str]:
    missing = [pkg for pkg, tool in BUILD_TOOLS.items() if not shutil.which(tool)]
    missing += [pkg for pkg, header in BUILD_HEADERS.items() if not os.path.exists(header)]
    return missing


def _vng() -> str:
    beside = os.path.join(os.path.dirname(sys.executable), "vng")
    found = beside if os.path.exists(beside) else shutil.which("vng")
    if not found:
        raise HarnessError("vng (virtme-ng) not found: it writes the guest's minimal config")
    return found


def _run(cmd: list[str], cwd: str, log_path: str, what: str, path_first: tuple = ()) -> None:
    # vng calls virtme-configkernel by name: the tools beside this Python come first
    env = dict(os.environ, PATH=os.pathsep.join([*path_first, os.path.dirname(sys.executable),
                                                 os.environ.get("PATH", "")]))
    with open(log_path, "a") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        rc = subprocess.call(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env)
    if rc != 0:
        with open(log_path, errors="replace") as f:
            tail = [line.rstrip() for line in f.readlines()[-5:]]
        raise HarnessError(f"{what} failed (exit {rc}; {log_path}): {' | '.join(tail)}")


def build(source: str, fragment: str, jobs: int | None = None, log=print) -> dict:
    """The built tree of Debian's linux-source in suite ``source`` (``debian:bookworm``) with
    ``fragment`` merged into virtme-ng's minimal config: ``{"tree", "package", "version",
    "fragment_digest", "seconds", ...}``, built on first use."""
    suite, _ = parse_spec(source)
    missing = _missing_build_deps()
    if missing:
        raise HarnessError(f"building a kernel needs {', '.join(missing)}: apt-get install "
                           f"{' '.join(missing)} (scripts/setup-system.sh installs them)")
    apt = Apt(suite)
    with locked(os.path.join(apt.dir, "lock")):
        apt.update()
        meta = apt.candidate("linux-source", None)
        package = next((p for p, _ in _depends(meta) if p.startswith("linux-source-")), None)
        if package is None:
            raise HarnessError(f"linux-source in debian:{suite} depends on no linux-source-<v>")
        version = apt.candidate(package, None)["Version"]
        digest = hashlib.sha256(fragment.encode()).hexdigest()[:12]
        tree = os.path.join(cache_dir("trees"),
                            f"{plain(package, 'package')}_{plain(version, 'version')}_{digest}")
        marker = os.path.join(tree, MARKER)
        if (built := _built(marker)) is not None:
            return built
        log(f"kernel-lab: fetching {package} {version} from debian:{suite}")
        deb = apt.download(package, version, os.path.join(apt.dir, "debs"))
    with locked(f"{tree}.lock"):  # another process may have built it meanwhile
        if (built := _built(marker)) is not None:
            return built
        return _build(deb, tree, package, version, digest, fragment, suite,
                      jobs or os.cpu_count() or 1, log)


def _built(marker: str) -> dict | None:
    """A finished build's build.json (it is written last), or None."""
    try:
        with open(marker) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _build(deb: str, tree: str, package: str, version: str, digest: str, fragment: str,
           suite: str, jobs: int, log) -> dict:
    shutil.rmtree(tree, ignore_errors=True)
    unpack = f"{tree}.deb"
    shutil.rmtree(unpack, ignore_errors=True)
    os.makedirs(unpack)
    build_log = f"{tree}.log"
    try:
        _run(["dpkg-deb", "-x", deb, unpack], unpack, build_log, f"dpkg-deb -x {deb}")
        tarball = os.path.join(unpack, "usr", "src", f"{package}.tar.xz")
        if not os.path.exists(tarball):
            raise HarnessError(f"{os.path.basename(deb)} has no usr/src/{package}.tar.xz")
        log(f"kernel-lab: unpacking {os.path.basename(tarball)}")
        os.makedirs(tree)
        _run(["tar", "-xf", tarball, "-C", tree, "--strip-components=1"], tree, build_log,
             "unpacking the source")
    finally:
        shutil.rmtree(unpack, ignore_errors=True)
    try:
        with open(os.path.join(tree, FRAGMENT), "w") as f:
            f.write(fragment)
        log("kernel-lab: configuring (vng --kconfig: virtme-ng's minimal config + the labs' "
            "fragment)")
        _run([_vng(), "--kconfig", "--config", FRAGMENT], tree, build_log, "vng --kconfig")
        with open(os.path.join(tree, ".config")) as f:
            lost = missing_options(fragment, f.read())
        if lost:
            raise HarnessError("the config lost what the labs need (a dependency is off): "
                               + ", ".join(lost))
        log(f"kernel-lab: building with make -j{jobs} (log: {build_log})")
        t0 = time.monotonic()
        _run(["make", f"-j{jobs}", "bzImage", "modules"], tree, build_log, "make")
        info = {"tree": tree, "source": f"debian:{suite}", "package": package, "version": version,
                "fragment_digest": digest, "jobs": jobs, "cpus": os.cpu_count(),
                "seconds": round(time.monotonic() - t0, 1),
                "built": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        with open(os.path.join(tree, MARKER), "w") as f:
            json.dump(info, f, indent=1)
        return info
    except BaseException:
        shutil.rmtree(tree, ignore_errors=True)
        raise
