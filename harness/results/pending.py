"""Evidence kept until the run meets its baseline: a test that passed may still have regressed.

A session compared with a baseline (``pytest --baseline NAME``; a cell of ``kernel-lab nightly
--baseline NAME`` gets ``--evidence-until-compare``) keeps, for each passed call, what a failed
one keeps (the captures of its links, the counters that moved, the topology), marked
``evidence.pending``.  Once the comparison is made, :func:`settle` keeps the evidence of every
test with a measurement that regressed (``evidence.regressed``: the change in one line; its
captures get their summary then) and deletes everything else: the pcap files and the pending
evidence of the record.  A run killed before its comparison keeps its pending evidence, as
bounded as every ring.

Records may come from a guest's folder: nothing here follows a symlink (record files are opened
with ``O_NOFOLLOW``, folders are walked without following links, a capture path must name a
regular file inside the session's own folder).
"""

from __future__ import annotations

import json
import os
import stat

from ..net.rings import summary
from .baseline import key_of
from .records import NOT_RECORDS

PENDING = "kept until the run is compared with its baseline"


def _read(path: str) -> dict | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        with os.fdopen(fd) as f:
            rec = json.load(f)
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) and "lab" in rec else None


def _write(path: str, rec: dict) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as f:
        json.dump(rec, f, indent=1)
    os.replace(tmp, path)  # replaces a link itself, never what it points at


def _inside(session_dir: str, relative: str) -> str | None:
    """The regular file ``relative`` names inside ``session_dir``, or None."""
    path = os.path.normpath(os.path.join(session_dir, relative))
    if os.path.commonpath([path, os.path.normpath(session_dir)]) != os.path.normpath(session_dir):
        return None
    try:
        return path if stat.S_ISREG(os.lstat(path).st_mode) else None
    except OSError:
        return None


def _records(run_dir: str):
    """(path, record) of every record under ``run_dir``, without following links."""
    for root, _, files in os.walk(run_dir):
        if root == run_dir:
            continue
        for fn in sorted(files):
            if fn.endswith(".json") and fn not in NOT_RECORDS:
                path = os.path.join(root, fn)
                rec = _read(path)
                if rec is not None:
                    yield path, rec


def settle(run_dir: str, regressed: dict[str, str]) -> dict[str, int]:
    """Keep the pending evidence of the tests with a regressed measurement
    (``regressed``: {"lab::name": one line}), delete the rest; {"kept": n, "discarded": m}."""
    records = list(_records(run_dir))
    why: dict[tuple, str] = {}
    for _, rec in records:  # the evidence sits on a test's first record, the figure may not
        if key_of(rec) in regressed:
            why.setdefault((rec.get("test_id"), rec.get("attempt", 1)), regressed[key_of(rec)])
    counts = {"kept": 0, "discarded": 0}
    emptied = set()
    for path, rec in records:
        ev = rec.get("evidence")
        if not isinstance(ev, dict) or not ev.get("pending"):
            continue
        session_dir = os.path.dirname(os.path.dirname(path))  # <session>/<lab>/<record>.json
        reason = why.get((rec.get("test_id"), rec.get("attempt", 1)))
        del ev["pending"]
        if reason:
            ev["regressed"] = reason
            for c in ev.get("captures", []):
                files = [p for p in (_inside(session_dir, f) for f in c.get("files", [])) if p]
                c["summary"] = summary(files)
            counts["kept"] += 1
        else:
            for c in ev.get("captures", []):
                for f in c.get("files", []):
                    p = _inside(session_dir, f)
                    if p:
                        os.unlink(p)
                        emptied.add(os.path.dirname(p))
            del rec["evidence"]
            counts["discarded"] += 1
        _write(path, rec)
    for folder in sorted(emptied, key=len, reverse=True):  # <lab>/captures/<test>/, then captures/
        for f in (folder, os.path.dirname(folder)):
            try:
                os.rmdir(f)
            except OSError:
                pass
    return counts
