"""Parsers of the FreeBSD link collector, by table: ``ifconfig`` (collectors/_ifconfig.py) and
``netstat -i -b -n --libxo json``, on the public captures of tests/captures/freebsd/ and on
text printed the way sbin/ifconfig and usr.bin/netstat/if.c print it."""

from __future__ import annotations

import json

import pytest
from builders.captures import capture
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors._freebsd import IfCounters, build_links, parse_netstat_json
from collectors._ifconfig import media_duplex, media_speed_bytes, parse_ifconfig
from exporter.api import ParseError


def test_handbook_bge0_media_and_state():
    got = parse_ifconfig(capture("freebsd/handbook-bge0.ifconfig"))["bge0"]
    assert got.flags == 0x8843 and got.admin_up and got.mtu == 1500
    assert got.mac == "00:21:70:da:ae:37"
    assert (got.media, got.active_media, got.status) == ("autoselect", "1000baseT <full-duplex>", "active")
    assert media_speed_bytes(got.active_media) == 125_000_000 and media_duplex(got.active_media) == "full"
    assert got.lagg is None


def test_jc_fixture_fixed_100g_media():
    got = parse_ifconfig(capture("freebsd/jc-mce0-100g.ifconfig"))["mce0"]
    # fixed media, no "(active)": the configured word is the active one
    assert got.active_media == "100GBase-SR4 <full-duplex,rxpause,txpause>"
    assert media_speed_bytes(got.active_media) == 12_500_000_000


def test_handbook_lacp_lagg_without_hash():
    got = parse_ifconfig(capture("freebsd/handbook-lagg-lacp.ifconfig"))["lagg0"]
    assert got.lagg.proto == "lacp" and got.lagg.hash == ""
    assert [(p.name, p.flags) for p in got.lagg.ports] == [("fxp1", 0x1C), ("fxp0", 0x1C)]
    assert all(p.flag("ACTIVE") and p.flag("COLLECTING") and p.flag("DISTRIBUTING") for p in got.lagg.ports)
    assert got.lagg.ports[0].actor_state is None  # no -v


def test_angle_brackets_lost_in_a_published_copy_still_parse():
    got = parse_ifconfig(capture("freebsd/vermaden-lagg-lacp-html-stripped.ifconfig"))["lagg0"]
    assert got.flags == 0x8843 and got.mtu == 1500 and got.groups == ("lagg",)
    assert got.lagg.hash == "l2,l3,l4"
    assert [(p.name, p.flags) for p in got.lagg.ports] == [("ixl0", 0x1C), ("ixl1", 0x1C)]


@pytest.mark.parametrize(
    "word,speed",
    [
        ("10Gbase-SR <full-duplex,rxpause,txpause>", 1_250_000_000),
        ("25GBase-CR <full-duplex>", 3_125_000_000),
        ("2500Base-T <full-duplex>", 312_500_000),
        ("100baseTX <half-duplex>", 12_500_000),
        ("10baseT/UTP", 1_250_000),
        ("autoselect", None),
        ("none", None),
        ("", None),
    ],
)
def test_media_speed(word, speed):
    assert media_speed_bytes(word) == speed


TWO = (
    "ix0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 9000\n"
    "\tether 3c:fd:fe:a1:b2:10\n\thwaddr 3c:fd:fe:a1:b2:11\n"
    "\tmedia: Ethernet autoselect (10Gbase-SR <full-duplex>)\n\tstatus: active\n"
    "ix1: flags=8802<BROADCAST,SIMPLEX,MULTICAST> metric 0 mtu 1500\n"
    "\tether 3c:fd:fe:a1:b2:12\n\tmedia: Ethernet autoselect\n\tstatus: no carrier\n"
)


def test_two_interfaces_and_link_table():
    got = parse_ifconfig(TWO)
    assert got["ix0"].mac == "3c:fd:fe:a1:b2:10"  # ether, not the factory hwaddr
    assert not got["ix1"].admin_up and got["ix1"].status == "no carrier"
    counters = {"ix0": IfCounters(9000, 10, 0, 1, 1000, 20, 0, 2000)}
    links = build_links(got, counters)
    assert links["ix0"].up and links["ix0"].speed_bytes == 1_250_000_000 and links["ix0"].rx_bytes == 1000
    assert links["ix0"].driver == "ix" and links["ix0"].kind == "device"
    assert not links["ix1"].up and links["ix1"].speed_bytes is None and links["ix1"].rx_bytes is None


@pytest.mark.parametrize(
    "text",
    [
        "\tether 00:11:22:33:44:55\n",  # property before any header
        "ix0 flags=8843 metric 0 mtu 1500\n",  # no colon after the name
        "ix0: flags=8843 metric 0 mtu 1500\n\tether 00:11:22:33:44\n",  # short MAC
        "ix0: flags=zz metric 0 mtu 1500\n",
        "ix0: flags=8843 mtu 1500\nix0: flags=8843 mtu 1500\n",  # twice
        "lagg0: flags=8843 mtu 1500\n\tlaggproto lacp\n\tlaggport: ix0\n",  # no flags=
        "lagg0: flags=8843 mtu 1500\n\tlaggproto lacp\n\tlaggport: ix0 flags=1c<> weight=3\n",
        "lagg0: flags=8843 mtu 1500\n\tlaggproto lacp\n\tlaggport: ix0 flags=1c state=3d\n\t\t[(8000,00-11-22-33-44-55,0111,8000,0001),\n",  # unclosed
        "lagg0: flags=8843 mtu 1500\n\tlaggproto lacp\n\tlaggport: ix0 flags=1c state=3d\n\t\t[(8000,00-11-22-33-44,0111,8000,0001),(0,0,0,0,0)]\n",
    ],
)
def test_ifconfig_rejects(text):
    with pytest.raises(ParseError):
        parse_ifconfig(text)


def _netstat(*entries) -> str:
    return json.dumps({"statistics": {"interface": list(entries)}})


LINK = {"name": "ix0", "flags": "0x8843", "mtu": 9000, "network": "<Link#1>", "address": "3c:fd:fe:a1:b2:10",
        "received-packets": 8123456789, "received-errors": 0, "dropped-packets": 2, "received-bytes": 61234567890123,
        "sent-packets": 7012345678, "send-errors": 1, "sent-bytes": 48765432101234, "collisions": 0}
INET = {"name": "ix0", "flags": "0x8843", "mtu": 9000, "network": "10.20.1.0/24", "address": "10.20.1.10",
        "received-packets": 5, "received-bytes": 500, "sent-packets": 6, "sent-bytes": 600}


def test_netstat_link_entry_wins_and_counts_are_64_bit():
    got = parse_netstat_json(_netstat(LINK, INET))
    assert got == {"ix0": IfCounters(9000, 8123456789, 0, 2, 61234567890123, 7012345678, 1, 48765432101234)}
    assert parse_netstat_json(_netstat()) == {}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        json.dumps({"statistics": {"interface": {}}}),
        _netstat({**LINK, "received-bytes": -1}),
        _netstat({**LINK, "sent-bytes": 1 << 64}),
        _netstat({**LINK, "sent-bytes": "12"}),
        _netstat({**LINK, "received-errors": True}),
        _netstat({**LINK, "name": ""}),
        _netstat("ix0"),
    ],
)
def test_netstat_rejects(text):
    with pytest.raises(ParseError):
        parse_netstat_json(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_parsers_raise_only_parse_error(text):
    for parse in (parse_ifconfig, parse_netstat_json):
        try:
            parse(text)
        except ParseError:
            pass


LINES = [
    "ix0: flags=8843<UP> metric 0 mtu 9000",
    "lagg0: flags=8843 mtu 1500",
    "\tether 3c:fd:fe:a1:b2:10",
    "\tmedia: Ethernet autoselect (10Gbase-SR <full-duplex>)",
    "\tmedia: Ethernet",
    "\tstatus: active",
    "\tlaggproto lacp lagghash l2,l3,l4",
    "\tlaggproto",
    "\tlaggport: ix0 flags=1c<ACTIVE,COLLECTING,DISTRIBUTING> state=3d<ACTIVITY>",
    "\tlaggport: ix0 flags=",
    "\t\t[(8000,3C-FD-FE-A1-B2-10,0111,8000,0001),",
    "\t\t (8000,00-1C-73-5E-10-01,0022,8000,0105)]",
    "\tlag id: [(8000,3C-FD-FE-A1-B2-10,0111,0000,0000),",
    "\tlagg statistics:",
    "\t\tactive ports: x",
    "\t\tflapping: 99999999999999999999999",
    "\tlagg options:",
    "\t\tflags=zz",
    "",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(LINES), max_size=14))
def test_ifconfig_on_near_miss_lines(lines):
    try:
        parse_ifconfig("\n".join(lines))
    except ParseError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8), lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(["statistics", "interface", "name", "network", "received-bytes", "mtu"]), c, max_size=4), max_leaves=12))
def test_netstat_on_odd_json(doc):
    try:
        parse_netstat_json(json.dumps(doc))
    except ParseError:
        pass


def test_addresses_and_the_interface_a_peer_is_reached_by():
    from collectors._ifconfig import interface_for

    text = (
        "lagg0: flags=8843 metric 0 mtu 9000\n\tinet 10.20.1.10 netmask 0xffffff00 broadcast 10.20.1.255\n"
        "\tinet6 fe80::1%lagg0 prefixlen 64 scopeid 0x5\n\tinet6 fd00:20::10 prefixlen 64\n"
        "vlan20: flags=8843 metric 0 mtu 9000\n\tinet 10.20.1.130 netmask 0xffffff80 broadcast 10.20.1.255\n"
        "lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> metric 0 mtu 16384\n\tinet 127.0.0.1 netmask 0xff000000\n"
    )
    ifs = parse_ifconfig(text)
    assert ifs["lagg0"].addresses == ("10.20.1.10/24", "fe80::1/64", "fd00:20::10/64")
    assert interface_for("10.20.1.21", ifs.values()) == "lagg0"
    assert interface_for("10.20.1.200", ifs.values()) == "vlan20"  # longest prefix
    assert interface_for("fd00:20::99", ifs.values()) == "lagg0"
    assert interface_for("fe80::99", ifs.values()) == ""  # link-local: ambiguous
    assert interface_for("127.0.0.1", ifs.values()) == ""
    assert interface_for("192.0.2.1", ifs.values()) == "" and interface_for("nas01", ifs.values()) == ""
    with pytest.raises(ParseError):
        parse_ifconfig("em0: flags=8843 mtu 1500\n\tinet 10.0.0.1 netmask 0xzz\n")
