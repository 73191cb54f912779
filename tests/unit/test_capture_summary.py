"""The capture summary reads pcap files as tcpdump writes them: packets per protocol, and IPv4
fragments, outer ones and those inside VXLAN and GRE."""

import struct

from harness.net.rings import summary


def ipv4(proto: int, payload: bytes, flags_off: int = 0) -> bytes:
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, flags_off, 64, proto, 0,
                       bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])) + payload


def eth(ethertype: int, payload: bytes) -> bytes:
    return b"\x02" * 6 + b"\x04" * 6 + struct.pack(">H", ethertype) + payload


def udp(dport: int, payload: bytes) -> bytes:
    return struct.pack(">HHHH", 40000, dport, 8 + len(payload), 0) + payload


def pcap(path, frames, t0=1000):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", t0 + i, 0, len(frame), len(frame)) + frame)


def test_fragments_outside_and_inside_tunnels_are_counted(tmp_path):
    inner_fragment = eth(0x0800, ipv4(17, b"x" * 40, flags_off=0x2000))
    frames = [
        eth(0x0800, ipv4(6, b"t" * 20)),                                 # TCP, whole
        eth(0x0800, ipv4(17, b"u" * 40, flags_off=0x2000)),               # UDP, first fragment
        eth(0x0800, ipv4(17, b"u" * 40, flags_off=185)),                  # UDP, a later fragment
        eth(0x0800, ipv4(17, udp(4789, b"\x08\0\0\0\0\0\x2a\0" + inner_fragment))),  # VXLAN
        eth(0x0800, ipv4(47, b"\0\0\x08\0" + ipv4(17, b"g" * 40, flags_off=0x2000))),  # GRE
        eth(0x0800, ipv4(47, b"\0\0\x65\x58" + eth(0x0800, ipv4(6, b"t" * 20)))),  # gretap, whole
        eth(0x0806, b"\0" * 28),
    ]
    pcap(tmp_path / "x.pcap0", frames[:4])
    pcap(tmp_path / "x.pcap1", frames[4:], t0=1004)
    s = summary([str(tmp_path / "x.pcap0"), str(tmp_path / "x.pcap1")])
    assert s["packets"] == 7 and s["seconds"] == 6.0
    assert s["protocols"] == {"UDP": 2, "GRE": 2, "TCP": 1, "VXLAN": 1, "ARP": 1}
    assert s["ipv4_fragments"] == 4  # two outer, one inside VXLAN, one inside GRE
