"""kernel-lab bisect over a git tree, on a small repository whose "kernel" is a file: git bisect
runs in a worktree of its own, a commit that does not build is skipped, the culprit is
verified again and reverted on top of the bad commit."""

import json
import subprocess

import pytest

from harness.core.errors import HarnessError
from harness.orchestrate.bisect import BISECT_FILE, EXIT_FOUND, EXIT_NONE, Figure
from harness.orchestrate.cells import KernelResult
from harness.orchestrate.git_bisect import GitBisect


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def make_repo(path, behaviours, other=None):
    """One commit per entry: the file ``behaviour`` says how the "kernel" behaves."""
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "lab@example.org")
    git(path, "config", "user.name", "lab")
    commits = []
    for i, b in enumerate(behaviours):
        (path / "behaviour").write_text(b + "\n")
        (path / f"file{i}.c").write_text(f"/* commit {i} */\n")
        if other and i in other:
            (path / "other").write_text(other[i])
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", f"change {i}: {b}")
        commits.append(git(path, "rev-parse", "HEAD"))
    return commits


class Fake:
    """Builds by reading the worktree's ``behaviour``; runs by what the build saw."""

    def __init__(self):
        self.built = []

    def build(self, worktree, log):
        b = open(f"{worktree}/behaviour").read().strip()
        self.built.append(b)
        if b == "nobuild":
            raise HarnessError("make failed (exit 2)")
        self.state = b
        return worktree

    def run(self, spec, folder, repeat):
        k = KernelResult(spec, rcs=[1 if self.state == "fail" else 0])
        failed = self.state == "fail"
        k.per_lab = {"lab": {"passed": 0 if failed else 3, "failed": 1 if failed else 0,
                             "skipped": 0}}
        centre = 0.03 if self.state in ("fast", "fail") else 0.0
        k.records = [{"lab": "ingress_ifb", "name": "htb 100mbit iperf3", "test_id": "t",
                      "verdict": "passed", "attempt": 1,
                      "derived": {"counter_error": centre + 0.0005 * (i % 3 - 1)}}
                     for i in range(repeat)]
        return k


def test_the_commit_that_broke_it_is_found_in_a_worktree_of_its_own(tmp_path):
    behaviours = ["ok"] * 4 + ["nobuild"] + ["ok"] + ["fail"] * 6
    commits = make_repo(tmp_path / "linux", behaviours)
    before = git(tmp_path / "linux", "status", "--porcelain"), git(tmp_path / "linux", "rev-parse", "HEAD")
    fake = Fake()
    b = GitBisect(str(tmp_path / "linux"), commits[0], commits[-1], str(tmp_path / "b"),
                  fake.build, fake.run)
    assert b.run() == EXIT_FOUND, b.outcome
    data = json.loads((tmp_path / "b" / BISECT_FILE).read_text())
    assert data["outcome"]["first_bad"]["spec"] == commits[6]
    assert "change 6: fail" in data["outcome"]["summary"]
    assert "revert check: passed" in data["outcome"]["summary"]
    assert "git bisect start" in data["outcome"]["git_bisect_log"]
    roles = [s["role"] for s in data["steps"]]
    assert roles[:2] == ["good endpoint", "bad endpoint"] and roles[-1] == "revert check"
    # the user's checkout is as it was: same HEAD, clean, no bisect under way
    assert (git(tmp_path / "linux", "status", "--porcelain"),
            git(tmp_path / "linux", "rev-parse", "HEAD")) == before
    r = subprocess.run(["git", "-C", str(tmp_path / "linux"), "bisect", "log"],
                       capture_output=True, text=True)
    assert r.returncode != 0


def test_a_commit_that_does_not_build_is_skipped_and_named_when_it_hides_the_culprit(tmp_path):
    commits = make_repo(tmp_path / "linux", ["ok", "nobuild", "ok", "fail", "fail"])
    fake = Fake()
    b = GitBisect(str(tmp_path / "linux"), commits[0], commits[-1], str(tmp_path / "b"),
                  fake.build, fake.run)
    assert b.run() == EXIT_FOUND
    assert b.outcome["first_bad"]["spec"] == commits[3]
    skipped = [s for s in b.steps if s.decision == "skip"]
    assert skipped == [] or "build: make failed" in skipped[0].reason
    hidden = make_repo(tmp_path / "l2", ["ok", "nobuild", "fail"])
    b = GitBisect(str(tmp_path / "l2"), hidden[0], hidden[-1], str(tmp_path / "b2"),
                  fake.build, fake.run)
    assert b.run() == EXIT_NONE
    assert b.outcome["summary"].startswith("the first bad commit is one of")
    assert hidden[1][:12] in b.outcome["summary"] and hidden[2][:12] in b.outcome["summary"]


def test_a_three_percent_figure_is_bisected_and_its_revert_that_does_not_apply_is_said(tmp_path):
    # "fast" from commit 5 on; commit 7 edits the same line again, so reverting 5 on top of
    # the bad commit conflicts
    behaviours = ["ok"] * 5 + ["fast"] * 6
    commits = make_repo(tmp_path / "linux", behaviours, other={5: "x\n", 7: "y\n"})
    fake = Fake()
    b = GitBisect(str(tmp_path / "linux"), commits[0], commits[-1], str(tmp_path / "b"),
                  fake.build, fake.run,
                  figure=Figure("ingress_ifb::htb 100mbit iperf3", "counter_error", 0.01),
                  repeat=3)
    assert b.run() == EXIT_FOUND, b.outcome
    assert b.outcome["first_bad"]["spec"] == commits[5]
    assert "revert check: not checked: the revert does not apply cleanly" in b.outcome["summary"]


def test_good_must_be_an_ancestor_of_bad(tmp_path):
    commits = make_repo(tmp_path / "linux", ["ok", "fail"])
    fake = Fake()
    with pytest.raises(HarnessError, match="not an ancestor"):
        GitBisect(str(tmp_path / "linux"), commits[1], commits[0], str(tmp_path / "b"),
                  fake.build, fake.run)


def test_a_seed_tree_gives_the_worktree_its_objects_and_git_rewrites_only_what_differs(tmp_path):
    import os
    import shutil

    commits = make_repo(tmp_path / "linux", ["ok", "ok", "fail", "fail"])
    seed = tmp_path / "built"
    shutil.copytree(tmp_path / "linux", seed, ignore=shutil.ignore_patterns(".git"))
    subprocess.run(["git", "-C", str(tmp_path / "linux"), "checkout", "-q", commits[0]],
                   check=True)  # the seed is the build of the first commit
    for i in (1, 2, 3):
        os.remove(seed / f"file{i}.c")
    (seed / "behaviour").write_text("ok\n")
    (seed / "file0.o").write_text("object\n")
    old = 1_000_000_000
    for p in seed.iterdir():
        os.utime(p, (old, old))
    subprocess.run(["git", "-C", str(tmp_path / "linux"), "checkout", "-q", "main"], check=True)
    fake = Fake()
    b = GitBisect(str(tmp_path / "linux"), commits[0], commits[-1], str(tmp_path / "b"),
                  fake.build, fake.run, seed=str(seed))
    b._worktree()
    wt = tmp_path / "b" / "worktree"
    assert (wt / "file0.o").read_text() == "object\n"  # the seed's objects came along
    assert os.stat(wt / "file0.c").st_mtime == old  # unchanged since the seed: untouched
    assert os.stat(wt / "behaviour").st_mtime > old  # differs at the bad commit: rewritten
    assert (wt / "behaviour").read_text() == "fail\n" and (wt / "file3.c").exists()
    assert git(wt, "status", "--porcelain", "--untracked-files=no") == ""
    assert b.run() == EXIT_FOUND and b.outcome["first_bad"]["spec"] == commits[2]


def test_a_finished_git_bisect_read_again_does_not_build_anything(tmp_path):
    commits = make_repo(tmp_path / "linux", ["ok", "ok", "ok", "fail", "fail"])
    fake = Fake()
    first = GitBisect(str(tmp_path / "linux"), commits[0], commits[-1], str(tmp_path / "b"),
                      fake.build, fake.run)
    assert first.run() == EXIT_FOUND
    built = len(fake.built)
    again = GitBisect(str(tmp_path / "linux"), commits[0], commits[-1], str(tmp_path / "b"),
                      fake.build, fake.run)
    assert again.run() == EXIT_FOUND and again.outcome["first_bad"]["spec"] == commits[3]
    assert len(fake.built) == built  # every step, the revert check too, came from its file


def test_a_moved_build_names_its_new_place_and_keeps_its_timestamps(tmp_path):
    import os

    from harness.vm.git_build import moved_build

    was, tree = tmp_path / "seed", tmp_path / "worktree"
    for d in (was, tree):
        (d / "tools" / "objtool").mkdir(parents=True)
    cmd = tree / "tools" / "objtool" / ".check.o.cmd"
    cmd.write_text(f"cmd_{was}/tools/objtool/check.o := gcc -o {was}/tools/objtool/check.o\n")
    (tree / "tools" / "objtool" / "check.c").write_text(f"/* {was} */\n")  # not a .cmd
    os.utime(cmd, (1_000_000_000, 1_000_000_000))
    assert moved_build(str(tree), str(was)) == 1
    assert str(was) not in cmd.read_text() and f"cmd_{tree}/tools/objtool/check.o" in cmd.read_text()
    assert os.stat(cmd).st_mtime == 1_000_000_000
    assert str(was) in (tree / "tools" / "objtool" / "check.c").read_text()
