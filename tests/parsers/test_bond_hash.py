"""bond_xmit_hash() recomputed (collectors/_bond_hash.py), checked against values worked out
by hand from drivers/net/bonding/bond_main.c (mainline v6.6+).  The arithmetic of each
case is written out so a reader can redo it without the code under test."""

from __future__ import annotations

import pytest

from collectors import _bond_hash as bh

V4 = {"src": "10.0.0.1", "dst": "10.0.0.2"}


def test_layer34_ipv4_little_endian():
    # ports (51000=0xC738, 3260=0x0CBC) as bytes C7 38 0C BC, read LE: 0xBC0C38C7
    # addresses 0A000001 / 0A000002 read LE: 0x0100000A ^ 0x0200000A = 0x03000000
    # h = 0xBF0C38C7; h ^= h>>16 -> 0xBF0C87CB; h ^= h>>8 -> 0xBFB38B4C; h >>= 1 -> 0x5FD9C5A6
    h = bh.xmit_hash("layer3+4", sport=51000, dport=3260, byteorder="little", **V4)
    assert h == 0x5FD9C5A6
    assert bh.member_index("layer3+4", 2, sport=51000, dport=3260, byteorder="little", **V4) == 0
    assert bh.member_index("layer3+4", 4, sport=51000, dport=3260, byteorder="little", **V4) == 2


def test_layer34_drops_lowest_bit_so_neighbouring_ports_can_share_a_member():
    # sport 51001: 0xBC0C39C7 -> ... 0xBFB38A4D >> 1 = 0x5FD9C526 (even, like 51000)
    assert bh.xmit_hash("layer3+4", sport=51001, dport=3260, byteorder="little", **V4) == 0x5FD9C526
    # sport 51002: 0xBC0C3AC7 -> 0xBF0C85CB -> 0xBFB3894E >> 1 = 0x5FD9C4A7 (odd: member 1 of 2)
    assert bh.xmit_hash("layer3+4", sport=51002, dport=3260, byteorder="little", **V4) == 0x5FD9C4A7
    assert bh.member_index("layer3+4", 2, sport=51002, dport=3260, byteorder="little", **V4) == 1


def test_layer34_big_endian_host():
    # ports word BE 0xC7380CBC ^ (0x0A000001 ^ 0x0A000002 = 3) = 0xC7380CBF
    # ^>>16 -> 0xC738CB87; ^>>8 -> 0xC7FFF34C; >>1 -> 0x63FFF9A6
    assert bh.xmit_hash("layer3+4", sport=51000, dport=3260, byteorder="big", **V4) == 0x63FFF9A6


def test_layer34_ipv6_folds_the_four_words():
    # fd00::1 words LE: 0x000000FD ^ 0 ^ 0 ^ 0x01000000; fd00::2: ... ^ 0x02000000
    # XOR of both = 0x03000000, the same as the IPv4 case above
    h = bh.xmit_hash("layer3+4", src="fd00::1", dst="fd00::2", sport=51000, dport=3260, byteorder="little")
    assert h == 0x5FD9C5A6


def test_layer2_uses_last_octets_and_ethertype():
    # 0x56 ^ 0xEF ^ 0x0800 = 0x8B9 = 2233; 2233 % 3 = 1
    flow = {"src_mac": "52:54:00:12:34:56", "dst_mac": "52:54:00:ab:cd:ef", **V4}
    assert bh.xmit_hash("layer2", byteorder="little", **flow) == 0x8B9
    assert bh.member_index("layer2", 3, byteorder="little", **flow) == 1
    # before v6.4 the EtherType entered as read LE: 0x0008; 0x56 ^ 0xEF ^ 0x08 = 0xB1 = 177, % 3 = 0
    assert bh.xmit_hash("layer2", legacy_proto=True, byteorder="little", **flow) == 0xB1
    assert bh.member_index("layer2", 3, legacy_proto=True, byteorder="little", **flow) == 0


def test_layer23_no_lowest_bit_discarded():
    # 0x8B9 ^ 0x03000000 = 0x030008B9; ^>>16 -> 0x03000BB9; ^>>8 (0x0003000B) -> 0x03030BB2
    flow = {"src_mac": "52:54:00:12:34:56", "dst_mac": "52:54:00:ab:cd:ef", **V4}
    assert bh.xmit_hash("layer2+3", byteorder="little", **flow) == 0x03030BB2
    assert bh.xmit_hash("encap2+3", byteorder="little", **flow) == 0x03030BB2
    assert bh.member_index("layer2+3", 4, byteorder="little", **flow) == 2


def test_vlan_srcmac():
    # 0x525400 ^ 0x123456 = 0x406056; ^ vlan 100 (0x64) = 0x406032; % 4 = 2
    flow = {"src_mac": "52:54:00:12:34:56", "vlan": 100, **V4}
    assert bh.xmit_hash("vlan+srcmac", **flow) == 0x406032
    assert bh.member_index("vlan+srcmac", 4, **flow) == 2


def test_unknowable_cases_give_none():
    assert bh.xmit_hash("encap3+4", sport=1, dport=2, **V4) is None  # socket's random skb->hash
    assert bh.xmit_hash("layer2", **V4) is None  # no MACs known (no neighbour entry)
    assert bh.member_index("layer3+4", 0, sport=1, dport=2, **V4) is None
    with pytest.raises(ValueError):
        bh.xmit_hash("layer5", **V4)
