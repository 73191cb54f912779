import pytest

from harness.measure.counters import CounterWindow
from harness.measure.expect import error, expected_goodput, frame_bytes, tcp_payload


def test_htb_counts_whole_frames():
    # KERNEL-FACTS: 100 Mbit/s HTB on the ifb gave 95.64 Mbit/s of iperf3 goodput
    assert tcp_payload(1500) == 1448 and frame_bytes(1500) == 1514
    assert expected_goodput(100e6, 1500) == pytest.approx(95.64e6, rel=1e-4)


def test_ipv6_and_no_timestamps():
    assert tcp_payload(1500, ipv6=True) == 1428
    assert tcp_payload(1500, timestamps=False) == 1460


def test_counter_window_rate_and_error():
    w = CounterWindow(start_bytes=1000, end_bytes=1000 + 12_500_000 * 2, seconds=2.0, warmup=1)
    assert w.rate_bps == 100e6
    assert error(95e6, 100e6) == pytest.approx(-0.05)
