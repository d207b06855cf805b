"""Parsers of the flows collector: the sock_diag rendering, raw sock_diag messages, route
answers (ip route get), /proc/net/arp and /proc/self/mountstats."""

from __future__ import annotations

import os
import socket
import struct
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors._flows import STORAGE_PORTS, Sock, busiest, protocol_of, reachable
from collectors.flows_linux import parse_arp, parse_mountstats, parse_route, parse_sockets
from exporter import sockdiag
from exporter.api import ParseError

CAPTURES = os.path.join(os.path.dirname(__file__), "..", "captures")


def test_sockets_ipv4_ipv6_and_bound_device():
    text = (
        "# sock_diag tcp established\n"
        "10.0.0.1:3260 10.0.0.22:40000 dev=- bytes_acked=1001 bytes_received=20\n"
        "[fd00::1]:51000 [fd00::2]:4420 dev=eth1 bytes_acked=0 bytes_received=18446744073709551615\n"
    )
    a, b = parse_sockets(text)
    assert (a.local_addr, a.local_port, a.remote_addr, a.remote_port, a.dev) == ("10.0.0.1", 3260, "10.0.0.22", 40000, "")
    assert (b.remote, b.dev, b.bytes_received) == ("[fd00::2]:4420", "eth1", 2**64 - 1)
    assert protocol_of(a, STORAGE_PORTS) == "iscsi" and protocol_of(b, STORAGE_PORTS) == "nvme-tcp"


@pytest.mark.parametrize(
    "line, why",
    [
        ("10.0.0.1:3260 10.0.0.2:1 dev=-", "expected LOCAL REMOTE"),
        ("10.0.0.1:3260 10.0.0.2:1 dev=- bytes_acked=x bytes_received=1", "whole numbers"),
        ("10.0.0.1:3260 10.0.0.2:1 dev=- bytes_acked=-1 bytes_received=1", "outside"),
        ("10.0.0.1:3260 nohost:1 dev=- bytes_acked=1 bytes_received=1", "not an address"),
        ("10.0.0.1:70000 10.0.0.2:1 dev=- bytes_acked=1 bytes_received=1", "out of range"),
        ("10.0.0.1:3260 10.0.0.2:1 dev=- bytes_acked=1 rtt=3", "missing bytes_received"),
    ],
)
def test_bad_socket_lines_name_the_line(line, why):
    with pytest.raises(ParseError, match=why) as e:
        parse_sockets("# header\n" + line + "\n")
    assert e.value.line == 2


def _msg(sport: int, dport: int, payload: bytes = b"", src: bytes = bytes(16), dst: bytes = bytes(16), ifindex: int = 0) -> bytes:
    # struct inet_diag_msg: family, state, timer, retrans; sport, dport; src[16], dst[16];
    # if; cookie[2]; expires, rqueue, wqueue, uid, inode (include/uapi/linux/inet_diag.h)
    body = struct.pack("=BBBB", 2, 1, 0, 0) + struct.pack(">HH", sport, dport) + src + dst + struct.pack("=I", ifindex) + bytes(8) + bytes(20) + payload
    return struct.pack("=IHHII", 16 + len(body), 20, 2, 1, 0) + body


def _tcp_info(acked: int, received: int, size: int = 232) -> bytes:
    # struct tcp_info: bytes_acked at byte 120, bytes_received at 128 (include/uapi/linux/tcp.h)
    info = bytearray(size)
    if size >= 136:
        struct.pack_into("=QQ", info, 120, acked, received)
    return struct.pack("=HH", 4 + size, 2) + bytes(info)


def test_diag_message_decoded_by_hand():
    raw = _msg(51000, 3260, _tcp_info(2**40 + 5, 7), src=bytes([10, 0, 0, 1]) + bytes(12), dst=bytes([10, 0, 0, 2]) + bytes(12), ifindex=3)
    assert sockdiag.decode([raw], frozenset({3260})) == [("10.0.0.1", 51000, "10.0.0.2", 3260, 3, 2**40 + 5, 7)]
    with pytest.raises(ValueError, match="needs Linux 4.1"):
        sockdiag.decode([_msg(51000, 3260, _tcp_info(1, 1, size=104))], frozenset({3260}))
    with pytest.raises(ValueError, match="cut short"):
        sockdiag.decode([_msg(51000, 3260, _tcp_info(1, 1))[:-40]], frozenset({3260}))
    with pytest.raises(ValueError, match="shorter than its 88-byte header"):
        sockdiag.decode([raw[:60]], frozenset({3260}))


def test_truncated_diag_message_is_an_error_not_a_missing_flow():
    data = _msg(3260, 40000) + _msg(3260, 40001)
    msgs, done = sockdiag.split_messages(data)
    assert len(msgs) == 2 and not done
    with pytest.raises(ValueError, match="truncated message at byte 88"):
        sockdiag.split_messages(data[:-10])
    with pytest.raises(ValueError, match="truncated netlink header"):
        sockdiag.split_messages(data[:95])
    done_msg = struct.pack("=IHHIIi", 20, 3, 2, 1, 0, 0)
    assert sockdiag.split_messages(done_msg) == ([], True)


def test_diag_message_without_tcp_info_is_an_error():
    with pytest.raises(ValueError, match="no INET_DIAG_INFO"):
        sockdiag.decode([_msg(3260, 40000)], frozenset({3260}))
    assert sockdiag.decode([_msg(22, 40000)], frozenset({3260})) == []  # other ports: not decoded


def test_route_answers():
    # iproute2's own output (ip route get), with policy routing picking a source-specific table
    assert parse_route("10.0.0.21 from 10.0.0.1 dev bond0 table 100 uid 0 \n    cache \n").dev == "bond0"
    r = parse_route("192.168.7.9 from 10.0.0.1 via 10.0.0.254 dev ens1f0 uid 0 \n    cache \n")
    assert (r.dev, r.via) == ("ens1f0", "10.0.0.254")
    assert parse_route("unreachable 10.9.9.9 from 10.0.0.1 table 100\n").dev == ""
    with pytest.raises(ParseError, match="no 'dev'"):
        parse_route("10.0.0.21 from 10.0.0.1 uid 0\n")


def test_arp_complete_entries_only():
    text = (
        "IP address       HW type     Flags       HW address            Mask     Device\n"
        "10.0.0.22        0x1         0x2         52:54:00:AB:CD:EF     *        bond0\n"
        "10.0.0.23        0x1         0x0         00:00:00:00:00:00     *        bond0\n"
    )
    assert parse_arp(text) == {"10.0.0.22": "52:54:00:ab:cd:ef"}


def test_mountstats_real_capture():
    from builders.captures import capture

    (m,) = parse_mountstats(capture("mountstats/procfs-rs-nfs4-krb5.txt"))
    assert (m.device, m.mountpoint, m.fstype, m.server, m.nconnect) == ("elwe:/space", "/srv/elwe/space", "nfs4", "elwe", None)
    assert [(t.proto, t.srcport) for t in m.transports] == [("tcp", 909)]


NCONNECT = """device 10.0.0.50:/tank mounted on /mnt/tank with fstype nfs4 statvers=1.1
\topts:\trw,vers=4.2,rsize=1048576,wsize=1048576,hard,nconnect=2,proto=tcp,timeo=600,clientaddr=10.0.0.1
\txprt:\ttcp 874 1 1 0 0 10 10 0 10 0 2 0 0
\txprt:\ttcp 875 1 1 0 0 10 10 0 10 0 2 0 0
\tper-op statistics
device /dev/sda1 mounted on / with fstype ext4
"""


def test_mountstats_nconnect_transports():
    (m,) = parse_mountstats(NCONNECT)
    assert m.nconnect == 2 and [t.srcport for t in m.transports] == [874, 875]


def test_mountstats_from_a_newer_kernel_fails_clearly():
    with pytest.raises(ParseError, match=r"statvers=1\.2 .*newer kernel") as e:
        parse_mountstats(NCONNECT.replace("statvers=1.1", "statvers=1.2"))
    assert e.value.line == 1
    with pytest.raises(ParseError, match="xprt tcp with 14 fields .*newer kernel"):
        parse_mountstats(NCONNECT.replace("10 0 2 0 0\n\txprt", "10 0 2 0 0 7\n\txprt", 1))
    with pytest.raises(ParseError, match="unknown transport 'quic'"):
        parse_mountstats(NCONNECT.replace("tcp 875", "quic 875"))


def _s(local, remote, tx, rx):
    return Sock(local, remote, "", tx, rx)


def test_max_flows_keeps_the_busiest():
    socks = [("iscsi", _s("10.0.0.1:3260", f"10.0.0.2:{40000 + i}", i * 10, 0)) for i in range(5)]
    kept, dropped = busiest(socks, 2)
    assert [s.remote for _, s in kept] == ["10.0.0.2:40004", "10.0.0.2:40003"] and dropped == 3


def test_reachable_speed():
    up = {"a": 1_250_000_000, "b": 1_250_000_000, "c": 1_250_000_000}
    assert reachable(up, ["a", "a"], 2) == 1_250_000_000  # both flows hashed onto one lane
    assert reachable(up, ["a", "b"], 2) == 2_500_000_000
    assert reachable(up, ["", ""], 2) == 2_500_000_000  # members unknown: min(flows, up)
    assert reachable(up, [""], 1) == 1_250_000_000


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("device mounted on with fstype nfs4 statvers=1.1 xprt: tcp 0123456789\n\t/:")), max_size=300))
def test_mountstats_raises_only_parse_error(text):
    try:
        parse_mountstats(text)
    except ParseError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_sockets_raise_only_parse_error(text):
    try:
        parse_sockets(text)
    except ParseError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_route_and_arp_raise_only_parse_error(text):
    for parse in (parse_route, parse_arp):
        try:
            parse(text)
        except ParseError:
            pass


def _nl(mtype: int, seq: int, body: bytes) -> bytes:
    return struct.pack("=IHHII", 16 + len(body), mtype, 0, seq, 0) + body + bytes(-len(body) % 4)


def test_route_lookup_without_a_route_is_no_nic_not_a_failure():
    from collectors.flows_linux import parse_route as pr

    # rtnetlink answers a failed RTM_GETROUTE with NLMSG_ERROR carrying -errno (netlink(7))
    reply = _nl(sockdiag.NLMSG_ERROR, 5, struct.pack("=i", -101) + sockdiag.route_request("fe80::2", "fe80::1", 5))
    text = sockdiag.route_reply(reply, "fe80::2", "fe80::1", 5, lambda i: "")
    assert text == "unreachable fe80::2 from fe80::1 error ENETUNREACH\n"
    assert pr(text).dev == ""


def test_route_reply_names_gateway_and_nic_and_skips_a_late_answer():
    rt = lambda fam, attrs: struct.pack("=BBBBBBBBI", fam, 32, 32, 0, 254, 2, 0, 1, 0) + b"".join(attrs)  # noqa: E731
    a = sockdiag._attr
    late = _nl(sockdiag.RTM_NEWROUTE, 3, rt(socket.AF_INET, [a(sockdiag.RTA_OIF, struct.pack("=I", 9))]))
    ours = _nl(sockdiag.RTM_NEWROUTE, 4, rt(socket.AF_INET, [a(sockdiag.RTA_DST, socket.inet_aton("10.0.9.20")), a(sockdiag.RTA_GATEWAY, socket.inet_aton("10.0.0.1")), a(sockdiag.RTA_OIF, struct.pack("=I", 3))]))
    names = {3: "ens1f0"}.get
    assert sockdiag.route_reply(late, "10.0.9.20", "10.0.0.11", 4, names) is None
    assert sockdiag.route_reply(late + ours, "10.0.9.20", "10.0.0.11", 4, names) == "10.0.9.20 from 10.0.0.11 via 10.0.0.1 dev ens1f0\n"
    assert sockdiag.route_reply(ours, "10.0.9.20", "10.0.0.11", 4, lambda i: "") == "10.0.9.20 from 10.0.0.11 via 10.0.0.1 dev if3\n"
    with pytest.raises(ValueError, match="truncated message"):
        sockdiag.route_reply(ours[:-4], "10.0.9.20", "10.0.0.11", 4, names)
    with pytest.raises(ValueError, match="not two addresses"):
        sockdiag.route_request("10.0.0.1", "fe80::1", 1)


def test_requests_equal_pyroute2s_encoding():
    """The two requests lanes builds by hand (importing pyroute2 costs 15 MB of RSS) are the
    bytes pyroute2 encodes for the same request."""
    pytest.importorskip("pyroute2")
    from pyroute2.netlink import NLM_F_DUMP, NLM_F_REQUEST
    from pyroute2.netlink.diag import inet_diag_req
    from pyroute2.netlink.rtnl.rtmsg import rtmsg

    for family in (socket.AF_INET, socket.AF_INET6):
        req = inet_diag_req()
        req["header"]["type"] = sockdiag.SOCK_DIAG_BY_FAMILY
        req["header"]["flags"] = NLM_F_REQUEST | NLM_F_DUMP
        req["header"]["sequence_number"] = 7
        req["sdiag_family"] = family
        req["sdiag_protocol"] = socket.IPPROTO_TCP
        req["idiag_ext"] = 1 << (sockdiag.INET_DIAG_INFO - 1)
        req["idiag_states"] = 1 << sockdiag.TCP_ESTABLISHED
        req.encode()
        assert sockdiag.diag_request(family, 7) == bytes(req.data)
    for family, dst, src, bits in ((socket.AF_INET, "10.0.0.20", "10.0.0.11", 32), (socket.AF_INET6, "fd00::20", "fd00::11", 128)):
        m = rtmsg()
        m["header"]["type"] = sockdiag.RTM_GETROUTE
        m["header"]["flags"] = NLM_F_REQUEST
        m["header"]["sequence_number"] = 9
        m["family"], m["dst_len"], m["src_len"] = family, bits, bits
        m["attrs"] = [("RTA_DST", dst), ("RTA_SRC", src)]
        m.encode()
        assert sockdiag.route_request(dst, src, 9) == bytes(m.data)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="rtnetlink is Linux")
def test_route_lookup_asks_the_kernel():
    """The kernel's own answer for loopback (no privilege needed)."""
    live = sockdiag.Live()
    try:
        assert live.route_get("127.0.0.1", "127.0.0.1") == "127.0.0.1 from 127.0.0.1 dev lo\n"
    finally:
        live.close()


def test_vlan_config():
    from collectors.flows_linux import parse_vlan_config

    # net/8021q/vlanproc.c: vlan_seq_show header, then "%-15s| %d  | %s"
    text = "VLAN Dev name\t | VLAN ID\nName-Type: VLAN_NAME_TYPE_RAW_PLUS_VID_NO_PAD\nbond0.100      | 100  | bond0\n"
    assert parse_vlan_config(text) == {"bond0.100": 100}
    with pytest.raises(ParseError):
        parse_vlan_config(text + "bond0.x | x | bond0\n")


def test_ipv4_peer_of_an_ipv6_socket_is_named_as_ipv4():
    # a target listening on [::]:3260 sees IPv4 initiators as ::ffff:a.b.c.d (AF_INET6 message)
    mapped = lambda a: bytes(10) + b"\xff\xff" + bytes(a)  # noqa: E731
    body = struct.pack("=BBBB", 10, 1, 0, 0) + struct.pack(">HH", 3260, 40000) + mapped([10, 0, 0, 1]) + mapped([10, 0, 0, 21]) + bytes(4 + 8 + 20) + _tcp_info(1, 2)
    raw = struct.pack("=IHHII", 16 + len(body), 20, 2, 1, 0) + body
    assert sockdiag.decode([raw], frozenset({3260})) == [("10.0.0.1", 3260, "10.0.0.21", 40000, 0, 1, 2)]
