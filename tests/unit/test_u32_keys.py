"""u32 keys in a snapshot are read from the selector's bytes (pyroute2 0.9.7 decodes them 4
bytes early), and two spellings of one match compare equal byte by byte."""

import struct

from pyroute2.netlink.rtnl.tcmsg.cls_u32 import options as u32_options

from harness.net.recipe import key_bytes
from harness.net.snapshot import u32_keys


def selector(keys: list[tuple[int, int, int]], hmask: int = 0xDEADBEEF) -> bytes:
    """A TCA_U32_SEL attribute as the kernel sends it: header, tc_u32_sel, tc_u32_key[]."""
    body = struct.pack("=BBBxHHhh", 1, 0, len(keys), 0, 0, 0, 0) + struct.pack(">I", hmask)
    for value, mask, offset in keys:
        body += struct.pack(">II", mask, value) + struct.pack("=ii", offset, 0)
    return struct.pack("=HH", 4 + len(body), 5) + body


def decoded(raw: bytes):
    sel = u32_options.u32_sel(data=bytearray(raw), offset=0)
    sel.decode()
    return sel


def test_keys_come_from_the_selector_bytes_not_from_pyroute2s_early_decode():
    keys = [(0x00060000, 0x00FF0000, 8), (0x00001389, 0x0000FFFF, 20)]
    sel = decoded(selector(keys))
    assert u32_keys(sel) == [list(k) for k in keys]
    # what pyroute2 itself decodes is shifted by 4 bytes: this is why u32_keys exists
    assert [[k["key_val"], k["key_mask"], k["key_off"]] for k in sel["keys"]] != \
        [list(k) for k in keys]


def test_tc_and_pyroute2_spellings_of_one_match_are_the_same_bytes():
    by_tc = [[0x00060000, 0x00FF0000, 8], [0x00001389, 0x0000FFFF, 20]]
    by_pyroute2 = [[0x06000000, 0xFF000000, 9], [0x13890000, 0xFFFF0000, 22]]
    assert key_bytes(by_tc) == key_bytes(by_pyroute2) == \
        [[9, 0x06, 0xFF], [22, 0x13, 0xFF], [23, 0x89, 0xFF]]
    assert key_bytes([[0, 0, 0]]) == []
    assert key_bytes(by_tc) != key_bytes([[0x00110000, 0x00FF0000, 8]])
