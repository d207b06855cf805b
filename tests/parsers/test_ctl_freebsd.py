"""The FreeBSD ctl collector: ``ctladm islist -v`` (usr.sbin/ctladm/ctladm.c cctl_islist,
``%-25s %s`` lines and a blank line per session) and ``ctladm portlist -i -v``
(cctl_portlist; real FreeNAS capture in tests/captures/freebsd/)."""

from __future__ import annotations

import pytest
from builders.captures import capture
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.ctl_freebsd import CtlFreebsd, parse_islist, parse_portlist, session_members, to_groups
from exporter.api import Context, ParseError
from exporter.host import CommandNotFound, CommandResult, Host
from exporter.scrape import collect_families

TGT = "iqn.2005-10.org.freenas.ctl:tank-vm01"
ESX01 = "iqn.1998-01.com.vmware:esx01-4f2a1b3c"


def block(sid, initiator, addr, target, alias="") -> str:
    rows = [("Session ID:", sid), ("Initiator name:", initiator), ("Initiator portal:", addr), ("Initiator alias:", alias),
            ("Target name:", target), ("Target alias:", ""), ("Header digest:", "CRC32C"), ("Data digest:", "None"),
            ("MaxRecvDataSegmentLength:", 131072), ("MaxSendDataSegmentLength:", 131072), ("MaxBurstLen:", 1048576),
            ("FirstBurstLen:", 65536), ("ImmediateData:", "Yes"), ("iSER (RDMA):", "No"), ("Offload driver:", "None")]
    return "".join(f"{label:<25} {value}\n" for label, value in rows) + "\n"


def test_islist_blocks_keep_colons_in_iqns_and_empty_values():
    got = parse_islist(block(3, ESX01, "10.20.1.21", TGT, "esx01") + block(7, ESX01, "10.20.1.22", TGT))
    assert [(s.id, s.initiator, s.initiator_portal, s.initiator_alias, s.target, s.target_alias, s.header_digest) for s in got] == [
        (3, ESX01, "10.20.1.21", "esx01", TGT, "", "CRC32C"),
        (7, ESX01, "10.20.1.22", "", TGT, "", "CRC32C"),
    ]
    assert parse_islist("") == []


def test_islist_old_release_with_fewer_labels_and_no_trailing_blank_line():
    text = f"Session ID:               1\nInitiator name:           {ESX01}\nTarget name:              {TGT}\nSession ID:               2\nInitiator name:           {ESX01}\nTarget name:              {TGT}"
    got = parse_islist(text)
    assert [(s.id, s.initiator_portal) for s in got] == [(1, ""), (2, "")]


@pytest.mark.parametrize(
    "text",
    [
        "Session ID: x\nInitiator name: a\nTarget name: b\n",
        "Initiator name: a\nTarget name: b\n",  # no Session ID
        "Session ID: 1\nTarget name: b\n",
        "Session ID: 1\nInitiator name: a\nInitiator name: b\nTarget name: c\n",
        "garbage without a colon\n",
    ],
)
def test_islist_rejects(text):
    with pytest.raises(ParseError):
        parse_islist(text)


def test_member_names_split_one_initiators_sessions():
    sessions = parse_islist(block(9, ESX01, "10.20.1.21", TGT) + block(3, ESX01, "10.20.1.21", TGT) + block(4, "iqn.x:y", "10.20.1.31", TGT))
    assert [m for m, _ in session_members(sessions)] == [f"{ESX01}@10.20.1.21", f"{ESX01}@10.20.1.21#2", "iqn.x:y@10.20.1.31"]
    (g,) = to_groups(sessions)
    assert (g.kind, g.policy, g.balancing, len(g.members)) == ("iscsi_target", "ctl", "load", 3)


def test_real_freenas_portlist():
    ports = parse_portlist(capture("freebsd/freenas-ctladm-portlist.txt"))
    assert [(p.id, p.frontend, p.online) for p in ports] == [(3, "camtgt", True), (4, "camtgt", True), (5, "iscsi", True)]
    iscsi = ports[2]
    assert iscsi.target == "iqn.2005-10.org.freenas.ctl:default-mosquitto-iscsi-claim"
    assert (iscsi.portal_group, iscsi.tag) == ("pg1", "1")
    assert iscsi.initiators == ("iqn.1993-08.org.debian:01:e38f5e7da7d,i,0x00023d000004",)


@pytest.mark.parametrize("text", ["  Target: x\n", "5 MAYBE iscsi iscsi 1 1\n", "5 YES iscsi iscsi 1 1 x\n  what is this\n"])
def test_portlist_rejects(text):
    with pytest.raises(ParseError):
        parse_portlist(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_parsers_raise_only_parse_error(text):
    for parse in (parse_islist, parse_portlist):
        try:
            parse(text)
        except ParseError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["Session ID:               3", "Session ID: -1", f"Initiator name:           {ESX01}", "Target name: t", "Initiator portal: 10.0.0.1", "", "x", "5    YES    iscsi    iscsi    1  1  iqn.t,t,0x0001", "  Target: t", "      ctld_portal_group_name=pg1", "  Initiator 1: i,i,0x1"]), max_size=12))
def test_parsers_on_near_miss_lines(lines):
    for parse in (parse_islist, parse_portlist):
        try:
            parse("\n".join(lines))
        except ParseError:
            pass


class FakeHost(Host):
    platform = "freebsd"

    def __init__(self, results):
        self.results = results

    def run(self, tool, args, *, timeout):
        r = self.results.get((tool, *args))
        if r is None:
            raise CommandNotFound(tool)
        rc, out, err = r
        return CommandResult((tool, *args), rc, out, err)


def test_ctl_absent_is_success_without_series():
    host = FakeHost({("ctladm", "islist", "-v"): (1, "", "ctladm: error opening /dev/cam/ctl: No such file or directory\n")})
    assert list(collect_families(CtlFreebsd(host, Context("ctl", {})))) == []
    assert list(collect_families(CtlFreebsd(FakeHost({}), Context("ctl", {})))) == []


def test_permission_denied_fails_and_portlist_is_optional():
    host = FakeHost({("ctladm", "islist", "-v"): (1, "", "ctladm: error opening /dev/cam/ctl: Permission denied\n")})
    with pytest.raises(RuntimeError, match="Permission denied"):
        list(collect_families(CtlFreebsd(host, Context("ctl", {}))))
    host = FakeHost({("ctladm", "islist", "-v"): (0, block(3, ESX01, "10.20.1.21", TGT), ""), ("ctladm", "portlist", "-i", "-v"): (1, "", "boom\n")})
    fams = {f.name: f for f in collect_families(CtlFreebsd(host, Context("ctl", {})))}
    assert dict(fams["lanes_ctl_initiator_sessions"].samples) == {(TGT, ESX01): 1}
    assert fams["lanes_ctl_port_info"].samples == []


def _stat(num, read, written, extra=""):
    io = ",".join(f'{{"type":"{t}","bytes":{b},"operations":1,"dmas":1,"io time":0.000100,"dma time":0.000000{extra}}}' for t, b in (("NO IO", 0), ("READ", read), ("WRITE", written)))
    return f'{{"num":{num},"io":[{io}]}}'


def test_ctlstat_json_per_port():
    from collectors.ctl_freebsd import PortIo, parse_ctlstat_json

    text = '{"ports":[' + _stat(5, 48518123520000, 21912345600000) + "," + _stat(6, 0, 0) + "]}\n"
    assert parse_ctlstat_json(text) == {5: PortIo(48518123520000, 21912345600000), 6: PortIo(0, 0)}


@pytest.mark.parametrize(
    "text",
    [
        '{"luns":[]}',  # per-LUN output: -t missing
        '{"ports":[{"num":"5","io":[]}]}',
        '{"ports":[{"num":5,"io":[{"type":"READ","bytes":-1}]}]}',
        '{"ports":[{"num":5,"io":[{"type":"READ","bytes":1}]}]}',  # no WRITE
        '{"ports":[' + _stat(5, 1 << 64, 0) + "]}",
        "ctlstat: cannot open /dev/cam/ctl",
    ],
)
def test_ctlstat_rejects(text):
    from collectors.ctl_freebsd import parse_ctlstat_json

    with pytest.raises(ParseError):
        parse_ctlstat_json(text)


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6), lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(["ports", "num", "io", "type", "bytes", "READ"]), c, max_size=4), max_leaves=12))
def test_ctlstat_on_odd_json(doc):
    import json

    from collectors.ctl_freebsd import parse_ctlstat_json

    try:
        parse_ctlstat_json(json.dumps(doc))
    except ParseError:
        pass


def test_expected_target_without_sessions_is_a_group_with_every_member_down():
    class Config:
        expect = {"iscsi_target": {"iqn.x:idle": 2}}

    gs = {g.name: g for g in to_groups(parse_islist(block(3, ESX01, "10.20.1.21", TGT)), Config(), [TGT, "iqn.x:idle", "iqn.x:other"])}
    assert (len(gs["iqn.x:idle"].members), gs["iqn.x:idle"].expected) == (0, 2)
    assert gs["iqn.x:other"].expected == 0  # the collector drops these: not a set of paths
