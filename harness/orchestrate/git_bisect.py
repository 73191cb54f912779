"""``kernel-lab bisect --tree REPO --good A --bad B``: the commit that broke a lab.

``git bisect`` runs in a worktree of its own (``<bisect folder>/worktree``, made with ``git
worktree add --detach``), never in the user's checkout.  Each commit git proposes is built
there (``build(worktree, log)``: the labs' fragment, incremental, ccache; see
:func:`harness.vm.git_build.build_worktree`), booted as a tree and judged by the same rules as
a list of kernels (:class:`harness.orchestrate.bisect.Bisect`: verdict or figure mode).  A
commit that does not build, or a kernel that does not boot, is ``git bisect skip``.

``seed``: a built tree of a commit near these (the kernel a user built last, or the cached
build of the same source): it is copied into the new worktree with its objects, so the first
step rebuilds what differs instead of everything.

Before: both endpoints, as in list mode.  After: the culprit and its parent measured again,
then the revert check: the culprit reverted on top of the bad commit must judge good (a revert
that does not apply cleanly is said, not tried).  ``bisect.json`` keeps each step's commit,
subject and date, and ``git bisect log``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import Callable

from ..core.errors import HarnessError
from .bisect import BAD, EXIT_FOUND, EXIT_INFRA, EXIT_NONE, GOOD, SKIP, Bisect, Runner
from .cells import KernelResult

#: build(worktree, log_path) -> the kernel spec to boot (the tree); HarnessError when it fails
Builder = Callable[[str, str], str]


def git(repo: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise HarnessError(f"git {' '.join(args)} in {repo}: {(r.stderr or r.stdout).strip()[-300:]}")
    return r


def commits_between(repo: str, good: str, bad: str) -> list[str]:
    """``good``, then every commit on the ancestry path from it to ``bad``, oldest first."""
    g = git(repo, "rev-parse", "--verify", f"{good}^{{commit}}").stdout.strip()
    b = git(repo, "rev-parse", "--verify", f"{bad}^{{commit}}").stdout.strip()
    if git(repo, "merge-base", "--is-ancestor", g, b, check=False).returncode != 0:
        raise HarnessError(f"{good} is not an ancestor of {bad}: nothing to bisect between them")
    path = git(repo, "rev-list", "--reverse", "--ancestry-path", f"{g}..{b}").stdout.split()
    return [g, *path]


class GitBisect(Bisect):
    """A bisect whose kernels are commits of ``repo`` between ``good`` and ``bad``."""

    extendable = True

    def __init__(self, repo: str, good: str, bad: str, folder: str, build: Builder,
                 runner: Runner, seed: str | None = None,
                 moved: Callable[[str, str], int] | None = None, cache=None, **kw):
        self.repo = os.path.abspath(repo)
        self.cache = cache  # a harness.vm.build_cache.BuildCache, or None: build every time
        self.seed, self.moved = seed, moved  # moved(tree, was): a seed's recorded paths
        self.worktree = os.path.join(folder, "worktree")
        commits = commits_between(self.repo, good, bad)
        super().__init__(commits, folder, self._build_and_run, **kw)
        self.build, self.run_kernel = build, runner
        self.subjects: dict[str, dict] = {}
        self.timings: list[dict] = []  # per session: commit, build_s, run_s

    # -- the worktree ----------------------------------------------------------------------
    def _worktree(self) -> None:
        t0 = time.monotonic()
        self._make_worktree()
        self.timings.append({"worktree_s": round(time.monotonic() - t0, 1), "seed": self.seed})

    def _make_worktree(self) -> None:
        if os.path.isdir(os.path.join(self.worktree, ".git")) or os.path.isfile(
                os.path.join(self.worktree, ".git")):
            return
        os.makedirs(self.folder, exist_ok=True)
        if not self.seed:
            git(self.repo, "worktree", "add", "--detach", self.worktree, self.kernels[-1])
            return
        # a built tree of a nearby commit, copied in with its objects and timestamps: git then
        # rewrites only the files that differ, and make rebuilds only what they touch
        git(self.repo, "worktree", "add", "--no-checkout", "--detach", self.worktree,
            self.kernels[-1])
        shutil.copytree(self.seed, self.worktree, symlinks=True, dirs_exist_ok=True,
                        ignore=lambda d, names: [".git"] if os.path.samefile(d, self.seed) else [])
        git(self.worktree, "reset", "-q")
        git(self.worktree, "update-index", "-q", "--refresh", check=False)
        git(self.worktree, "reset", "-q", "--hard")
        if self.moved:
            self.moved(self.worktree, self.seed)

    def _checkout(self, commit: str) -> None:
        git(self.worktree, "checkout", "--detach", "-q", commit)

    def _describe(self, commit: str) -> dict:
        if commit not in self.subjects:
            out = git(self.repo, "show", "-s", "--format=%H%x00%s%x00%cI", commit).stdout
            full, subject, date = (out.strip().split("\0") + ["", ""])[:3]
            self.subjects[commit] = {"commit": full, "subject": subject, "date": date}
        return self.subjects[commit]

    def _build_and_run(self, commit: str, step_folder: str, repeat: int) -> KernelResult:
        """Check ``commit`` out, build it, boot it and run the selection (a build or boot that
        fails is an error of the step: skip).  A commit built before (this bisect, an earlier
        one, or a stopped one) is booted from the build cache instead: same kernel, no build."""
        os.makedirs(step_folder, exist_ok=True)
        t0 = time.monotonic()
        timing = {"commit": commit, "folder": os.path.basename(step_folder)}
        self.timings.append(timing)
        spec = self.cache.lookup(commit) if self.cache else None
        if spec:
            timing.update(build_s=0.0, cached=spec)
        else:
            if commit != "HEAD":
                self._checkout(commit)
            try:
                spec = self.build(self.worktree, os.path.join(step_folder, "build.log"))
            except HarnessError as exc:
                timing["build_s"] = round(time.monotonic() - t0, 1)
                return KernelResult(commit, errors=[f"build: {exc}"])
            timing["build_s"] = round(time.monotonic() - t0, 1)
            if self.cache:  # boot the kept copy: the same files on this step and any later one
                spec = self.cache.store(spec, commit, timing["build_s"])
        t1 = time.monotonic()
        result = self.run_kernel(spec, step_folder, repeat)
        timing["run_s"] = round(time.monotonic() - t1, 1)
        result.spec = commit
        return result

    def judge(self, index: int, role: str = "step"):
        step = super().judge(index, role)
        info = self._describe(self.kernels[index])
        step.reason = step.reason if step.reason.startswith(info["commit"][:12]) else \
            f"{info['commit'][:12]} {info['subject']}: {step.reason}"
        return step

    # -- git bisect ----------------------------------------------------------------------
    def run(self) -> int:
        self._worktree()
        last = len(self.kernels) - 1
        good = self.judge(0, "good endpoint")
        if good.decision != GOOD:
            return self._end(EXIT_INFRA if "could not run" in good.reason else EXIT_NONE,
                             f"the good commit {good.spec[:12]} is not good: {good.reason}")
        bad = self.judge(last, "bad endpoint")
        if bad.decision != BAD:
            return self._end(EXIT_INFRA if "could not run" in bad.reason else EXIT_NONE,
                             f"the bad commit {bad.spec[:12]} is not bad: {bad.reason}")
        git(self.worktree, "bisect", "reset", check=False)
        out = git(self.worktree, "bisect", "start", self.kernels[last], self.kernels[0]).stdout
        culprit, candidates = None, []
        for _ in range(4 * len(self.kernels)):
            if "is the first bad commit" in out:
                culprit = out.split()[0]
                break
            if "only 'skip'ped commits left" in out:
                candidates = [w for w in out.split() if len(w) == 40 and
                              all(c in "0123456789abcdef" for c in w)]
                break
            head = git(self.worktree, "rev-parse", "HEAD").stdout.strip()
            decision = self.judge(self.kernels.index(head)).decision
            r = git(self.worktree, "bisect", {GOOD: "good", BAD: "bad", SKIP: "skip"}[decision],
                    check=False)  # exits non-zero when it cannot go on: read what it says
            out = r.stdout + r.stderr
            if r.returncode != 0 and "skip" not in out and "first bad commit" not in out:
                raise HarnessError(f"git bisect {decision}: {out.strip()[-300:]}")
        log = git(self.worktree, "bisect", "log", check=False).stdout
        git(self.worktree, "bisect", "reset", check=False)
        self.outcome_extra = {"git_bisect_log": log}
        if culprit is None:
            named = ", ".join(c[:12] for c in candidates) or "(git bisect gave no answer)"
            return self._end(EXIT_NONE, f"the first bad commit is one of {named}: the others "
                             "could not be built, booted or judged")
        first_bad = self.kernels.index(git(self.repo, "rev-parse", culprit).stdout.strip())
        parent_commit = git(self.repo, "rev-parse", f"{culprit}^").stdout.strip()
        parent = (self.kernels.index(parent_commit) if parent_commit in self.kernels
                  else first_bad - 1)
        again_bad = self.judge(first_bad, "re-verify")
        again_good = self.judge(parent, "re-verify")
        if again_bad.decision != BAD or again_good.decision != GOOD:
            return self._end(EXIT_NONE, "the culprit did not hold when measured again: "
                             f"{again_good.spec[:12]} {again_good.decision}, "
                             f"{again_bad.spec[:12]} {again_bad.decision}")
        revert = self._revert_check(first_bad)
        info = self._describe(self.kernels[first_bad])
        text = (f"first bad commit: {info['commit'][:12]} {info['subject']} ({info['date']}); "
                f"revert check: {revert}")
        code = EXIT_FOUND if not revert.startswith("failed") else EXIT_NONE
        return self._end(code, text, first_bad=first_bad, last_good=parent)

    def _revert_check(self, first_bad: int) -> str:
        culprit = self.kernels[first_bad]
        self._checkout(self.kernels[-1])
        r = git(self.worktree, "revert", "--no-edit", culprit, check=False)
        if r.returncode != 0:
            git(self.worktree, "revert", "--abort", check=False)
            return "not checked: the revert does not apply cleanly on the bad commit"
        reverted = git(self.worktree, "rev-parse", "HEAD").stdout.strip()
        self.kernels.append(reverted)  # judged as one more kernel, after the bad one
        step = self.judge(len(self.kernels) - 1, "revert check")
        if step.decision == GOOD:
            return "passed (the bad commit with the culprit reverted judges good)"
        return f"failed: the bad commit with the culprit reverted judges {step.decision}"

    def _end(self, code: int, text: str, **extra) -> int:
        extra_out = getattr(self, "outcome_extra", {})
        rc = super()._end(code, text, **extra)
        if extra_out or self.subjects:
            self.outcome.update(extra_out)
            self.outcome["commits"] = self.subjects
            self.outcome["timings"] = self.timings
            self._save()
        return rc
