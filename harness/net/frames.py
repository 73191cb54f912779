"""Hand-made Ethernet / ARP / IPv4 / ICMP / TCP frames for processes that own a tap."""

from __future__ import annotations

import ipaddress
import struct

ETH_P_IP, ETH_P_ARP = 0x0800, 0x0806
IP_DF = 0x4000


def mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ethernet(dst: bytes, src: bytes, ethertype: int, payload: bytes) -> bytes:
    return dst + src + struct.pack("!H", ethertype) + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int = 0, df: bool = True,
         ttl: int = 64) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF,
                      IP_DF if df else 0, ttl, proto, 0, ipaddress.ip_address(src).packed,
                      ipaddress.ip_address(dst).packed)
    return hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:] + payload


def pseudo_header(src: str, dst: str, tcp_len: int) -> bytes:
    return (ipaddress.ip_address(src).packed + ipaddress.ip_address(dst).packed
            + struct.pack("!BBH", 0, 6, tcp_len))


def fold(data: bytes) -> int:
    """The one's-complement sum of ``data``, folded, not inverted (a partial checksum)."""
    return ~checksum(data) & 0xFFFF


def tcp_header(sport: int, dport: int, seq: int, csum: int = 0) -> bytes:
    """A 20-byte TCP header (ACK|PSH) with checksum field ``csum``."""
    return struct.pack("!HHIIBBHHH", sport, dport, seq, 1, 5 << 4, 0x18, 65535, csum, 0)


def tcp_segment(sport: int, dport: int, seq: int, src: str, dst: str, payload: bytes) -> bytes:
    """A complete TCP segment with its checksum."""
    hdr = tcp_header(sport, dport, seq)
    csum = checksum(pseudo_header(src, dst, 20 + len(payload)) + hdr + payload)
    return tcp_header(sport, dport, seq, csum) + payload


def parse(frame: bytes) -> dict:
    """The fields a tap owner needs: ethertype, ARP op/target, IPv4 proto/src/dst, ICMP type."""
    out = {"dst": frame[0:6], "src": frame[6:12], "type": struct.unpack("!H", frame[12:14])[0]}
    body = frame[14:]
    if out["type"] == ETH_P_ARP and len(body) >= 28:
        out.update(op=struct.unpack("!H", body[6:8])[0], sha=body[8:14], spa=body[14:18],
                   tpa=body[24:28])
    elif out["type"] == ETH_P_IP and len(body) >= 20:
        ihl = (body[0] & 0xF) * 4
        out.update(proto=body[9], ip_src=body[12:16], ip_dst=body[16:20], ihl=ihl,
                   frag=struct.unpack("!H", body[6:8])[0])
        if body[9] == 1 and len(body) >= ihl + 4:
            out.update(icmp_type=body[ihl], icmp_code=body[ihl + 1])
    return out
