"""tun/tap devices in the run's namespaces.

The kernel does not create tun/tap devices through rtnetlink (``link add type tun`` is refused
with EOPNOTSUPP): a device is made by ``TUNSETIFF`` on /dev/net/tun, here done from a thread
inside the target namespace and made persistent with ``TUNSETPERSIST``.  Everything after that
(addresses, bridge port, up, and reading back the device's flags: ``IFLA_TUN_TYPE``,
``IFLA_TUN_VNET_HDR``, ``IFLA_TUN_PERSIST``...) goes through netlink.

A process "owns" a tap by opening it (``open_queue``): frames it writes enter the namespace as
if received from a wire; frames the namespace sends to the tap are read from it.  With
``vnet_hdr`` every frame carries a ``struct virtio_net_hdr`` in front, which is how a guest NIC
(virtio-net through vhost or QEMU) hands the host GSO packets larger than the MTU.
"""

from __future__ import annotations

import fcntl
import os
import struct

from . import netns

TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
IFLA_TUN_TYPE_TAP = 2

# struct virtio_net_hdr (legacy, native byte order): flags, gso_type, hdr_len, gso_size,
# csum_start, csum_offset
VNET_HDR = struct.Struct("=BBHHHH")
VIRTIO_NET_HDR_F_NEEDS_CSUM = 1
VIRTIO_NET_HDR_GSO_NONE = 0
VIRTIO_NET_HDR_GSO_TCPV4 = 1


def _ifreq(name: str, flags: int) -> bytes:
    return struct.pack("16sH", name.encode(), flags) + bytes(22)


def open_queue(ns, name: str, vnet_hdr: bool = False, create: bool = False) -> int:
    """Open tap ``name`` in namespace ``ns`` (creating it if ``create``); returns the fd."""
    flags = IFF_TAP | IFF_NO_PI | (IFF_VNET_HDR if vnet_hdr else 0)

    def _open():
        fd = os.open("/dev/net/tun", os.O_RDWR)
        try:
            fcntl.ioctl(fd, TUNSETIFF, _ifreq(name, flags))
        except OSError:
            os.close(fd)
            raise
        return fd

    return netns.run_in(ns.name, _open)


def create(ns, name: str):
    """A persistent tap ``name`` in ``ns`` (it goes with the namespace); returns its Link."""
    fd = open_queue(ns, name, create=True)
    try:
        fcntl.ioctl(fd, TUNSETPERSIST, 1)
    finally:
        os.close(fd)
    return ns.link(name)


def info(link) -> dict:
    """The tun attributes the kernel reports over netlink (IFLA_LINKINFO / IFLA_INFO_DATA)."""
    msg = link.ns.nl.get_links(link.index)[0]
    linkinfo = msg.get_attr("IFLA_LINKINFO")
    data = linkinfo.get_attr("IFLA_INFO_DATA") if linkinfo else None
    out = {"kind": linkinfo.get_attr("IFLA_INFO_KIND") if linkinfo else None}
    if data is not None:
        for key, value in data["attrs"]:
            out[key[len("IFLA_TUN_"):].lower()] = value
    return out


def vnet_header(gso_size: int = 0, hdr_len: int = 0, csum_start: int = 0,
                csum_offset: int = 0) -> bytes:
    """A virtio_net_hdr: TCPv4 GSO when ``gso_size`` is given, checksum left to the host."""
    return VNET_HDR.pack(VIRTIO_NET_HDR_F_NEEDS_CSUM if csum_start else 0,
                         VIRTIO_NET_HDR_GSO_TCPV4 if gso_size else VIRTIO_NET_HDR_GSO_NONE,
                         hdr_len, gso_size, csum_start, csum_offset)


def rtnetlink_create(ns, name: str) -> None:
    """Ask rtnetlink itself for a tun device (RTM_NEWLINK, kind "tun"), bypassing pyroute2,
    which would quietly do the ioctl instead.  The kernel answers EOPNOTSUPP."""
    from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST
    from pyroute2.netlink.rtnl import RTM_NEWLINK
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    m = ifinfmsg()
    m["attrs"] = [["IFLA_IFNAME", name], ["IFLA_LINKINFO", {"attrs": [["IFLA_INFO_KIND", "tun"]]}]]
    m["header"]["type"] = RTM_NEWLINK
    m["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    ns.nl.nlm_request_batch([m])
