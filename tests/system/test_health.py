"""Kernel health is part of every verdict: a splat fails the test it happened in, goes into its
record and the report, and a guest panic names the test that was running."""

import json
import os
import sys
import textwrap
import xml.etree.ElementTree as ET

from harness.core.procs import run_unwinding
from harness.kernel.kmsg import splats
from harness.results.records import NOT_RECORDS
from harness.report.render import render
from harness.report.tables import load_runs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HOST_LAB = textwrap.dedent("""
    import os

    def test_quiet(run, record):
        record("quiet")

    def test_warns(run, record):
        record("warns", derived={"goodput_bps": 1.0})
        with open("/dev/kmsg", "w") as f:
            f.write("<4>WARNING: CPU: 0 PID: %d at kernel-lab/injected.c:1 injected+0x0/0x0\\n"
                    % os.getpid())
            f.write("<4>Call Trace: (injected by tests/system/test_health.py)\\n")
""")

# A real hung-task report from a real kernel path: a pipe writer holds the pipe's mutex while
# it copies from a userfaultfd page nobody serves; a second writer sleeps uninterruptibly in
# mutex_lock() until the hung-task detector (timeout 1 s, in the throw-away guest) reports it.
GUEST_LAB = textwrap.dedent('''
    import ctypes, fcntl, mmap, os, struct, threading, time

    def hold_the_pipe_mutex(seconds):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        libc.write.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
        with open("/proc/sys/kernel/hung_task_timeout_secs", "w") as f:
            f.write("1")
        uffd = libc.syscall(323, os.O_CLOEXEC | os.O_NONBLOCK)  # userfaultfd(2)
        assert uffd >= 0, ctypes.get_errno()
        fcntl.ioctl(uffd, 0xC018AA3F, bytearray(struct.pack("QQQ", 0xAA, 0, 0)))  # UFFDIO_API
        page = mmap.mmap(-1, mmap.PAGESIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        addr = ctypes.addressof(ctypes.c_char.from_buffer(page))
        fcntl.ioctl(uffd, 0xC020AA00, bytearray(struct.pack("QQQQ", addr, mmap.PAGESIZE, 1, 0)))
        r, w = os.pipe()
        one = ctypes.create_string_buffer(b"x")
        first = threading.Thread(target=libc.write, args=(w, addr, 16))
        first.start()
        time.sleep(0.5)
        second = threading.Thread(target=libc.write, args=(w, ctypes.addressof(one), 1))
        second.start()
        time.sleep(seconds)
        fcntl.ioctl(uffd, 0xC020AA04, bytearray(struct.pack("QQQq", addr, mmap.PAGESIZE, 0, 0)))
        first.join(30)
        second.join(30)

    def test_hangs_a_task(record):
        record("hung task provoked")
        hold_the_pipe_mutex(6)

    def test_hangs_another_task(record):
        record("hung task provoked again")
        hold_the_pipe_mutex(6)

    def test_panics(record):
        record("panic provoked")
        with open("/proc/sysrq-trigger", "w") as f:
            f.write("c")
''')


def write_lab(tmp_path, text):
    folder = tmp_path / "labs" / "health_demo"
    folder.mkdir(parents=True)
    (folder / "test_health_demo.py").write_text(text)
    (tmp_path / "conftest.py").write_text("pytest_plugins = ['harness.plugin']\n")
    return folder


def outcomes(junit) -> dict:
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        out[case.get("name")] = next((t for t in ("failure", "error", "skipped")
                                      if case.find(t) is not None), "passed")
    return out


def test_a_splat_on_the_host_fails_the_test_it_happened_in(tmp_path, kernel_log):
    """An injected WARNING (the host kernel is not ours to break) fails that test only."""
    lab = write_lab(tmp_path, HOST_LAB)
    r = run_unwinding([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                       "--results", str(tmp_path / "res"), "--run-id", "h", str(lab)],
                      cwd=tmp_path, capture_output=True, text=True, timeout=300,
                      env=dict(os.environ, PYTHONPATH=ROOT))
    ours = splats(kernel_log.consume())  # the splat was this test's doing, not a regression
    assert any("kernel-lab/injected.c" in s.first_line for s in ours)
    assert r.returncode == 1, r.stdout[-3000:]
    assert outcomes(tmp_path / "res" / "h" / "junit.xml") == {"test_quiet": "passed",
                                                              "test_warns": "failure"}
    assert "kernel splat during the test's call (warning)" in r.stdout
    rec = json.loads(next((tmp_path / "res" / "h").rglob("test_warns.json")).read_text())
    assert rec["verdict"] == "failed" and "kernel splat during the test's call" in rec["reason"]
    (splat,) = rec["kernel_log"]["splats"]
    assert splat["kind"] == "warning" and splat["phase"] == "call" and "Call Trace" in splat["text"]
    md = render(load_runs([str(tmp_path / "res" / "h")]), "md")
    assert f"kernel warning [{splat['fingerprint']}]: WARNING: CPU: 0" in md


def test_a_real_splat_and_a_panic_in_a_guest(tmp_path, debian_image):
    """In a booted Debian kernel: a real hung-task report fails the test that caused it; a
    panic stops the guest, and the host names the test it hit and records it as failed."""
    image = debian_image
    lab = write_lab(tmp_path, GUEST_LAB)
    r = run_unwinding([sys.executable, "-m", "pytest", "--kernel", image, "--results",
                       str(tmp_path / "res"), "--run-id", "g", str(lab)],
                      cwd=tmp_path, capture_output=True, text=True, timeout=600,
                      env=dict(os.environ, PYTHONPATH=ROOT))
    assert r.returncode == 3, r.stdout[-3000:] + r.stderr[-2000:]
    assert "guest kernel panicked during " in r.stderr
    assert "labs/health_demo/test_health_demo.py::test_panics: " in r.stderr, r.stderr
    guest = next(p for p in (tmp_path / "res" / "g").iterdir() if p.is_dir())
    recs = {json.loads(p.read_text())["name"]: json.loads(p.read_text())
            for p in guest.rglob("*.json") if p.name not in NOT_RECORDS}
    hung = recs["hung task provoked"]
    assert hung["verdict"] == "failed", hung
    assert {s["kind"] for s in hung["kernel_log"]["splats"]} == {"hung task"}
    assert "blocked for more than 1 seconds" in hung["kernel_log"]["splats"][0]["first_line"]
    panic = recs["kernel panic"]
    assert panic["test_id"].endswith("::test_panics") and panic["verdict"] == "failed"
    assert any(s["kind"] == "panic" for s in panic["kernel_log"]["splats"])
    # the same bug twice (other tasks, PIDs and stack addresses): one fingerprint; another
    # bug (the panic): another
    first, again = hung["kernel_log"]["splats"], recs["hung task provoked again"]["kernel_log"]["splats"]
    assert {s["text"] for s in first}.isdisjoint(s["text"] for s in again)
    assert {s["fingerprint"] for s in first} == {s["fingerprint"] for s in again}, \
        ([s["signature"] for s in first], [s["signature"] for s in again])
    assert any("pipe_write" in s["signature"] for s in first), [s["signature"] for s in first]
    crash = next(s for s in panic["kernel_log"]["splats"] if s["kind"] == "panic")
    assert crash["fingerprint"] not in {s["fingerprint"] for s in first}
    assert json.loads((guest / "vm.json").read_text())["running_test"].endswith("::test_panics")
