"""What can this kernel do?  The capability check, and the one place that may say "skip".

Three sources, strongest last:
1. the kernel config (``/proc/config.gz``, else ``/boot/config-<release>``): built in (=y), a
   module (=m), or not set;
2. ``modprobe`` where the kernel has modules and loading them is allowed (harness.kernel.modules);
3. a probe: create the object in a scratch namespace and see whether the kernel knows the kind.

A lab asks ``kernel.require("gre")``; a missing feature raises :class:`KernelLacks` naming the
CONFIG option, which the pytest plugin turns into a skip.  A feature the config claims (=y, or
=m and loaded) that the probe does not find is no skip: that kernel is broken, and
:class:`KernelBroken` fails the test naming the option and the probe (and, not being a
KernelLacks, the test is never a candidate to run "elsewhere").  Everything else that goes wrong here
(a probe that breaks, a module that exists but does not load, loading not allowed) is a
HarnessError: the test fails with that cause, it is never skipped.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field

from ..core.errors import HarnessError
from .config import BUILTIN, MISSING, MODULE, config_state, read_config
from .features import FEATURES, Feature
from .modules import ModuleLoader, module_loaded
from .probes import NAMESPACE_FREE_PROBES, probe


@dataclass
class Capability:
    feature: Feature
    config: str  # built-in | module | missing | unknown (from the config file)
    available: bool | None  # from modprobe and probe; None when not probed
    how: str = ""


class KernelLacks(HarnessError):
    """The kernel under test lacks a feature a lab needs; raised only by :meth:`Kernel.require`
    with the capability that says so (the plugin skips on nothing else)."""

    def __init__(self, capability: Capability):
        self.capability = capability
        feature = capability.feature
        self.feature, self.config = feature.describe or feature.name, feature.config
        msg = f"kernel lacks {self.config} ({self.feature})"
        if capability.how and capability.how not in (MISSING, "unknown"):
            msg += f": {capability.how}"
        super().__init__(msg)


class KernelBroken(HarnessError):
    """The config claims a feature (=y or =m) but the probe finds nothing: a broken kernel, a
    failure of the test (never a skip)."""

    def __init__(self, capability: Capability):
        self.capability = capability
        feature = capability.feature
        super().__init__(
            f"kernel claims {feature.config}={'y' if capability.config == BUILTIN else 'm'} "
            f"({feature.describe or feature.name}) but {PROBE_SAYS[feature.kind]} "
            f"{feature.probe_arg!r} is not known to it: the kernel is broken, not lacking")


#: what the probe of each kind of feature asks the kernel (for KernelBroken's message)
PROBE_SAYS = {"link": "the probe that creates a link of kind", "qdisc": "the probe that adds qdisc",
              "filter": "the probe that adds classifier", "action": "the probe that adds action",
              "genl": "the probe that binds generic netlink family",
              "chardev": "the probe that opens", "cgroup": "/proc/cgroups says controller",
              "sock_diag": "the probe that dumps sock_diag family"}


@dataclass
class Kernel:
    """The running kernel: its release, config and (probed on demand) capabilities."""

    release: str = field(default_factory=platform.release)
    probe_namespace: str | None = None  # scratch namespace for probes (created by the caller)
    modules: ModuleLoader | None = None  # None: never load modules
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self.config, self.config_source = read_config()
        if self.modules is None:
            self.modules = ModuleLoader(allowed=False, release=self.release)

    def config_state(self, feature: Feature) -> str:
        return config_state(self.config, feature)

    def _load_module(self, feature: Feature) -> str:
        """Make a module feature usable; returns how.  HarnessError when it cannot be."""
        if module_loaded(feature.module):
            return "module, already loaded"
        loader = self.modules
        if not loader.can_load:
            raise HarnessError(f"{feature.config}=m but there are no loadable modules for "
                               f"{self.release} (/lib/modules/{self.release})")
        if not loader.allowed:
            raise HarnessError(
                f"{feature.module} is a module ({feature.config}=m) that is not loaded; on the "
                "host kernel-lab loads modules only with --modprobe (a load changes the root "
                "namespace, e.g. ifb0)")
        entry = loader.load(feature.module, *feature.params)
        if entry["rc"] != 0:
            raise HarnessError(f"{' '.join(entry['argv'])} failed ({entry['rc']}): "
                               f"{entry['stderr'] or 'no message'}")
        return f"module, loaded with {' '.join(entry['argv'])}"

    def capability(self, name: str) -> Capability:
        if name in self._cache:
            return self._cache[name]
        feature = FEATURES[name]
        state = self.config_state(feature)
        how = state
        if state == MODULE and feature.module and feature.kind != "sock_diag":
            how = self._load_module(feature)
        elif state == MODULE and feature.kind == "sock_diag":
            # the kernel loads a sock_diag handler itself on the first dump that needs it
            # (sock_diag's request_module: no device, no namespace state): the probe does
            how = "module, loaded by the kernel on first use"
        available = None
        if self.probe_namespace is not None or feature.kind in NAMESPACE_FREE_PROBES:
            available = probe(feature, self.probe_namespace)
            if available and state == MISSING:
                how = "present (probe), not in config"
            elif not available and state in (BUILTIN, MODULE):
                how = f"config says {state}, but the kernel does not know it (probe)"
        elif state in (BUILTIN, MODULE):
            available = True
        elif state == MISSING:
            available = False
        cap = Capability(feature, state, available, how)
        self._cache[name] = cap
        return cap

    def has(self, name: str) -> bool:
        return bool(self.capability(name).available)

    def require(self, *names: str) -> None:
        for name in names:
            cap = self.capability(name)
            if cap.available:
                continue
            if cap.available is False and cap.config in (BUILTIN, MODULE):
                raise KernelBroken(cap)
            raise KernelLacks(cap)

    def table(self, names=None) -> list[Capability]:
        """Every feature's capability; a feature whose check fails shows the error."""
        out = []
        for n in (names or FEATURES):
            try:
                out.append(self.capability(n))
            except HarnessError as exc:
                out.append(Capability(FEATURES[n], self.config_state(FEATURES[n]), None, str(exc)))
        return out
