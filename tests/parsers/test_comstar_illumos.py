"""Parsers of the comstar collector, by table.

Formats: stmf kstats (illumos-gate usr/src/uts/common/io/comstar/stmf/stmf.c), stmfadm.c
listTargetFunc/printTargetProps/printSessionProps, itadm.c list_target/list_tpg, and the
real itadm capture of research/real-captures.md I-13.
"""

import pytest
from helpers import capture
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.comstar_illumos import (
    Comstar,
    IoCounters,
    StmfSession,
    StmfTarget,
    parse_itadm_targets,
    parse_itadm_tpgs,
    parse_stmf_kstats,
    parse_stmfadm_targets,
    session_members,
)
from exporter.api import Context, ParseError
from exporter.host import CommandNotFound, CommandResult, Host
from exporter.scrape import collect_families

TGT = "iqn.2010-08.org.illumos:02:9f3c1a2e-5b7d-6c4e-9a1f-d2b3c4e5f601"
ESX01 = "iqn.1998-01.com.vmware:esx01-4f2a1b3c"
ESX02 = "iqn.1998-01.com.vmware:esx02-7d1e9a00"

# the notes' example (illumos.md 4.3), plus an LU pair and an empty alias value
KSTATS = f"""\
stmf:0:stmf_lu_ffffff0d4b112000:class\tmisc
stmf:0:stmf_lu_ffffff0d4b112000:lun-alias\t/dev/zvol/rdsk/tank/vols/esx-ds01
stmf:0:stmf_lu_ffffff0d4b112000:lun-guid\t600144F0C8A2B6E1000062E1F00A0001
stmf:0:stmf_lu_io_ffffff0d4b112000:nread\t61001822101504
stmf:0:stmf_lu_io_ffffff0d4b112000:nwritten\t19440018911232
stmf:0:stmf_tgt_ffffff0d4a7c2e80:class\tmisc
stmf:0:stmf_tgt_ffffff0d4a7c2e80:protocol\tiSCSI
stmf:0:stmf_tgt_ffffff0d4a7c2e80:target-alias\t
stmf:0:stmf_tgt_ffffff0d4a7c2e80:target-name\t{TGT}
stmf:0:stmf_tgt_io_ffffff0d4a7c2e80:class\tio
stmf:0:stmf_tgt_io_ffffff0d4a7c2e80:nread\t71934823448576
stmf:0:stmf_tgt_io_ffffff0d4a7c2e80:nwritten\t23011455520768
stmf:0:stmf_tgt_io_ffffff0d4a7c2e80:rcnt\t0
stmf:0:stmf_tgt_io_ffffff0d4a7c2e80:reads\t1120551873
stmf:0:stmf_tgt_io_ffffff0d4a7c2e80:writes\t513882016
"""


def test_stmf_kstats_joined_by_suffix():
    got = parse_stmf_kstats(KSTATS)
    assert got.targets == (IoCounters(TGT, "", "iSCSI", 71934823448576, 23011455520768),)
    # LU GUIDs are keyed lower-case (stmfadm prints them upper-case, the kstat lower)
    assert got.lus == (IoCounters("600144f0c8a2b6e1000062e1f00a0001", "/dev/zvol/rdsk/tank/vols/esx-ds01", "", 61001822101504, 19440018911232),)
    assert parse_stmf_kstats("").targets == ()


@pytest.mark.parametrize(
    "text",
    [
        "stmf:0:stmf_tgt_ffffff0d4a7c2e80:protocol\tiSCSI\n",  # no target-name
        KSTATS.replace("nread\t71934823448576", "nread\t7e10"),
        "iscsi:0:iscsi_sess_1_5:_oid\t5\n",  # another module
        "stmf:0:stmf_other_1:x\t1\n",
    ],
)
def test_stmf_kstats_reject(text):
    with pytest.raises(ParseError):
        parse_stmf_kstats(text)


# stmfadm.c: PROPS_FORMAT "    %-18s: ", sessions at LVL3/LVL4; ctime() ends in "\n"
STMFADM = f"""\
Target: {TGT}
    Operational Status: Online
    Provider Name     : iscsit
    Alias             : -
    Protocol          : iSCSI
    Sessions          : 3
        Initiator: {ESX01}
            Alias: esx01
            Logged in since: Tue Mar  4 09:12:45 2025
        Initiator: {ESX02}
            Alias: -
            Logged in since: Tue Mar  4 09:13:02 2025
        Initiator: {ESX01}
            Alias: esx01
            Logged in since: Tue Mar  4 09:12:44 2025
Target: wwn.2100001B32A12AE9
    Operational Status: Offline
    Provider Name     : qlt
    Alias             : qlt0,0
    Protocol          : Fibre Channel
    Sessions          : 0
"""


def test_stmfadm_targets_and_sessions():
    got = parse_stmfadm_targets(STMFADM)
    assert [(t.name, t.status, t.provider, t.alias, t.protocol, len(t.sessions)) for t in got] == [
        (TGT, "Online", "iscsit", "", "iSCSI", 3),
        ("wwn.2100001B32A12AE9", "Offline", "qlt", "qlt0,0", "Fibre Channel", 0),
    ]
    assert got[0].sessions[1] == StmfSession(ESX02, "", "Tue Mar  4 09:13:02 2025")
    # members: per initiator, numbered in login order
    assert [name for name, _ in session_members(got[0])] == [f"{ESX01}#1", f"{ESX01}#2", f"{ESX02}#1"]
    assert [s.logged_in_since for _, s in session_members(got[0])][:2] == ["Tue Mar  4 09:12:44 2025", "Tue Mar  4 09:12:45 2025"]
    assert parse_stmfadm_targets("") == []


@pytest.mark.parametrize(
    "text",
    [
        STMFADM.replace("Sessions          : 3", "Sessions          : 2"),  # count and entries disagree
        "    Operational Status: Online\n",
        f"Target: {TGT}\n    Sessions          : many\n",
        f"Target: {TGT}\n    Unheard Of        : x\n",
        "stmfadm: STMF service offline\n",
    ],
)
def test_stmfadm_rejects(text):
    with pytest.raises(ParseError):
        parse_stmfadm_targets(text)


# real-captures I-13, OmniOS: header ends in one blank, the target row in 8 blanks, property
# lines <TAB>label padded to 20<TAB>value; "none " with a trailing blank from the support script
ITADM_REAL = capture("omnios-ha-blog/itadm-list-target-v.txt")


def test_itadm_targets_real_and_long_names():
    got = parse_itadm_targets(ITADM_REAL)
    t = got["iqn.2010-08.org.illumos:stmf-ha:pool1"]
    assert (t.state, t.sessions, t.tpg_tags) == ("online", 0, (("default", ""),))
    # a name longer than 60 characters is followed by a TAB (itadm.c list_target)
    text = f"{'TARGET NAME':<61}{'STATE':<9}{'SESSIONS':<9}\n{TGT:<61}\t{'online':<9}{3:<9}\n\ttpg-tags:           \ttpg1 = 3,tpg2 = 2\n"
    assert parse_itadm_targets(text)[TGT].tpg_tags == (("tpg1", "3"), ("tpg2", "2"))
    # the same capture with the TABs expanded, as published
    assert parse_itadm_targets(ITADM_REAL.replace("\t", "    "))["iqn.2010-08.org.illumos:stmf-ha:pool1"].tpg_tags == (("default", ""),)


@pytest.mark.parametrize("text", ["\ttpg-tags:\tdefault\n", "iqn.x online\n", f"{TGT} online 1\n\ttpg-tags:\ttpg1 = x\n"])
def test_itadm_targets_reject(text):
    with pytest.raises(ParseError):
        parse_itadm_targets(text)


# itadm.c list_tpg: "%-30s%-9s" header, "%-30s%-9d" rows (TAB after names over 30), then
# "\n    portals:" + TAB + comma-separated portals (IPv6 as [addr]:port) or "<none>"
TPGS = (
    f"{'TARGET PORTAL GROUP':<30}{'PORTAL COUNT':<9}\n"
    f"{'tpg-a':<30}{1:<9}\n    portals:\t10.10.1.10:3260\n"
    f"{'tpg-mgmt':<30}{2:<9}\n    portals:\t192.168.50.10:3260,[fd00:50::10]:3260\n"
    f"{'a-portal-group-with-a-long-name-x':<30}\t{0:<9}\n    portals:\t<none>\n"
)


def test_itadm_tpgs():
    assert parse_itadm_tpgs(TPGS) == {
        "tpg-a": ("10.10.1.10:3260",),
        "tpg-mgmt": ("192.168.50.10:3260", "[fd00:50::10]:3260"),
        "a-portal-group-with-a-long-name-x": (),
    }
    assert parse_itadm_tpgs("") == {}


@pytest.mark.parametrize("text", ["    portals:\t1.2.3.4:3260\n", "tpg-a two\n", TPGS.replace(f"{'tpg-mgmt':<30}{2:<9}", f"{'tpg-mgmt':<30}{3:<9}")])
def test_itadm_tpgs_reject(text):
    with pytest.raises(ParseError):
        parse_itadm_tpgs(text)


class FakeHost(Host):
    platform = "illumos"

    def __init__(self, outputs):
        self.outputs = outputs

    def run(self, tool, args, *, timeout):
        key = f"{tool} {args[0]}"
        if key not in self.outputs:
            raise CommandNotFound(tool)
        return CommandResult((tool, *args), *self.outputs[key])


def test_collector_absent_cases():
    assert list(collect_families(Comstar(FakeHost({}), Context("comstar")))) == []  # COMSTAR not installed
    off = FakeHost({"stmfadm list-target": (1, "", "stmfadm: STMF service offline\n")})
    assert list(collect_families(Comstar(off, Context("comstar")))) == []
    # no target at all: stmfadm exits 1 without a word (listTargetFunc, STMF_ERROR_NOT_FOUND)
    none = FakeHost({"stmfadm list-target": (1, "", ""), "kstat -p": (1, "", "")})
    assert list(collect_families(Comstar(none, Context("comstar")))) == []


def test_collector_fails_on_permission_denied():
    denied = FakeHost({"stmfadm list-target": (1, "", "stmfadm: permission denied\n")})
    with pytest.raises(RuntimeError):
        list(collect_families(Comstar(denied, Context("comstar"))))


def test_collector_single_session_initiator_is_visible():
    host = FakeHost({"stmfadm list-target": (0, STMFADM, ""), "kstat -p": (0, KSTATS, "")})  # itadm absent: no portal groups
    fams = {f.name: f for f in collect_families(Comstar(host, Context("comstar")))}
    assert dict((lv[1], v) for lv, v in fams["lanes_comstar_initiator_sessions"].samples) == {ESX01: 2, ESX02: 1}
    # the FC target stays out of the iscsi_target group model
    assert [lv[1] for lv, _ in fams["lanes_group_info"].samples] == [TGT]
    assert not fams["lanes_comstar_tpg_portals"].samples


def test_target_without_sessions_is_not_a_group_but_a_lost_session_is_remembered():
    text = STMFADM.split("Target: wwn")[0]
    host = FakeHost({"stmfadm list-target": (0, text, ""), "kstat -p": (0, KSTATS, "")})
    c = Comstar(host, Context("comstar"))
    list(collect_families(c))
    one_left = StmfTarget(TGT, "Online", "iscsit", "", "iSCSI", ())
    assert session_members(one_left) == []
    # esx02 logs out: its member stays, down
    host.outputs["stmfadm list-target"] = (0, text.replace("Sessions          : 3", "Sessions          : 2").replace(
        f"        Initiator: {ESX02}\n            Alias: -\n            Logged in since: Tue Mar  4 09:13:02 2025\n", ""), "")
    c._cadence = None
    fams = {f.name: f for f in collect_families(c)}
    assert dict((lv[2], v) for lv, v in fams["lanes_member_up"].samples) == {f"{ESX01}#1": 1, f"{ESX01}#2": 1, f"{ESX02}#1": 0}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parsers_raise_only_parse_error(text):
    for parser in (parse_stmf_kstats, parse_stmfadm_targets, parse_itadm_targets, parse_itadm_tpgs):
        try:
            parser(text)
        except ParseError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([f"Target: {TGT}", "    Sessions          : 1", "    Sessions          : 0", f"        Initiator: {ESX01}",
                                 "            Alias: -", "            Logged in since: Tue Mar  4 09:12:45 2025", "    Protocol          : iSCSI",
                                 "    Alias             : x", "", "junk", "    Operational Status: Online"]), max_size=12).map("\n".join))
def test_stmfadm_fuzz(text):
    try:
        parse_stmfadm_targets(text)
    except ParseError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["TARGET PORTAL GROUP           PORTAL COUNT", "tpg-a 1", "tpg-b 2", "    portals:\t1.2.3.4:3260",
                                 "    portals:\t<none>", "    portals:\ta,b", "x y z", "", "\t"]), max_size=8).map("\n".join))
def test_itadm_tpgs_fuzz(text):
    try:
        parse_itadm_tpgs(text)
    except ParseError:
        pass


@pytest.mark.parametrize(
    "parser, text",
    [
        (parse_itadm_tpgs, "TARGET PORTAL GROUP           PORTAL COUNT\ntpg-a                         ²\n"),
        (parse_itadm_targets, "TARGET NAME                                                        STATE    SESSIONS\niqn.x  online ²\n"),
        (parse_stmfadm_targets, "Target: iqn.x\n    Sessions          : ²\n"),
    ],
)
def test_non_ascii_digits_are_a_parse_error(parser, text):
    # str.isdigit() accepts "²" but int() refuses it: the parsers must say ParseError, not ValueError
    with pytest.raises(ParseError):
        parser(text)
