"""Generator output parsed into TrafficResult (no traffic needed)."""

import pytest

from harness.core.errors import HarnessError
from harness.traffic import netperf as np_mod
from harness.traffic.iperf3 import parse as parse_iperf3


def test_netperf_omni_line_parses():
    line = "5049.50,10^6bits/s,2.00,1262501888,1262501888,77058,30012,4954,1448,16384"
    r = np_mod.parse(line, "TCP_STREAM")
    assert r.protocol == "tcp" and r.received_bytes == 1262501888
    assert r.goodput_bps == pytest.approx(1262501888 * 8 / 2.0)
    assert r.retransmits == 4954


def test_netperf_udp_loss_from_send_and_receive_calls():
    line = "2642.68,10^6bits/s,2.00,662218944,660695424,449877,448842,-1,-1,1472"
    r = np_mod.parse(line, "UDP_STREAM")
    assert r.datagrams_sent == 449877 and r.datagrams_lost == 449877 - 448842
    assert r.datagram_loss == pytest.approx(1035 / 449877)
    assert r.retransmits is None


def test_netperf_garbage_is_a_clear_error():
    with pytest.raises(HarnessError, match="unexpected netperf output"):
        np_mod.parse("netperf: send_omni: connection refused", "TCP_STREAM")


def test_a_libiperf_warning_ahead_of_the_json_is_kept_apart():
    from harness.traffic._iperf3_child import split_warning

    text = ("warning: UDP block size 1472 exceeds TCP MSS 1424, may result in fragmentation / "
            'drops\n{"start": {"version": "iperf 3.12"}}')
    data, warning = split_warning(text)
    assert data == '{"start": {"version": "iperf 3.12"}}'
    assert warning.startswith("warning: UDP block size 1472")
    assert split_warning('{"a": 1}') == ('{"a": 1}', None)


def _udp_end(sent_packets, recv_highest, recv_lost, recv_bytes):
    side = {"start": 0, "end": 2.0, "seconds": 2.0, "jitter_ms": 0, "lost_percent": 0}
    return {"end": {
        "sum": {**side, "bytes": sent_packets * 1472, "bits_per_second": 2e7,
                "packets": sent_packets, "lost_packets": 0, "sender": True},
        "sum_sent": {**side, "bytes": sent_packets * 1472, "bits_per_second": 2e7,
                     "packets": sent_packets, "lost_packets": 0, "sender": True},
        "sum_received": {**side, "bytes": recv_bytes, "bits_per_second": recv_bytes * 4,
                         "packets": recv_highest, "lost_packets": recv_lost, "sender": False}}}


def test_iperf3_udp_loss_counts_from_the_sender_when_nothing_arrived():
    """libiperf's receiver reports 0 lost when it got nothing (no sequence numbers seen): a
    black-holed path must read as 100 % loss, not 0 %."""
    r = parse_iperf3(_udp_end(3396, 0, 0, 0), "udp")
    assert r.datagram_loss == 1.0 and r.goodput_bps == 0.0
    r = parse_iperf3(_udp_end(1000, 950, 100, 850 * 1472), "udp")  # tail of 50 lost too
    assert r.datagrams_lost == 150 and r.received_bytes == 850 * 1472
    assert r.goodput_bps == pytest.approx(850 * 1472 * 8 / 2.0)

