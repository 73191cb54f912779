"""A kernel splat's fingerprint: the same bug gives the same one in any test, kernel or night.

What differs between two reports of one bug is noise: addresses, function offsets and sizes,
the CPU and PID, source line numbers (they move from kernel to kernel), whether a function is
in a module, the unreliable frames (``? func``) the unwinder guessed, and the frames of the
reporting machinery itself (``dump_stack``, ``__warn``, ``report_bug``, the exception entry).
What stays is what the bug is: its kind, the report's title with the noise taken out, the
function it happened in (``RIP:`` or ``WARNING: ... at file:line func``) and the first
reliable frames of its call trace.  Those are hashed; the first 12 hex digits are the
fingerprint, and ``signature`` says in one line what was hashed.

NIPA does the same for netdev's CI (``contest/remote/lib/crash.py``: the first frames of the
trace, "needles"), so a splat seen again is a known issue, not a new one.
"""

from __future__ import annotations

import hashlib
import re

FRAMES = 5
#: a frame: ``func+0x1a/0x40 [module]`` (``func.cold``, ``func.isra.0`` kept as written)
FRAME = re.compile(r"^\s*(\? )?([A-Za-z_][\w.]*)\+0x[0-9a-f]+/0x[0-9a-f]+(?:\s+\[[\w-]+\])?\s*$")
RIP = re.compile(r"\bRIP: [0-9a-f]{4}:(?:\[<[0-9a-f]+>\] )?([A-Za-z_][\w.]*)\+0x")
WARN_AT = re.compile(r"WARNING: CPU: \d+ PID: \d+ at (\S+?)(?::\d+)? ([A-Za-z_][\w.]*)\+0x")
#: frames of the reporting and exception machinery: the same in every report
MACHINERY = re.compile(
    r"^(dump_stack\w*|show_stack\w*|__dump_stack|__warn\w*|warn_slowpath\w*|report_bug|"
    r"handle_bug|exc_\w+|asm_exc_\w+|do_error_trap|do_trap|die\w*|oops_\w+|panic|"
    r"__die\w*|page_fault_oops|kernelmode_fixup_or_oops|__bad_area\w*|bad_area\w*|"
    r"do_user_addr_fault|spurious_kernel_fault|no_context|lockdep_\w+|print_\w+|"
    r"__stack_chk_fail|check_\w+_usage|__might_\w+|___might_sleep|kasan_report\w*|"
    r"__asan_\w+|ubsan_\w+|__ubsan_\w+|refcount_warn_saturate)$")
NOISE = [
    (re.compile(r"\b(?:0x)?[0-9a-f]{8,16}\b"), "ADDR"),  # addresses, register values
    (re.compile(r"\+0x[0-9a-f]+/0x[0-9a-f]+"), ""),  # function offsets
    (re.compile(r"\bCPU: ?\d+"), "CPU"),
    (re.compile(r"\bPID: ?\d+"), "PID"),
    (re.compile(r"\b(comm|task):? \S+"), r"\1"),
    (re.compile(r"\[#\d+\]"), "[#]"),  # the oops counter
    (re.compile(r"waiting for \S+ to become free"), "waiting for DEV to become free"),
    (re.compile(r"(\.[ch]):\d+"), r"\1"),  # source line numbers
    (re.compile(r"\b\d+ seconds\b"), "N seconds"),
    (re.compile(r"\busage count = \d+", re.I), "usage count"),
    (re.compile(r"\s+\[[\w-]+\]"), ""),  # module names
    (re.compile(r"\s+"), " "),
]


def normalize(line: str) -> str:
    """A report line with addresses, offsets, CPU, PID, line numbers and modules taken out."""
    for pattern, repl in NOISE:
        line = pattern.sub(repl, line)
    return line.strip()


def frames(text: str, n: int = FRAMES) -> list[str]:
    """The first ``n`` reliable frames of the call trace, reporting machinery left out."""
    out = []
    for line in text.splitlines():
        m = FRAME.match(line)
        if not m or m.group(1):  # not a frame, or one the unwinder was unsure of
            continue
        name = m.group(2)
        if MACHINERY.match(name):
            continue
        out.append(name)
        if len(out) == n:
            break
    return out


def where(text: str) -> str | None:
    """The function the report happened in: the WARN's own, else the first ``RIP:``."""
    m = WARN_AT.search(text)
    if m:
        return m.group(2)
    m = RIP.search(text)
    return m.group(1) if m else None


def signature(kind: str, first_line: str, text: str) -> str:
    """What the fingerprint hashes, readable: ``kind | title | in func | f1 < f2 < ...``."""
    title = normalize(first_line)
    # a WARN's title is "WARNING: CPU PID at file func": the function is said by "in"
    title = re.sub(r"^WARNING: CPU PID at (\S+) \S+$", r"WARNING at \1", title)
    where_ = where(text)
    parts = [kind, title]
    if where_:
        parts.append(f"in {where_}")
    stack = [f for f in frames(text) if f != where_]
    if stack:
        parts.append(" < ".join(stack))
    return " | ".join(parts)


def fingerprint(kind: str, first_line: str, text: str) -> str:
    return hashlib.sha256(signature(kind, first_line, text).encode()).hexdigest()[:12]
