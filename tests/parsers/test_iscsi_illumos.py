"""Parsers of the illumos iSCSI initiator collector (and the shared ``kstat -p`` parser).

Formats: kstat(8) -p (real captures in research/real-captures.md I-1), iscsi_stats.c kstat
names, iscsiadm_main.c listTarget/printConnectionList, ipadm(8) parseable output.
"""

import pytest
from helpers import capture
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.iscsi_illumos import (
    IscsiIllumos,
    SessionKstat,
    TargetSession,
    address_host,
    join_sessions,
    parse_ipadm_addrs,
    parse_iscsi_kstats,
    parse_kstat_p,
    parse_list_target,
    read_session_bytes,
)
from exporter.api import Context, ParseError
from exporter.host import CommandNotFound, CommandResult, Host
from exporter.scrape import collect_families

TGT = "iqn.2010-08.org.illumos:02:9f3c1a2e-5b7d-6c4e-9a1f-d2b3c4e5f601"

# real-captures I-1: SmartOS, published with blanks for the TAB; crtime with 7 decimals
KSTAT_BLANKS = capture("datadog-integrations-core/kstat-p-link0.txt")


def test_kstat_p_tab_blank_and_empty_values():
    assert parse_kstat_p(KSTAT_BLANKS)[("link", 0, "net0")] == {
        "brdcstrcv": "527336", "class": "net", "crtime": "16359935.2637943", "ifspeed": "10000000000", "link_duplex": "0",
        "link_state": "1", "obytes64": "12820668", "snaptime": "16834735.1607669", "zonename": "53aa9b7e-48ba-4152-a52b-a6368c3d9e7c"}
    got = parse_kstat_p(f"stmf:0:stmf_tgt_ffffff0d4a7c2e80:target-alias\t\nstmf:0:stmf_tgt_ffffff0d4a7c2e80:target-name\t{TGT}\n")
    # the IQN's colons stay in the value; an empty value is empty
    assert got == {("stmf", 0, "stmf_tgt_ffffff0d4a7c2e80"): {"target-alias": "", "target-name": TGT}}
    # a kstat that prints only its header pseudo-statistics (an aggregated port's link kstat)
    assert parse_kstat_p("link:0:ixgbe2:class\tnet\nlink:0:ixgbe2:crtime\t41.337159245\nlink:0:ixgbe2:snaptime\t8731552.402771188\n") == {
        ("link", 0, "ixgbe2"): {"class": "net", "crtime": "41.337159245", "snaptime": "8731552.402771188"}}
    assert parse_kstat_p("") == {}


@pytest.mark.parametrize("line", ["no colons at all", "a:b:c\t1", "iscsi:x:iscsi_sess_1_5:_oid\t5", ":0:name:stat\t1", "iscsi:0::stat\t1"])
def test_kstat_p_rejects(line):
    with pytest.raises(ParseError):
        parse_kstat_p(line + "\n")


def _sess(key, oid, state, tpgt, target=TGT, nread=100, nwritten=50, reset=0):
    return (
        f"iscsi:0:iscsi_sess_{key}:_cntr_reset\t{reset}\n"
        f"iscsi:0:iscsi_sess_{key}:_oid\t{oid}\n"
        f"iscsi:0:iscsi_sess_{key}:_state\t{state}\n"
        f"iscsi:0:iscsi_sess_{key}:_target_name\t{target}\n"
        f"iscsi:0:iscsi_sess_{key}:_tpgt\t{tpgt}\n"
        f"iscsi:0:iscsi_sess_io_{key}:nread\t{nread}\n"
        f"iscsi:0:iscsi_sess_io_{key}:nwritten\t{nwritten}\n"
        f"iscsi:0:iscsi_sess_io_{key}:reads\t7\n"
    )


def test_iscsi_kstats_join_io_by_suffix():
    text = ("iscsi:0:iscsi_hba_1:_name\tiqn.1986-03.com.sun:01:e00000000000.5f1a2b3c\n"
            + _sess("1_5", 5, "logged_in", 2, nread=30512771211264) + _sess("1_7", 7, "failed", 3, reset=4)
            + "iscsi:0:iscsi_sess_1_2:_state\tlogged_in\niscsi:0:iscsi_sess_1_2:_target_name\t\n")  # discovery session: no name
    got = parse_iscsi_kstats(text)
    assert got.initiator == "iqn.1986-03.com.sun:01:e00000000000.5f1a2b3c"
    assert got.sessions == (
        SessionKstat("1_5", 5, TGT, "logged_in", 2, 0, 30512771211264, 50),
        SessionKstat("1_7", 7, TGT, "failed", 3, 4, 100, 50),
    )


def test_iscsi_kstats_reject_bad_numbers_and_modules():
    with pytest.raises(ParseError):
        parse_iscsi_kstats(_sess("1_5", 5, "logged_in", 2, nread="12x"))
    with pytest.raises(ParseError):
        parse_iscsi_kstats("link:0:net0:class\tnet\n")


# iscsiadm_main.c listTarget -v: TAB indents; "\t\t  " before the connection's addresses;
# the discovery method ends in a blank; a session without connection prints no CID
LIST_TARGET = f"""\
Target: {TGT}
\tAlias: -
\tTPGT: 2
\tISID: 4000002a0000
\tConnections: 1
\t\tCID: 0
\t\t  IP address (Local): 10.10.1.21:33817
\t\t  IP address (Peer): 10.10.1.10:3260
\t\t  Discovery Method: SendTargets $
\t\t  Login Parameters (Negotiated):
\t\t  \tData Sequence In Order: yes
\t\t  \tMax Receive Data Segment Length: 32768
\t\t  \tHeader Digest: NONE

Target: {TGT}
\tAlias: tank/xen/volume1
\tTPGT: 3
\tISID: 4000002A0001
\tConnections: 0

Target: iqn.2010-08.org.illumos:02:v6
\tAlias: -
\tISID: 4000002a0002
\tConnections: 1
\t\tCID: 0
\t\t  IP address (Local): [fd00:10::21]:40122
\t\t  IP address (Peer): [fd00:10::10]:3260
\tLUN: 1
\t     Vendor:  SUN     $
\t     Product: COMSTAR         $
\t     OS Device Name: /dev/rdsk/c0t600144F0C8A2B6E1000062E1F00A0001d0s2
""".replace("$\n", "\n")  # $ marks a line that ends in blanks, as the tool prints it


def test_list_target_sessions():
    got = parse_list_target(LIST_TARGET)
    assert [(t.target, t.alias, t.tpgt, t.isid, t.connections) for t in got] == [
        (TGT, "", 2, "4000002a0000", 1),
        (TGT, "tank/xen/volume1", 3, "4000002a0001", 0),
        ("iqn.2010-08.org.illumos:02:v6", "", None, "4000002a0002", 1),
    ]
    assert got[0].conns[0].local == "10.10.1.21:33817" and got[0].conns[0].peer == "10.10.1.10:3260"
    assert got[1].conns == ()
    assert got[2].conns[0].peer == "[fd00:10::10]:3260"
    assert address_host(got[2].conns[0].local) == "fd00:10::21"
    assert address_host("10.10.1.21:33817") == "10.10.1.21"
    assert parse_list_target("") == []


@pytest.mark.parametrize(
    "text",
    [
        "\tAlias: -\n",  # property before a Target line
        f"Target: {TGT}\n\tAlias: -\n\tConnections: 1\n",  # no ISID
        f"Target: {TGT}\n\tISID: 4000002a00\n\tConnections: 1\n",  # ISID not 12 hex digits
        f"Target: {TGT}\n\tISID: 4000002a0000\n\tConnections: one\n",
        "iscsiadm: no initiator found\n",
    ],
)
def test_list_target_rejects(text):
    with pytest.raises(ParseError):
        parse_list_target(text)


def test_ipadm_addresses_with_escapes():
    text = "lo0/v4:127.0.0.1/8\nixgbe0/v4:10.10.1.21/24\nixgbe0/v6:fe80\\:\\:8\\:20ff\\:fe7a\\:1c01/10\nnet1/v6a:fd00\\:10\\:\\:21/64\nipmp0/v4:?\n"
    assert parse_ipadm_addrs(text) == {
        "127.0.0.1": "lo0", "10.10.1.21": "ixgbe0", "fe80::8:20ff:fe7a:1c01": "ixgbe0", "fd00:10::21": "net1"}
    with pytest.raises(ParseError):
        parse_ipadm_addrs("ixgbe0/v6:fe80::1/10\n")  # unescaped colons: not ipadm -p output


def _ks(oid, tpgt, state="logged_in"):
    return SessionKstat(f"1_{oid}", oid, TGT, state, tpgt, 0, oid * 10, oid)


def _blk(tpgt, isid, peer=""):
    from collectors.iscsi_illumos import Connection

    return TargetSession(TGT, "", tpgt, isid, 1 if peer else 0, (Connection(0, "10.0.0.1:1", peer),) if peer else ())


def test_join_on_tpgt_then_in_order():
    # one session per portal group: joined on the TPGT whatever the order
    got = join_sessions([_ks(7, 3), _ks(5, 2)], [_blk(2, "4000002a0000", "10.10.1.10:3260"), _blk(3, "4000002a0001", "10.10.2.10:3260")])
    assert sorted((s.oid, s.isid, s.peer) for s in got) == [(5, "4000002a0000", "10.10.1.10:3260"), (7, "4000002a0001", "10.10.2.10:3260")]
    # configured sessions (same TPGT): OID order pairs with ISID order
    got = join_sessions([_ks(9, 1), _ks(8, 1)], [_blk(1, "4000002a0001"), _blk(1, "4000002a0000")])
    assert sorted((s.oid, s.isid) for s in got) == [(8, "4000002a0000"), (9, "4000002a0001")]
    # counts disagree: nothing is guessed
    got = join_sessions([_ks(8, 1)], [_blk(1, "4000002a0001"), _blk(1, "4000002a0000")])
    assert sorted((s.oid or -1, s.isid) for s in got) == [(-1, "4000002a0000"), (-1, "4000002a0001"), (8, "")]


class FakeHost(Host):
    platform = "illumos"

    def __init__(self):
        self.outputs: dict[str, CommandResult] = {}

    def set(self, tool, stdout, rc=0, stderr=""):
        self.outputs[tool] = CommandResult((tool,), rc, stdout, stderr)

    def run(self, tool, args, *, timeout):
        if tool not in self.outputs:
            raise CommandNotFound(tool)
        return self.outputs[tool]


def _collect(host, collector=None):
    c = collector or IscsiIllumos(host, Context("iscsi"))
    c._cadence = None  # read the topology again, as the next slow-cadence refresh would
    return c, {f.name: f for f in collect_families(c)}


def test_sampler_reads_session_bytes():
    host = FakeHost()
    host.set("kstat", "iscsi:0:iscsi_sess_io_1_5:nread\t30512771211264\niscsi:0:iscsi_sess_io_1_5:nwritten\t9722010624000\n")
    assert read_session_bytes(host) == {"iscsi_sess_io_1_5": (30512771211264, 9722010624000)}
    host.set("kstat", "", rc=1)  # no session: nothing matched
    assert read_session_bytes(host) == {}


def test_collector_absent_cases():
    host = FakeHost()
    assert _collect(host)[1] == {}  # no iscsiadm at all
    host.set("iscsiadm", "", rc=1, stderr="iscsiadm: no initiator found\n")
    assert _collect(host)[1] == {}
    host.set("iscsiadm", "")
    host.set("kstat", "", rc=1)  # kstat: nothing matched
    assert _collect(host)[1] == {}


def test_collector_fails_on_broken_sources():
    host = FakeHost()
    host.set("iscsiadm", "", rc=1, stderr="iscsiadm: Unknown error\n")
    with pytest.raises(RuntimeError):
        _collect(host)
    host.set("iscsiadm", LIST_TARGET)
    host.set("kstat", "", rc=2, stderr="kstat: usage\n")
    with pytest.raises(RuntimeError):
        _collect(host)


def test_session_keeps_its_portal_name_when_its_connection_drops():
    host = FakeHost()
    host.set("ipadm", "ixgbe0/v4:10.10.1.21/24\n")
    up = "".join(
        f"Target: {TGT}\n\tAlias: -\n\tTPGT: {t}\n\tISID: 4000002a000{i}\n\tConnections: 1\n\t\tCID: 0\n"
        f"\t\t  IP address (Local): 10.10.{i + 1}.21:3381{i}\n\t\t  IP address (Peer): 10.10.{i + 1}.10:3260\n"
        for i, t in enumerate((2, 3)))
    host.set("iscsiadm", up)
    host.set("kstat", _sess("1_5", 5, "logged_in", 2) + _sess("1_7", 7, "logged_in", 3))
    c, fams = _collect(host)
    assert sorted(s[0][2] for s in fams["lanes_member_up"].samples) == ["10.10.1.10:3260", "10.10.2.10:3260"]
    info = {lv[1]: dict(zip(fams["lanes_iscsi_session_info"].labels, lv)) for lv, _ in fams["lanes_iscsi_session_info"].samples}
    assert info["10.10.1.10:3260"]["netdev"] == "ixgbe0" and info["10.10.2.10:3260"]["netdev"] == ""
    # the second session fails: iscsiadm shows no connection (no peer), the kstat says failed
    host.set("iscsiadm", up.split(f"Target: {TGT}\n\tAlias: -\n\tTPGT: 3")[0] + f"Target: {TGT}\n\tAlias: -\n\tTPGT: 3\n\tISID: 4000002a0001\n\tConnections: 0\n")
    host.set("kstat", _sess("1_5", 5, "logged_in", 2) + _sess("1_7", 7, "failed", 3))
    c, fams = _collect(host, c)
    assert dict((lv[2], v) for lv, v in fams["lanes_member_up"].samples) == {"10.10.1.10:3260": 1, "10.10.2.10:3260": 0}
    assert dict((lv[1], v) for lv, v in fams["lanes_group_members_up"].samples) == {TGT: 1}
    assert dict((lv[1], v) for lv, v in fams["lanes_group_members"].samples) == {TGT: 2}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parsers_raise_only_parse_error(text):
    for parser in (parse_kstat_p, parse_iscsi_kstats, parse_list_target, parse_ipadm_addrs):
        try:
            parser(text)
        except ParseError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([f"Target: {TGT}", "\tTPGT: 2", "\tTPGT: x", "\tISID: 4000002a0000", "\tConnections: 1", "\t\tCID: 0",
                                 "\t\t  IP address (Local): 1.2.3.4:5", "\t\t  IP address (Peer): [::1]:3260", "", "\tAlias: -", "x"]),
                max_size=12).map("\n".join))
def test_list_target_fuzz(text):
    try:
        parse_list_target(text)
    except ParseError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["iscsi:0:iscsi_sess_1_5:_oid\t5", "iscsi:0:iscsi_sess_1_5:_oid\tx", "iscsi:0:iscsi_sess_1_5:_target_name\tiqn.a:b",
                                 "iscsi:0:iscsi_sess_io_1_5:nread\t9", "iscsi:0:iscsi_hba_1:_name\tiqn.x", "iscsi:0:iscsi_sess_1_5:_tpgt",
                                 "stmf:0:x:y\t1", "\t", ":::", "iscsi:0:iscsi_sess_io_1_5:nwritten\t-1"]), max_size=10).map("\n".join))
def test_iscsi_kstats_fuzz(text):
    try:
        parse_iscsi_kstats(text)
    except ParseError:
        pass
