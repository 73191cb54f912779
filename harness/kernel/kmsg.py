"""The kernel log: what the kernel wrote while a test ran, and the splats in it.

``/dev/kmsg`` gives one record per read (``prio,seq,usec,flags;text`` then continuation
lines).  A reader opened at a test's start and seeked to the end sees exactly what the kernel
logged since; :func:`splats` picks out the reports a regression job must never miss: WARN,
BUG, Oops, KASAN, UBSAN, lockdep, RCU stalls, hung tasks, refcount errors and a netdev that
does not go away (``unregister_netdevice: waiting for``).  Each splat keeps its first line and
the lines that follow it (the stack), up to the next record that starts another report.

    log = KernelLog()            # at the start of the test
    ...
    found = splats(log.read())   # at its end: [] when the kernel stayed healthy
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import asdict, dataclass

from .fingerprint import fingerprint, signature

KMSG = "/dev/kmsg"

#: (kind, pattern) of the first line of each report
SPLAT_PATTERNS = [
    ("warning", re.compile(r"WARNING: CPU: \d+ PID: \d+ at |-+\[ cut here \]-+")),
    ("bug", re.compile(r"\bBUG: |kernel BUG at ")),
    ("oops", re.compile(r"\bOops: |general protection fault")),
    ("panic", re.compile(r"Kernel panic - not syncing")),
    ("kasan", re.compile(r"\bKASAN: ")),
    ("ubsan", re.compile(r"\bUBSAN: ")),
    ("lockdep", re.compile(r"WARNING: (possible circular locking|possible recursive locking|"
                           r"inconsistent lock state|suspicious RCU usage)")),
    ("rcu stall", re.compile(r"rcu: INFO: rcu_\w+ (self-)?detected stall|"
                             r"INFO: rcu_\w+ (self-)?detected stall")),
    ("hung task", re.compile(r"INFO: task .* blocked for more than \d+ seconds")),
    ("refcount", re.compile(r"\brefcount_t: ")),
    ("netdev leak", re.compile(r"unregister_netdevice: waiting for \S+ to become free")),
]
CONTEXT_LINES = 40


@dataclass
class Entry:
    level: int
    facility: int
    seq: int
    usec: int
    text: str


@dataclass
class Splat:
    kind: str
    first_line: str
    text: str
    seq: int
    usec: int
    facility: int  # 0: the kernel; anything else was written into the log by a process

    def as_record(self) -> dict:
        """The splat with its fingerprint (harness.kernel.fingerprint): the same bug has the
        same one in any test, kernel or night."""
        return dict(asdict(self), fingerprint=fingerprint(self.kind, self.first_line, self.text),
                    signature=signature(self.kind, self.first_line, self.text))


def parse_record(raw: bytes) -> Entry | None:
    """One /dev/kmsg record, or None when it is not one."""
    head, sep, body = raw.decode(errors="replace").partition(";")
    if not sep:
        return None
    fields = head.split(",")
    try:
        prio, seq, usec = int(fields[0]), int(fields[1]), int(fields[2])
    except (IndexError, ValueError):
        return None
    # continuation lines (" SUBSYSTEM=net") are the record's dictionary, not its text
    text = body.split("\n", 1)[0]
    return Entry(prio & 7, prio >> 3, seq, usec, _unescape(text))


def _unescape(text: str) -> str:
    return re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), text)


class KernelLog:
    """Reads what the kernel logs from now on (non-blocking)."""

    def __init__(self, path: str = KMSG):
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        os.lseek(self.fd, 0, os.SEEK_END)
        self.lost = 0  # records overwritten before they were read

    def read(self) -> list[Entry]:
        out = []
        while True:
            try:
                raw = os.read(self.fd, 16384)
            except BlockingIOError:
                return out
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # the ring buffer wrapped past us
                    self.lost += 1
                    continue
                raise
            if not raw:
                return out
            entry = parse_record(raw)
            if entry is not None:
                out.append(entry)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def splat_kind(line: str) -> str | None:
    for kind, pattern in SPLAT_PATTERNS:
        if pattern.search(line):
            return kind
    return None


def splats(entries: list[Entry]) -> list[Splat]:
    """The reports in ``entries``, each with the lines after it (its stack) as context.  The
    ``cut here`` line opens a WARN or BUG; the line after it names the report."""
    found: list[Splat] = []
    current: Splat | None = None
    taken = 0
    for e in entries:
        kind = splat_kind(e.text)
        names_cut = (current is not None and "cut here" in current.first_line and taken <= 2
                     and kind is not None)
        if kind is not None and not names_cut:
            current = Splat(kind, e.text, e.text, e.seq, e.usec, e.facility)
            found.append(current)
            taken = 1
        elif current is not None and taken < CONTEXT_LINES:
            if names_cut:
                current.kind, current.first_line = kind, e.text
            current.text += "\n" + e.text
            taken += 1
    return found


CONSOLE_LINE = re.compile(r"^\[\s*(\d+)\.(\d+)\] (.*)$")


def splats_in_console(text: str) -> list[Splat]:
    """The splats in a serial console log (``[   12.345678] text`` lines)."""
    entries = []
    for n, line in enumerate(text.splitlines()):
        m = CONSOLE_LINE.match(line.rstrip("\r"))
        if m:
            usec = int(m.group(1)) * 1_000_000 + int(m.group(2).ljust(6, "0")[:6])
            entries.append(Entry(0, 0, n, usec, m.group(3)))
    return splats(entries)


class KernelSplat(Exception):
    """The kernel logged a splat while a test ran: the test fails with it (and is not retried:
    a splat is never turned into a pass)."""

    def __init__(self, found: list[Splat], phase: str = "call"):
        self.splats, self.phase = found, phase
        kinds = ", ".join(sorted({s.kind for s in found}))
        first = found[0].first_line if found else ""
        super().__init__(f"kernel splat during the test's {phase} ({kinds}): {first}")

    def details(self) -> str:
        return "\n\n".join(s.text for s in self.splats)
