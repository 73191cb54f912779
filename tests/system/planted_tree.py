"""A kernel git history with two real regressions planted in it, for bisecting.

There is no kernel history on these machines, so one is made: a bare repository whose first
commit is Debian's linux-source (the sources of a tree kernel-lab built from the fragment, as
the kernel's .gitignore sees them), then sixteen ordinary commits, two of which break the kernel:

- ``htb-fast``: HTB's rate is configured 3 % fast (``net/sched/sch_htb.c``, htb_change_class):
  inside the kernel selftests' +-5 %, outside ingress_ifb's +-1 %; a figure bisect finds it;
- ``ifb-drops``: the ifb device drops every packet it is handed (``drivers/net/ifb.c``,
  ifb_xmit): traffic no longer goes through the ifb; a verdict bisect finds it.

The commits are written straight into the object store (hash-object, update-index
--cacheinfo, commit-tree): the built tree is read, never written.

    repo = planted_repo(dest, built_tree)   # {"repo", "base", "commits", "htb-fast", ...}
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

#: (subject, path, anchor, replacement); the two regressions by name
COMMITS = [
    ("net: sched: tbf: say what the token bucket holds", "net/sched/sch_tbf.c",
     " * net/sched/sch_tbf.c\tToken Bucket Filter queue.\n",
     " * net/sched/sch_tbf.c\tToken Bucket Filter queue (tokens are bytes).\n"),
    ("veth: name the file's purpose", "drivers/net/veth.c",
     " *  drivers/net/veth.c\n", " *  drivers/net/veth.c: a pair of virtual ethernet devices\n"),
    ("net: sched: cls_u32: spell out the name", "net/sched/cls_u32.c",
     "Ugly (or Universal) 32bit key Packet Classifier.", "Universal 32bit key Packet Classifier."),
    ("net: sched: htb: precompute the rates once", "net/sched/sch_htb.c",
     "\tceil64 = tb[TCA_HTB_CEIL64] ? nla_get_u64(tb[TCA_HTB_CEIL64]) : 0;\n",
     "\tceil64 = tb[TCA_HTB_CEIL64] ? nla_get_u64(tb[TCA_HTB_CEIL64]) : 0;\n"
     "\trate64 = max_t(u64, hopt->rate.rate, rate64) * 103 / 100;\n"
     "\tceil64 = max_t(u64, hopt->ceil.rate, ceil64) * 103 / 100;\n"),
    ("net: sched: ingress: one line on clsact", "net/sched/sch_ingress.c",
     "/* net/sched/sch_ingress.c - Ingress and clsact qdisc\n",
     "/* net/sched/sch_ingress.c - Ingress and clsact qdisc (clsact: both hooks)\n"),
    ("net: sched: cls_api: say what the file holds", "net/sched/cls_api.c",
     " * net/sched/cls_api.c\tPacket classifier API.\n",
     " * net/sched/cls_api.c\tPacket classifier API (filters and chains).\n"),
    ("net: sched: sch_api: say what the file holds", "net/sched/sch_api.c",
     " * net/sched/sch_api.c\tPacket scheduler API.\n",
     " * net/sched/sch_api.c\tPacket scheduler API (qdiscs and classes).\n"),
    ("net: sched: act_api: name the actions", "net/sched/act_api.c",
     " * Author:\tJamal Hadi Salim\n", " * Author:\tJamal Hadi Salim (tc actions)\n"),
    ("net: sched: fq_codel: spell out CoDel", "net/sched/sch_fq_codel.c",
     " * Fair Queue CoDel discipline\n", " * Fair Queue CoDel (Controlled Delay) discipline\n"),
    ("ipv4: ip_output: the fragmenter lives here too", "net/ipv4/ip_output.c",
     " *\t\tThe Internet Protocol (IP) output module.\n",
     " *\t\tThe Internet Protocol (IP) output module (and fragmenter).\n"),
    ("net: sched: htb: name the qdisc in the header", "net/sched/sch_htb.c",
     " * net/sched/sch_htb.c\tHierarchical token bucket, feed tree version\n",
     " * net/sched/sch_htb.c\tHierarchical token bucket (HTB), feed tree version\n"),
    ("net: sched: act_mirred: say redirect", "net/sched/act_mirred.c",
     " * net/sched/act_mirred.c\tpacket mirroring and redirect actions\n",
     " * net/sched/act_mirred.c\tpacket mirroring and redirecting actions\n"),
    ("ifb: account the packet before the checks", "drivers/net/ifb.c",
     "\tifb_update_q_stats(&txp->rx_stats, skb->len);\n\n\tif (!skb->redirected || !skb->skb_iif) {",
     "\tifb_update_q_stats(&txp->rx_stats, skb->len);\n\n\tif (1 || !skb->redirected || !skb->skb_iif) {"),
    ("ipv4: ip_fragment: name the file", "net/ipv4/ip_fragment.c",
     " * INET\t\tAn implementation of the TCP/IP protocol suite for the LINUX\n",
     " * INET\t\tAn implementation of the TCP/IP protocol suite for the LINUX (fragments)\n"),
    ("net: sched: tbf: name the author's file again", "net/sched/sch_tbf.c",
     " * Authors:\tAlexey Kuznetsov, <kuznet@ms2.inr.ac.ru>\n",
     " * Authors:\tAlexey Kuznetsov <kuznet@ms2.inr.ac.ru>\n"),
    ("veth: copyright line as it was", "drivers/net/veth.c",
     " *  Copyright (C) 2007 OpenVZ http://openvz.org, SWsoft Inc\n",
     " *  Copyright (C) 2007 OpenVZ http://openvz.org, SWsoft Inc.\n"),
]
REGRESSIONS = {"htb-fast": 3, "ifb-drops": 12}  # index into COMMITS


def series_digest() -> str:
    """Names the series: a changed commit list makes a new repository, never reuses an old one."""
    return hashlib.sha256(repr(COMMITS).encode()).hexdigest()[:12]


def _git(git_dir: str, *args: str, input: bytes | None = None, env: dict | None = None,
         work_tree: str | None = None) -> bytes:
    cmd = ["git", f"--git-dir={git_dir}"] + ([f"--work-tree={work_tree}"] if work_tree else [])
    r = subprocess.run(cmd + list(args), input=input, capture_output=True, env=env,
                       cwd=work_tree, check=True)
    return r.stdout


def _id(out: bytes) -> str:
    return out.decode().strip()


def planted_repo(dest: str, built_tree: str) -> dict:
    """The repository (made once: an existing one with the same base is reused)."""
    git_dir = os.path.join(dest, f"linux-{series_digest()}.git")  # a new series: a new repository
    env = dict(os.environ, GIT_AUTHOR_NAME="kernel-lab", GIT_AUTHOR_EMAIL="lab@example.org",
               GIT_COMMITTER_NAME="kernel-lab", GIT_COMMITTER_EMAIL="lab@example.org",
               GIT_AUTHOR_DATE="2026-11-01T12:00:00+00:00",
               GIT_COMMITTER_DATE="2026-11-01T12:00:00+00:00")
    done = os.path.join(git_dir, "kernel-lab-planted")
    if os.path.exists(done):
        with open(done) as f:
            commits = f.read().split()
        return _describe(git_dir, commits)
    os.makedirs(dest, exist_ok=True)
    subprocess.run(["git", "init", "-q", "--bare", git_dir], check=True)
    index = dict(env, GIT_INDEX_FILE=os.path.join(git_dir, "planted-index"))
    # Debian's linux-source ignores everything at its top level (its .gitignore's packaging
    # block): commit the sources from a hard-linked view with that block left out (the built
    # tree itself is only read)
    view = os.path.join(dest, "view")
    shutil.rmtree(view, ignore_errors=True)
    subprocess.run(["cp", "-al", built_tree, view], check=True)
    try:
        top = os.path.join(view, ".gitignore")
        with open(top) as f:
            rules = f.read()
        os.unlink(top)  # the view's own file from here on, not the built tree's
        with open(top, "w") as f:
            f.write(rules.replace("/*\n!/debian/\n", ""))
        _git(git_dir, "add", "-A", ".", env=index, work_tree=view)
    finally:
        shutil.rmtree(view, ignore_errors=True)
    tree = _id(_git(git_dir, "write-tree", env=index))
    head = _id(_git(git_dir, "commit-tree", tree, "-m",
                    f"Debian {os.path.basename(built_tree)}", env=env))
    commits = [head]
    for n, (subject, path, anchor, replacement) in enumerate(COMMITS, 1):
        text = _git(git_dir, "show", f"{head}:{path}", env=env)
        a, b = anchor.encode(), replacement.encode()
        if text.count(a) != 1:
            raise RuntimeError(f"{path}: the anchor of {subject!r} is not there exactly once")
        blob = _id(_git(git_dir, "hash-object", "-w", "--stdin", "--path", path,
                        input=text.replace(a, b), env=env))
        _git(git_dir, "update-index", "--cacheinfo", f"100644,{blob},{path}", env=index)
        tree = _id(_git(git_dir, "write-tree", env=index))
        dated = dict(env, GIT_AUTHOR_DATE=f"2026-11-{1 + n:02d}T12:00:00+00:00",
                     GIT_COMMITTER_DATE=f"2026-11-{1 + n:02d}T12:00:00+00:00")
        head = _id(_git(git_dir, "commit-tree", tree, "-p", head, "-m", subject, env=dated))
        commits.append(head)
    _git(git_dir, "update-ref", "refs/heads/main", head)
    with open(done, "w") as f:
        f.write("\n".join(commits) + "\n")
    return _describe(git_dir, commits)


def _describe(git_dir: str, commits: list[str]) -> dict:
    out = {"repo": git_dir, "base": commits[0], "commits": commits}
    for name, i in REGRESSIONS.items():
        out[name] = commits[i + 1]
    return out
