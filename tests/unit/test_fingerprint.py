"""A splat's fingerprint: one bug, one fingerprint, whatever the addresses, CPU, PID, line
numbers, module or build; two bugs, two."""

from harness.kernel.fingerprint import fingerprint, frames, signature
from harness.kernel.kmsg import Entry, splats

WARN = """------------[ cut here ]------------
WARNING: CPU: {cpu} PID: {pid} at net/sched/sch_htb.c:{line} {fn}+0x{off:x}/0x6b0{mod}
Modules linked in: sch_htb ifb veth nf_tables
CPU: {cpu} PID: {pid} Comm: iperf3 Not tainted {release} #1  Debian
Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
RIP: 0010:{fn}+0x{off:x}/0x6b0{mod}
Code: 48 8b 45 00 48 85 c0 0f 84 <0f> 0b e9 6d fe ff ff
RSP: 0018:ffffb2a4c{pid:07x} EFLAGS: 00010246
RAX: 0000000000000000 RBX: ffff9c4a82f1c{cpu:03x} RCX: 0000000000000000
Call Trace:
 <IRQ>
 ? __warn+0x7d/0xc0
 ? {fn}+0x{off:x}/0x6b0{mod}
 ? report_bug+0xe2/0x150
 ? handle_bug+0x41/0x70
 ? exc_invalid_op+0x13/0x60
 ? asm_exc_invalid_op+0x16/0x20
 __qdisc_run+0x{off2:x}/0x580
 net_tx_action+0x1e5/0x2a0
 __do_softirq+0xc5/0x2c8
 irq_exit_rcu+0xa2/0xd0
 sysvec_apic_timer_interrupt+0x3c/0x90
 </IRQ>"""


def splat_of(text):
    entries = [Entry(4, 0, n, n, line) for n, line in enumerate(text.splitlines())]
    (found,) = splats(entries)
    return found.as_record()


def warn(**kw):
    args = dict(cpu=1, pid=2345, line=1024, fn="htb_dequeue", off=0x5a1, off2=0x8c,
                mod=" [sch_htb]", release="6.1.0-57-amd64")
    args.update(kw)
    return splat_of(WARN.format(**args))


def test_one_bug_seen_twice_has_one_fingerprint():
    a = warn()
    # another night, another kernel: built in, moved by a patch, other CPU, PID and addresses
    b = warn(cpu=0, pid=999, line=1031, off=0x5b3, off2=0x9a, mod="", release="6.12.118+deb13-amd64")
    assert a["kind"] == b["kind"] == "warning"
    assert a["fingerprint"] == b["fingerprint"], (a["signature"], b["signature"])
    assert a["signature"] == ("warning | WARNING at net/sched/sch_htb.c | in htb_dequeue | "
                              "__qdisc_run < net_tx_action < __do_softirq < irq_exit_rcu < "
                              "sysvec_apic_timer_interrupt")


def test_two_bugs_have_two_fingerprints():
    assert warn()["fingerprint"] != warn(fn="htb_enqueue")["fingerprint"]
    oops = ("BUG: kernel NULL pointer dereference, address: 0000000000000008",
            "RIP: 0010:tcf_mirred_act+0x2b/0x4a0 [act_mirred]\nCall Trace:\n <TASK>\n"
            " tcf_action_exec+0x71/0x150\n tcf_classify+0x1b8/0x2d0\n")
    other_address = oops[0].replace("08", "10")
    assert fingerprint("bug", oops[0], oops[1]) == fingerprint("bug", other_address, oops[1])
    assert fingerprint("bug", oops[0], oops[1]) != warn()["fingerprint"]


def test_the_frames_are_the_reliable_ones_after_the_reporting_machinery():
    text = (" dump_stack_lvl+0x44/0x5c\n ? foo+0x1/0x2\n panic+0x118/0x2f4\n"
            " sysrq_handle_crash+0x16/0x20\n __handle_sysrq.cold+0x43/0x11b\n"
            " write_sysrq_trigger+0x24/0x40\n proc_reg_write+0x56/0xa0\n vfs_write+0xe3/0x3f0\n"
            " ksys_write+0x6f/0xf0\n")
    assert frames(text) == ["sysrq_handle_crash", "__handle_sysrq.cold", "write_sysrq_trigger",
                            "proc_reg_write", "vfs_write"]


def test_a_hung_task_is_one_bug_whichever_task_hangs():
    text = " __schedule+0x2e5/0x870\n schedule+0x5d/0xe0\n mutex_lock+0x1e/0x30\n pipe_write+0x5b/0x600\n"
    a = signature("hung task", "INFO: task python3:812 blocked for more than 1 seconds.", text)
    b = signature("hung task", "INFO: task python3:845 blocked for more than 120 seconds.", text)
    assert a == b and "task" in a and "812" not in a
