import subprocess

import pytest

from harness.net.tc import TBF


def test_iperf3_and_netperf_agree_on_a_shaped_path(pair, iperf3, netperf):
    """Two independent generators over the same TBF-shaped veth report the same goodput, and
    each agrees with the receiver's own byte count (old: a figure compared with the formula
    that produced it, a test that could not fail)."""
    TBF("50mbit").apply(pair.a.link)
    results = {}
    for gen in (iperf3, netperf):
        before = pair.b.link.stats()["rx_bytes"]
        results[gen.name] = (gen.measure(pair.a, pair.b, seconds=4), pair.b.link.stats()["rx_bytes"] - before)
    (a, rx_a), (b, rx_b) = results["iperf3"], results["netperf"]
    assert a.goodput_bps == pytest.approx(b.goodput_bps, rel=0.03), (a.goodput_bps, b.goodput_bps)
    for r, rx in ((a, rx_a), (b, rx_b)):
        # payload delivered <= frames the receiver's link counted; headers are about 5 %
        assert 0.90 * rx <= r.received_bytes <= rx, (r.tool, r.received_bytes, rx)
    assert a.intervals_bps and len(a.intervals_bps) >= 3


def test_udp_through_iperf3_reports_datagrams(pair, iperf3):
    r = iperf3.measure(pair.a, pair.b, seconds=1, protocol="udp", bandwidth=50_000_000)
    assert r.protocol == "udp" and r.datagrams_sent > 1000
    assert 0 <= r.datagram_loss < 0.5


def test_tcp_transfer_reports_what_arrived(pair):
    from harness.traffic.tcp_probe import tcp_transfer

    t = tcp_transfer(pair.a, pair.b, nbytes=1 << 20, timeout=3)
    assert t.connected and t.complete and t.received == 1 << 20
    # a black hole for full-sized segments (the handshake's small packets still pass)
    rules = ("add table inet kl\nadd chain inet kl c { type filter hook input priority 0; }\n"
             "add rule inet kl c meta length > 1000 drop\n")
    nft = pair.b.ns.popen(["nft", "-f", "-"], stdin=subprocess.PIPE, text=True)
    nft.communicate(rules)
    pair.b.ns.run.forget_process(nft.pid)
    assert nft.returncode == 0
    t = tcp_transfer(pair.a, pair.b, nbytes=1 << 20, timeout=2, port=5298)
    assert t.connected and not t.complete and t.received < 1 << 20


def test_the_receivers_byte_counter_counts_what_the_socket_received(pair):
    """harness.net.diag.tcp_receiver (steady-state goodput is read from it) counts the payload
    a connection received, exactly, on its port and nowhere else, reading after reading."""
    import socket
    import threading

    from harness.core import netns
    from harness.net.diag import tcp_receiver

    port, nbytes = 5298, 3 << 20
    server = netns.run_in(pair.b.ns.name, socket.create_server, (pair.b.ip4, port))
    client = netns.run_in(pair.a.ns.name, socket.create_connection, (pair.b.ip4, port), 5)
    conn, _ = server.accept()
    try:
        with tcp_receiver(pair.b.ns.name) as received, tcp_receiver(pair.a.ns.name) as sender_side:
            assert received(port) == 0
            sender = threading.Thread(target=client.sendall, args=(b"k" * nbytes,))
            sender.start()
            got = 0
            conn.settimeout(5)
            while got < nbytes:
                got += len(conn.recv(1 << 20))
            sender.join()
            assert received(port) == nbytes
            assert received(port + 1) == 0
            assert sender_side() == 0  # the sender received nothing
    finally:
        for s in (client, conn, server):
            s.close()
