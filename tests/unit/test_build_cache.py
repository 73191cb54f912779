"""Built kernels kept per commit and fragment: a slim tree of what booting needs, the least
recently used dropped beyond the limit, and a bisect that meets a commit built before boots
that build instead of building it again."""

import os

from harness.core.errors import HarnessError
from harness.orchestrate.bisect import EXIT_FOUND
from harness.orchestrate.cells import KernelResult
from harness.orchestrate.git_bisect import GitBisect
from harness.vm.build_cache import BuildCache

from test_git_bisect import make_repo


def built_tree(path, behaviour="ok"):
    for name, text in {".config": "CONFIG_NET_SCH_HTB=y\n", "arch/x86/boot/bzImage": behaviour,
                       "System.map": "", "modules.order": "drivers/net/ifb.o\nkernel/fs/x.ko\n",
                       "modules.builtin": "", "drivers/net/ifb.ko": "ko",
                       "fs/x.ko": "ko", "vmlinux": "big", "net/sched/sch_htb.o": "obj",
                       "stale/old.ko": "not in modules.order"}.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return str(path)


def commit(n):
    return f"{n:040x}"


def test_a_build_is_kept_slim_and_the_least_recently_used_goes_first(tmp_path):
    tree = built_tree(tmp_path / "tree")
    cache = BuildCache("CONFIG_IFB=y\n", root=str(tmp_path / "cache"), limit=2)
    first = cache.store(tree, commit(1), build_s=80.0)
    kept = sorted(os.path.relpath(os.path.join(d, f), first)
                  for d, _, files in os.walk(first) for f in files)
    assert kept == sorted([".config", "arch/x86/boot/bzImage", "System.map", "modules.order",
                           "modules.builtin", "drivers/net/ifb.ko", "fs/x.ko", "build.json"])
    os.utime(os.path.join(first, "build.json"), (1, 1))  # long ago
    second = cache.store(tree, commit(2))
    os.utime(os.path.join(second, "build.json"), (2, 2))
    assert cache.lookup(commit(1)) == first  # used now: the most recent
    third = cache.store(tree, commit(3))
    assert cache.lookup(commit(2)) is None  # the least recently used went
    assert cache.lookup(commit(1)) == first and cache.lookup(commit(3)) == third
    assert BuildCache("CONFIG_OTHER=y\n", root=str(tmp_path / "cache")).lookup(commit(1)) is None
    assert not [n for n in os.listdir(tmp_path / "cache") if ".tmp" in n]


def test_only_a_full_commit_hash_names_a_build(tmp_path):
    cache = BuildCache("", root=str(tmp_path))
    for bad in ("HEAD", "../../etc", "abc"):
        try:
            cache.path(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


class Kernel:
    """A "kernel" whose behaviour is its bzImage's text: boots read it from the spec, so a
    kernel booted from the cache behaves as the build it was copied from."""

    def __init__(self):
        self.built, self.booted = [], []

    def build(self, worktree, log):
        b = open(f"{worktree}/behaviour").read().strip()
        self.built.append(b)
        if b == "nobuild":
            raise HarnessError("make failed (exit 2)")
        return built_tree(__import__("pathlib").Path(worktree), b)

    def run(self, spec, folder, repeat):
        state = open(f"{spec}/arch/x86/boot/bzImage").read()
        self.booted.append(spec)
        failed = state == "fail"
        k = KernelResult(spec, rcs=[1 if failed else 0])
        k.per_lab = {"lab": {"passed": 0 if failed else 3, "failed": int(failed), "skipped": 0}}
        return k


def test_a_second_bisect_of_the_same_history_builds_only_the_revert(tmp_path):
    commits = make_repo(tmp_path / "linux", ["ok", "ok", "ok", "ok", "fail", "fail", "fail"])
    cache = BuildCache("CONFIG_IFB=y\n", root=str(tmp_path / "cache"))
    kernel = Kernel()
    first = GitBisect(str(tmp_path / "linux"), commits[0], commits[-1], str(tmp_path / "b1"),
                      kernel.build, kernel.run, cache=cache)
    assert first.run() == EXIT_FOUND and first.outcome["first_bad"]["spec"] == commits[4]
    built = len(kernel.built)
    assert all(spec.startswith(str(tmp_path / "cache")) for spec in kernel.booted)
    again = GitBisect(str(tmp_path / "linux"), commits[0], commits[-1], str(tmp_path / "b2"),
                      kernel.build, kernel.run, cache=cache)
    assert again.run() == EXIT_FOUND and again.outcome["first_bad"]["spec"] == commits[4]
    # every commit of the history came from the cache; only the revert (a new commit) built
    assert len(kernel.built) - built <= 1
    cached = [t for t in again.timings if t.get("cached")]
    assert len(cached) >= 4 and all(t["build_s"] == 0.0 for t in cached)
