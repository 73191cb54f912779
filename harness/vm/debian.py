"""Debian kernels by name, fetched from Debian's archive without touching the machine's apt.

    debian:bookworm              the newest 6.1 of bookworm (and bookworm-security)
    debian:bookworm-backports    6.12 for bookworm
    debian:trixie                6.12 (and trixie-security)
    debian:sid                   whatever unstable has today (7.2 at the time of writing)
    debian:trixie=6.12.117-1     an exact version of linux-image-amd64 in that suite

apt runs with its own sources list and lists folder under the cache
(``-o Dir::Etc::sourcelist=... -o Dir::State::Lists=...``): the machine's apt sources stay as
they are and nothing is installed.  The packages (``linux-image-<rel>``; in newer suites also
``linux-binary-<rel>`` and ``linux-modules-<rel>``, which carry the image and the modules) are
unpacked with ``dpkg-deb -x`` into ``~/.cache/kernel-lab/kernels/<release>/``, ``depmod`` runs
there, and the copy is reused next time.  The image sits at ``boot/vmlinuz-<rel>`` or
``usr/lib/modules/<rel>/vmlinuz``; virtme-ng finds the modules by walking up from the image.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import time

from ..core.cache import cache_dir, locked
from ..core.errors import HarnessError
from ..core import env

MIRROR = env.get("KERNEL_LAB_DEBIAN_MIRROR")
SECURITY = env.get("KERNEL_LAB_DEBIAN_SECURITY")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
#: suite name -> the suites of the archive it draws from (security updates carry the newest 6.1)
SUITES = {
    "bookworm": [(MIRROR, "bookworm"), (MIRROR, "bookworm-updates"), (SECURITY, "bookworm-security")],
    "bookworm-backports": [(MIRROR, "bookworm-backports")],
    "trixie": [(MIRROR, "trixie"), (MIRROR, "trixie-updates"), (SECURITY, "trixie-security")],
    "sid": [(MIRROR, "sid")],
    "unstable": [(MIRROR, "sid")],
}
META = "linux-image-amd64"
LISTS_MAX_AGE = 12 * 3600  # refresh the package lists twice a day
MARKER = ".kernel-lab.json"


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``debian:trixie`` -> ("trixie", None); ``debian:trixie=6.12.117-1`` -> (.., "6.12.117-1")."""
    body = spec.split(":", 1)[1] if spec.startswith("debian:") else spec
    suite, _, version = body.partition("=")
    if suite not in SUITES:
        raise HarnessError(f"unknown Debian suite {suite!r} in {spec!r}: one of "
                           f"{', '.join(sorted(SUITES))}")
    return suite, version or None


class Apt:
    """apt-get / apt-cache with a private configuration for one suite."""

    def __init__(self, suite: str):
        self.suite = suite
        self.dir = os.path.join(cache_dir("apt"), suite)
        self.sources = os.path.join(self.dir, "sources.list")
        self.lists = os.path.join(self.dir, "lists")
        self.archives = os.path.join(self.dir, "archives")

    def opts(self) -> list[str]:
        return ["-o", f"Dir::Etc::sourcelist={self.sources}", "-o", "Dir::Etc::sourceparts=/dev/null",
                "-o", f"Dir::State::Lists={self.lists}", "-o", f"Dir::Cache::archives={self.archives}",
                "-o", "Dir::State::status=/dev/null", "-o", "Dir::Cache::pkgcache=",
                "-o", "Dir::Cache::srcpkgcache=", "-o", "Debug::NoLocking=1",
                "-o", "APT::Sandbox::User=root", "-o", "Acquire::Retries=3"]

    def _run(self, tool: str, *args: str, cwd: str | None = None, timeout: float = 900) -> str:
        if not shutil.which(tool):
            raise HarnessError(f"{tool} not found: Debian kernels are fetched with apt")
        res = subprocess.run([tool, *self.opts(), *args], capture_output=True, text=True,
                             cwd=cwd, timeout=timeout)
        if res.returncode != 0:
            err = (res.stderr or res.stdout).strip().splitlines()
            raise HarnessError(f"{tool} {' '.join(args[:2])} for debian:{self.suite} failed: "
                               f"{err[-1] if err else res.returncode}")
        return res.stdout

    def update(self, force: bool = False) -> None:
        os.makedirs(os.path.join(self.lists, "partial"), exist_ok=True)
        os.makedirs(os.path.join(self.archives, "partial"), exist_ok=True)
        stamp = os.path.join(self.dir, "updated")
        if not force and os.path.exists(stamp) and time.time() - os.path.getmtime(stamp) < LISTS_MAX_AGE:
            return
        with open(self.sources, "w") as f:
            for uri, suite in SUITES[self.suite]:
                f.write(f"deb [signed-by={KEYRING}] {uri} {suite} main\n")
        self._run("apt-get", "-q", "update")
        with open(stamp, "w") as f:
            f.write(time.strftime("%Y-%m-%dT%H:%M:%S"))

    def versions(self, package: str) -> list[dict]:
        """Every stanza of ``package`` the lists have (Version, Depends, ...)."""
        out = self._run("apt-cache", "show", package)
        stanzas = []
        for block in out.strip().split("\n\n"):
            fields = dict(re.findall(r"^([\w-]+): (.*)$", block, re.M))
            if fields:
                stanzas.append(fields)
        return stanzas

    def candidate(self, package: str, version: str | None) -> dict:
        stanzas = self.versions(package)
        if version:
            chosen = [s for s in stanzas if s.get("Version") == version]
            if not chosen:
                have = ", ".join(s.get("Version", "?") for s in stanzas)
                raise HarnessError(f"debian:{self.suite} has no {package} {version} (it has {have})")
            return chosen[0]
        res = subprocess.run(["apt-cache", *self.opts(), "policy", package], capture_output=True,
                             text=True)
        m = re.search(r"Candidate: (\S+)", res.stdout)
        best = m.group(1) if m else None
        return next((s for s in stanzas if s.get("Version") == best), stanzas[0])

    def download(self, package: str, version: str, into: str) -> str:
        os.makedirs(into, exist_ok=True)
        self._run("apt-get", "-q", "download", f"{package}={version}", cwd=into, timeout=1800)
        # the exact file of the exact version (the folder is shared: another version's .deb
        # may lie beside it), checked against the package's own control fields
        name = f"{plain(package, 'package')}_{plain(version, 'version').replace(':', '%3a')}_"
        found = [p for p in glob.glob(os.path.join(glob.escape(into), glob.escape(name) + "*.deb"))
                 if deb_fields(p) == (package, version)]
        if len(found) != 1:
            raise HarnessError(f"apt-get download {package}={version} left "
                               f"{len(found) or 'no'} matching .deb in {into}")
        return found[0]


def plain(text: str, what: str) -> str:
    """A package, version or release name from apt's metadata, before any path is made from
    it: Debian's characters only, no '..' and no '/'."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.+~:_-]*", text or "") or ".." in text:
        raise HarnessError(f"refusing {what} name {text!r} (not a plain Debian name)")
    return text


def deb_fields(path: str) -> tuple[str, str] | None:
    """(Package, Version) of a .deb, from its control file."""
    res = subprocess.run(["dpkg-deb", "-f", path, "Package", "Version"], capture_output=True,
                         text=True)
    if res.returncode != 0:
        return None
    fields = dict(line.split(": ", 1) for line in res.stdout.splitlines() if ": " in line)
    return fields.get("Package"), fields.get("Version")


def _depends(stanza: dict) -> list[tuple[str, str | None]]:
    """(package, exact version or None) of each Depends entry."""
    out = []
    for part in stanza.get("Depends", "").split(","):
        alt = part.split("|")[0].strip()
        m = re.match(r"([\w.+-]+)(?:\s*\(\s*=\s*([^)\s]+)\s*\))?", alt)
        if m:
            out.append((m.group(1), m.group(2)))
    return out


def kernels_dir() -> str:
    return cache_dir("kernels")


def fetch(spec: str, log=print) -> dict:
    """The unpacked kernel of ``spec`` (fetched on first use): a dict with ``release``,
    ``root`` (the folder), ``image``, ``config`` (or None), ``packages``, ``spec``."""
    suite, version = parse_spec(spec)
    apt = Apt(suite)
    with locked(os.path.join(apt.dir, "lock")):  # cells on parallel workers fetch it once
        return _fetch(apt, suite, version, log)


def _fetch(apt: Apt, suite: str, version: str | None, log) -> dict:
    apt.update()
    meta = apt.candidate(META, version)
    image_pkg = next((p for p, _ in _depends(meta) if p.startswith("linux-image-")), None)
    if image_pkg is None:
        raise HarnessError(f"{META} {meta.get('Version')} in debian:{suite} depends on no "
                           "linux-image-<release> package")
    release = plain(image_pkg[len("linux-image-"):], "release")
    root = os.path.join(kernels_dir(), release)
    marker = os.path.join(root, MARKER)
    if os.path.exists(marker):
        with open(marker) as f:
            return json.load(f)
    image_stanza = apt.candidate(image_pkg, None)
    packages = [(image_pkg, image_stanza["Version"])]
    for dep, dep_version in _depends(image_stanza):  # split layout: binary + modules packages
        if dep.startswith(("linux-binary-", "linux-modules-")) and release in dep:
            packages.append((dep, dep_version or apt.candidate(dep, None)["Version"]))
    log(f"kernel-lab: fetching {', '.join(f'{p} {v}' for p, v in packages)} from debian:{suite}")
    downloads = os.path.join(apt.dir, "debs")
    tmp = f"{root}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        for pkg, pkg_version in packages:
            deb = apt.download(pkg, pkg_version, downloads)
            res = subprocess.run(["dpkg-deb", "-x", deb, tmp], capture_output=True, text=True)
            if res.returncode != 0:
                raise HarnessError(f"dpkg-deb -x {os.path.basename(deb)} failed: "
                                   f"{res.stderr.strip()[-200:]}")
        info = describe(tmp, release)
        if info["config"] is None:  # the newest suites ship it only with the headers
            info["config"] = config_from_headers(apt, release, downloads, tmp)
        depmod(tmp, release)
        info.update(spec=f"debian:{suite}", suite=suite, meta_version=meta.get("Version"),
                    packages=[f"{p}={v}" for p, v in packages])
        shutil.rmtree(root, ignore_errors=True)
        os.replace(tmp, root)
        info = relocate(info, tmp, root)
        with open(marker, "w") as f:
            json.dump(info, f, indent=1)
        return info
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def describe(root: str, release: str) -> dict:
    """Where the image, the modules and the config of ``release`` are under ``root``."""
    images = [p for p in (os.path.join(root, "boot", f"vmlinuz-{release}"),
                          os.path.join(root, "usr", "lib", "modules", release, "vmlinuz"),
                          os.path.join(root, "lib", "modules", release, "vmlinuz"))
              if os.path.isfile(p)]
    if not images:
        raise HarnessError(f"no kernel image for {release} in the unpacked packages")
    modules = [p for p in (os.path.join(root, "usr", "lib", "modules", release),
                           os.path.join(root, "lib", "modules", release)) if os.path.isdir(p)]
    if not modules:
        raise HarnessError(f"no modules for {release} in the unpacked packages")
    configs = [p for p in (os.path.join(root, "boot", f"config-{release}"),
                           os.path.join(modules[0], "config")) if os.path.isfile(p)]
    return {"release": release, "root": root, "image": images[0], "modules": modules[0],
            "config": configs[0] if configs else None}


def config_from_headers(apt: Apt, release: str, downloads: str, root: str) -> str | None:
    """``boot/config-<release>`` from the ``.config`` of linux-headers-<release>, or None."""
    pkg = f"linux-headers-{release}"
    try:
        deb = apt.download(pkg, apt.candidate(pkg, None)["Version"], downloads)
    except HarnessError:
        return None
    member = f"./usr/src/{pkg}/.config"
    fsys = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], capture_output=True)
    got = subprocess.run(["tar", "-xOf", "-", member], input=fsys.stdout, capture_output=True)
    if got.returncode != 0 or not got.stdout:
        return None
    path = os.path.join(root, "boot", f"config-{release}")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(got.stdout)
    return path


def relocate(info: dict, old: str, new: str) -> dict:
    return {k: (v.replace(old, new, 1) if isinstance(v, str) and v.startswith(old) else v)
            for k, v in info.items()}


def depmod(root: str, release: str) -> None:
    """modules.dep for the unpacked modules (Debian's packages leave it to the postinst)."""
    base = root if os.path.isdir(os.path.join(root, "lib", "modules", release)) else \
        os.path.join(root, "usr")
    res = subprocess.run(["depmod", "-a", "-b", base, release], capture_output=True, text=True)
    if res.returncode != 0:
        raise HarnessError(f"depmod for {release} failed: {res.stderr.strip()[-200:]}")
