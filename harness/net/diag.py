"""Socket statistics of a namespace, through sock_diag (pyroute2's netlink socket): what a
userspace switch's packet sockets dropped.

Open vSwitch's userspace datapath reads each port through an AF_PACKET socket; when the
daemon is too slow (an emulated CPU, say), the kernel drops frames at that socket and counts
them in the socket's ``drops`` (SK_MEMINFO_DROPS).  No link counter shows these: this is where
they become visible, so a lab can tell the machine's losses from the tunnel's.
"""

from __future__ import annotations

import errno
import socket
from contextlib import contextmanager

from pyroute2.netlink import NLM_F_DUMP, NLM_F_REQUEST, nla, nlmsg
from pyroute2.netlink.diag import AF_INET, AF_INET6, DiagSocket, MarshalDiag
from pyroute2.netlink.nlsocket import NetlinkSocket

from ..core import netns
from ..core.errors import HarnessError
from ..kernel.probes import NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY, sock_diag_error
from .rings import own_socket_inodes

PACKET_SHOW_MEMINFO = 0x10
INET_DIAG_INFO_EXT = 1 << (2 - 1)  # idiag_ext bit of INET_DIAG_INFO (2): tcp_info


class packet_diag_req(nlmsg):
    fields = (("sdiag_family", "B"), ("sdiag_protocol", "B"), ("pad", "H"), ("pdiag_ino", "I"),
              ("pdiag_show", "I"), ("cookie0", "I"), ("cookie1", "I"))


class packet_diag_msg(nlmsg):
    fields = (("pdiag_family", "B"), ("pdiag_type", "B"), ("pdiag_num", "H"), ("pdiag_ino", "I"),
              ("cookie0", "I"), ("cookie1", "I"))
    nla_map = ((0, "PACKET_DIAG_INFO", "hex"), (1, "PACKET_DIAG_MCLIST", "hex"),
               (2, "PACKET_DIAG_RX_RING", "hex"), (3, "PACKET_DIAG_TX_RING", "hex"),
               (4, "PACKET_DIAG_FANOUT", "hex"), (5, "PACKET_DIAG_UID", "hex"),
               (6, "PACKET_DIAG_MEMINFO", "meminfo"), (7, "PACKET_DIAG_FILTER", "hex"))

    class meminfo(nla):
        fields = tuple((n, "I") for n in ("rmem_alloc", "rcvbuf", "wmem_alloc", "sndbuf",
                                          "fwd_alloc", "wmem_queued", "optmem", "backlog",
                                          "drops"))


@contextmanager
def _sock_diag(namespace: str, family: int, protocol: int, what: str):
    """A sock_diag netlink socket made inside ``namespace`` (pyroute2 would open its own in the
    caller's), closed on exit.  Before it is handed out, the same socket checks that the kernel
    dumps ``family``/``protocol`` (a HarnessError with the kernel's answer, naming ``what``)."""
    sock = netns.run_in(namespace, socket.socket, socket.AF_NETLINK, socket.SOCK_DGRAM,
                        NETLINK_SOCK_DIAG)
    try:
        code = sock_diag_error(family, protocol, sock)
    except BaseException:
        sock.close()
        raise
    if code:
        sock.close()
        raise HarnessError(f"cannot read {what}: the kernel's sock_diag answered "
                           f"{errno.errorcode.get(code, code)} in namespace {namespace}")
    diag = NetlinkSocket(family=NETLINK_SOCK_DIAG, use_socket=sock)
    try:
        yield diag
    finally:
        diag.close()


def packet_socket_drops(namespace: str) -> int:
    """Frames the kernel dropped at the AF_PACKET sockets of ``namespace`` (all of them but
    the harness's own captures)."""
    with _sock_diag(namespace, socket.AF_PACKET, 0,
                    "packet sockets' drops (CONFIG_PACKET_DIAG)") as diag:
        diag.marshal.msg_map[SOCK_DIAG_BY_FAMILY] = packet_diag_msg
        req = packet_diag_req()
        req["sdiag_family"], req["pdiag_show"] = socket.AF_PACKET, PACKET_SHOW_MEMINFO
        total = 0
        captures = own_socket_inodes()  # kernel-lab's own tcpdumps are not the lab's sockets
        for msg in diag.nlm_request(req, msg_type=SOCK_DIAG_BY_FAMILY,
                                    msg_flags=NLM_F_REQUEST | NLM_F_DUMP):
            if msg["pdiag_ino"] in captures:
                continue
            mem = msg.get_attr("PACKET_DIAG_MEMINFO")
            total += mem["drops"] if mem else 0
        return total


#: bytes the flows must have received before readings keep to their address families
FAMILY_SETTLED = 1 << 20


@contextmanager
def _tcp_info_sums(namespace: str, what: str, values: dict, port_field: str):
    """{name: a callable} summing ``values[name](tcp_info)`` over the TCP sockets of
    ``namespace`` (those whose ``port_field``, idiag_sport or idiag_dport, is the port asked
    for, or all).  One dump serves every sum: a callable reads its sum from the last dump
    unless it already did, then it dumps afresh (a window reads them one after the other, so
    they come from the same instant)."""
    with _sock_diag(namespace, socket.AF_INET, socket.IPPROTO_TCP, what) as diag:
        diag.set_marshal(MarshalDiag())

        # once the flows carry data, later readings dump only the address families they are
        # in (a dump costs tens of ms in an emulated guest, and a window reads every 50 ms);
        # a family is kept for good only after its sockets counted FAMILY_SETTLED bytes, so a
        # listener or a control connection seen first cannot hide the data flow
        found: dict = {}
        unread: dict = {}  # port -> {name: sum} of the last dump not yet read

        def dump(port: int | None) -> dict:
            per_family = {}
            for family in found.get(port) or (AF_INET, AF_INET6):
                got = dict.fromkeys(values, 0)
                for msg in DiagSocket.get_sock_stats(diag, family=family,
                                                     extensions=INET_DIAG_INFO_EXT):
                    info = msg.get_attr("INET_DIAG_INFO")
                    if info and (port is None or msg[port_field] == port):
                        for name, value in values.items():
                            got[name] += value(info)
                per_family[family] = got
            first = next(iter(values))
            if port not in found and sum(g[first] for g in per_family.values()) >= FAMILY_SETTLED:
                found[port] = tuple(f for f, g in per_family.items() if g[first])
            return {name: sum(g[name] for g in per_family.values()) for name in values}

        def reader(name: str):
            def summed(port: int | None = None) -> int:
                if name not in unread.get(port, {}):
                    unread[port] = dump(port)
                return unread[port].pop(name)
            return summed

        yield {name: reader(name) for name in values}


@contextmanager
def tcp_receiver(namespace: str):
    """Payload bytes the TCP sockets of ``namespace`` have received in order, summed
    (tcp_info's tcpi_bytes_received, RFC 4898 tcpEStatsAppHCThruOctetsReceived, read through
    inet_diag): the receiver's goodput counter, readable at any instant while flows run.

        with tcp_receiver(ns.name) as received:
            received()          # all sockets
            received(5201)      # those on local port 5201

    One socket serves every reading (a counting window reads it every 50 ms).  A kernel that
    cannot answer (no inet_diag for TCP) fails here, before any flow starts, with its cause."""
    with _tcp_info_sums(namespace, "the receiver's TCP byte counter (CONFIG_INET_DIAG, "
                        "CONFIG_INET_TCP_DIAG)", {"received": lambda i: i["tcpi_bytes_received"]},
                        "idiag_sport") as sums:
        yield sums["received"]


@contextmanager
def tcp_senders(namespace: str):
    """What the TCP senders of ``namespace`` know their receivers got, summed, as two counters
    read from one dump (``delivered(5201)``: the sockets sending to port 5201):

        with tcp_senders(ns.name) as (delivered, duplicates):

    - ``delivered``: payload bytes that arrived, in order or not: the cumulative ACK plus what
      the receivers hold SACKed (tcpi_bytes_acked + tcpi_sacked x tcpi_snd_mss).  Unlike the
      receiver's in-order count it does not stall behind a hole and then release at once
      what arrived after it: it rises as unique bytes arrive.
    - ``duplicates``: bytes that arrived twice, as the receivers reported them (D-SACK,
      tcpi_dsack_dups x tcpi_snd_mss): segments TCP sent again that were not lost, e.g.
      after reordering on the way."""
    with _tcp_info_sums(
            namespace, "the senders' delivered bytes (CONFIG_INET_DIAG, CONFIG_INET_TCP_DIAG)",
            {"delivered": lambda i: i["tcpi_bytes_acked"] + i["tcpi_sacked"] * i["tcpi_snd_mss"],
             "duplicates": lambda i: i["tcpi_dsack_dups"] * i["tcpi_snd_mss"]},
            "idiag_dport") as sums:
        yield sums["delivered"], sums["duplicates"]


def tcp_sender_rtt(namespace: str) -> float | None:
    """The smoothed RTT (seconds, tcp_info's tcpi_rtt) of the TCP socket of ``namespace`` that
    has had the most bytes acknowledged: a bulk sender's view of the path, queueing included
    (a shaper's queue adds to it; a policer, which drops instead, does not).  None when no
    socket of the namespace carried data."""
    what = "TCP senders' RTT (CONFIG_INET_DIAG, CONFIG_INET_TCP_DIAG)"
    with _sock_diag(namespace, socket.AF_INET, socket.IPPROTO_TCP, what) as diag:
        diag.set_marshal(MarshalDiag())
        best = (0, None)
        for family in (AF_INET, AF_INET6):
            for msg in DiagSocket.get_sock_stats(diag, family=family,
                                                 extensions=INET_DIAG_INFO_EXT):
                info = msg.get_attr("INET_DIAG_INFO")
                if info and info["tcpi_bytes_acked"] > best[0]:
                    best = (info["tcpi_bytes_acked"], info["tcpi_rtt"] / 1e6)
        return best[1]
