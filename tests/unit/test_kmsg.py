"""The kernel log reader and the splat detector."""

import os

from harness.kernel.kmsg import Entry, KernelLog, parse_record, splat_kind, splats, splats_in_console

WARN = """\
------------[ cut here ]------------
WARNING: CPU: 1 PID: 4242 at net/core/dev.c:10642 unregister_netdevice_many+0x6d/0x70
Modules linked in: ifb sch_htb
CPU: 1 PID: 4242 Comm: python3 Not tainted 6.1.0-56-amd64 #1  Debian 6.1.158-1
RIP: 0010:unregister_netdevice_many+0x6d/0x70
Call Trace:
 <TASK>
 default_device_exit_batch+0x190/0x1c0
---[ end trace 0000000000000000 ]---"""

OTHERS = [
    ("BUG: kernel NULL pointer dereference, address: 0000000000000008", "bug"),
    ("kernel BUG at mm/slub.c:379!", "bug"),
    ("Oops: 0000 [#1] PREEMPT SMP NOPTI", "oops"),
    ("general protection fault, probably for non-canonical address 0xdead: 0000 [#1]", "oops"),
    ("BUG: KASAN: use-after-free in ip_tunnel_xmit+0x1/0x2", "bug"),
    ("UBSAN: shift-out-of-bounds in net/sched/sch_htb.c:1234:5", "ubsan"),
    ("WARNING: possible circular locking dependency detected", "lockdep"),
    ("rcu: INFO: rcu_preempt self-detected stall on CPU", "rcu stall"),
    ("INFO: task python3:123 blocked for more than 1 seconds.", "hung task"),
    ("refcount_t: underflow; use-after-free.", "refcount"),
    ("unregister_netdevice: waiting for kl12ab-vb to become free. Usage count = 2", "netdev leak"),
    ("Kernel panic - not syncing: sysrq triggered crash", "panic"),
]
HARMLESS = ["[Firmware Bug]: TSC doesn't count with P0 frequency!",
            "Speculative Return Stack Overflow: WARNING: See https://kernel.org/doc/... for "
            "mitigation options.",
            "sch_htb: quantum of class 10010 is big. Consider r2q change.",
            "kl12ab-vb: entered promiscuous mode",
            "IPv6: ADDRCONF(NETDEV_CHANGE): kl12ab-va: link becomes ready"]


def entries(text: str) -> list[Entry]:
    return [Entry(4, 0, i, i * 10, line) for i, line in enumerate(text.splitlines())]


def test_a_warn_is_one_splat_named_by_its_warning_line_with_its_stack():
    found = splats(entries("eth0: link up\n" + WARN + "\nsomething later"))
    assert len(found) == 1
    s = found[0]
    assert s.kind == "warning" and s.first_line.startswith("WARNING: CPU: 1 PID: 4242 at net/core/dev.c")
    assert "Call Trace:" in s.text and "default_device_exit_batch" in s.text


def test_every_kind_of_report_is_seen():
    for line, kind in OTHERS:
        assert splat_kind(line) == kind, line
        assert [s.kind for s in splats(entries(line))] == [kind]


def test_ordinary_kernel_messages_are_not_splats():
    assert splats(entries("\n".join(HARMLESS))) == []


def test_kmsg_records_parse_and_keep_their_facility():
    e = parse_record(b"4,99,1234,-;WARNING: CPU: 0 PID: 1 at x\n SUBSYSTEM=net\n DEVICE=+net:lo\n")
    assert (e.level, e.facility, e.seq, e.usec, e.text) == (4, 0, 99, 1234, "WARNING: CPU: 0 PID: 1 at x")
    user = parse_record(b"12,100,1300,-;injected\\x20line\n")
    assert user.facility == 1 and user.level == 4 and user.text == "injected line"
    assert parse_record(b"garbage") is None


def test_console_logs_are_read_too():
    console = "\n".join(f"[   12.{i:06d}] {line}" for i, line in enumerate(WARN.splitlines()))
    found = splats_in_console("random line\n" + console)
    assert [s.kind for s in found] == ["warning"] and "RIP:" in found[0].text


def test_the_reader_sees_only_what_came_after_it_opened():
    if os.geteuid() != 0:
        import pytest
        pytest.skip("/dev/kmsg needs root")
    with KernelLog() as log:
        assert all("kernel-lab unit test marker" not in e.text for e in log.read())
        with open("/dev/kmsg", "w") as f:
            f.write("kernel-lab unit test marker (harmless)\n")
        got = log.read()
    assert [e.text for e in got if "unit test marker" in e.text] == ["kernel-lab unit test marker (harmless)"]
    assert splats(got) == []


def test_records_lost_to_a_ring_overrun_make_a_test_health_unknown_never_clean(monkeypatch):
    """Old code counted `lost` in the reader and dropped it: a test whose log window lost
    records (a splat may be among them) read as clean."""
    import pytest

    from harness.orchestrate.cells import KernelResult, summary_table
    from harness.plugin import health
    from harness.report.tables import splat_note

    class Log:
        lost = 0

        def read(self):
            self.lost += 3  # /dev/kmsg said EPIPE three times: the ring wrapped past us
            return []

    class Item:
        stash = pytest.Stash()

    monkeypatch.setattr(health, "_log", lambda: log)
    log, item = Log(), Item()
    health._check(item, "call", None)  # no splat seen: the phase itself goes on
    assert health.lost_of(item) == 3
    rec = {"lab": "a", "name": "x", "test_id": "t", "verdict": "passed",
           "kernel_log": {"splats": [], "lost_records": health.lost_of(item)}}
    assert "3 record(s) lost to a ring overrun, health unknown" in splat_note([rec])
    k = KernelResult("running", per_lab={"a": {"passed": 1, "failed": 0, "skipped": 0}},
                     rcs=[0], records=[rec])
    assert "0 (3 log records lost: health unknown)" in summary_table([k])
