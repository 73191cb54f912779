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

from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST
from pyroute2.netlink.rtnl import RTM_NEWLINK
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from ..core import netns

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


def attach(name: str, vnet_hdr: bool = False) -> int:
    """Open tap ``name`` of the caller's network namespace (TUNSETIFF makes it if it does not
    exist yet); returns the fd.  ``vnet_hdr``: frames carry a virtio_net_hdr."""
    flags = IFF_TAP | IFF_NO_PI | (IFF_VNET_HDR if vnet_hdr else 0)
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), flags) + bytes(22))
    except OSError:
        os.close(fd)
        raise
    return fd


def open_queue(ns, name: str, vnet_hdr: bool = False) -> int:
    """Open tap ``name`` in namespace ``ns`` (from a thread inside it); returns the fd."""
    return netns.run_in(ns.name, attach, name, vnet_hdr)


def create(ns, name: str):
    """A persistent tap ``name`` in ``ns`` (it goes with the namespace); returns its Link."""
    fd = open_queue(ns, name)
    try:
        fcntl.ioctl(fd, TUNSETPERSIST, 1)
    finally:
        os.close(fd)
    ns.recipe.add("ip", "-n", ns.name, "tuntap", "add", "dev", name, "mode", "tap")
    return ns.link(name)


def info(link) -> dict:
    """The tun attributes the kernel reports over netlink, e.g. ``{"kind": "tun", "type": 2,
    "vnet_hdr": 0, "persist": 1, ...}``."""
    kind, data = link.info()
    return {"kind": kind, **{key[len("IFLA_TUN_"):].lower(): value for key, value in data.items()}}


def vnet_header(gso_size: int = 0, hdr_len: int = 0, csum_start: int = 0,
                csum_offset: int = 0) -> bytes:
    """A virtio_net_hdr: TCPv4 GSO when ``gso_size`` is given, checksum left to the host."""
    return VNET_HDR.pack(VIRTIO_NET_HDR_F_NEEDS_CSUM if csum_start else 0,
                         VIRTIO_NET_HDR_GSO_TCPV4 if gso_size else VIRTIO_NET_HDR_GSO_NONE,
                         hdr_len, gso_size, csum_start, csum_offset)


def rtnetlink_create(ns, name: str) -> None:
    """Ask rtnetlink itself for a tun device (RTM_NEWLINK, kind "tun"), bypassing pyroute2,
    which would quietly do the ioctl instead.  The kernel answers EOPNOTSUPP."""
    m = ifinfmsg()
    m["attrs"] = [["IFLA_IFNAME", name], ["IFLA_LINKINFO", {"attrs": [["IFLA_INFO_KIND", "tun"]]}]]
    m["header"]["type"] = RTM_NEWLINK
    m["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    ns.nl.nlm_request_batch([m])
