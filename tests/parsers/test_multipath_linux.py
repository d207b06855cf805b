"""Parsers of collectors/multipath_linux.py: multipathd JSON, dm status/table lines, the
socket framing, hex counters.  Inputs are the real captures of
../shared/research/real-captures.md (L-6, L-7) and the print formats of multipath-tools
libmultipath/print.c and kernel drivers/md/dm-mpath.c."""

import struct

import pytest
from helpers import capture
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.multipath_linux import (
    Unwrap32,
    grouping_policy,
    pack_request,
    parse_dm_status,
    parse_dm_table,
    parse_hex_counter,
    parse_multipathd_json,
    queue_if_no_path,
    unpack_reply,
)
from exporter.api import ParseError
from exporter.scrape import collect_families

# real-captures.md L-6 (IBM/ubiquity, RHEL 7 era): padded vend/prod, no marginal_st, no
# lun_hex, action "create"; the "multipathd>" prompt lines are not part of a socket reply
RHEL7_JSON = capture("ibm-ubiquity/multipathd-show-maps-json.json")


def test_multipathd_json_rhel7_capture():
    (m,) = parse_multipathd_json(RHEL7_JSON)
    assert (m.name, m.dm, m.wwid, m.vendor, m.product, m.path_faults) == ("mpathp", "dm-3", "360050768029b8168e000000000006247", "IBM", "2145", 1)
    assert m.features is None and m.hwhandler is None  # absent keys stay unknown
    (g,) = m.groups
    assert (g.index, g.state, g.selector, g.priority) == (1, "active", "round-robin 0", 0)
    (p,) = g.paths
    assert (p.dev, p.devt, p.dm_state, p.checker, p.priority, p.host_adapter) == ("sdb", "8:16", "failed", "faulty", 50, "9.115.240.253")


def test_multipathd_json_two_groups_undef_values():
    text = """{"major_version": 0, "minor_version": 1, "maps": [{"name" : "3600a098038303053453f463045727a4b",
      "uuid" : "3600a098038303053453f463045727a4b", "sysfs" : "dm-0", "features" : "3 queue_if_no_path pg_init_retries 50",
      "hwhandler" : "1 alua", "path_groups": [
        {"selector" : "service-time 0", "pri" : 10, "dm_st" : "enabled", "group" : 2, "paths": [
          {"dev" : "sde", "dev_t" : "8:64", "dm_st" : "active", "chk_st" : "i/o pending", "pri" : 10, "host_adapter" : "[undef]"}]},
        {"selector" : "service-time 0", "pri" : 50, "dm_st" : "active", "group" : 1, "paths": [
          {"dev" : "-", "dev_t" : "#:#", "dm_st" : "undef", "chk_st" : "undef", "pri" : "##"}]}]}]}"""
    (m,) = parse_multipathd_json(text)
    assert queue_if_no_path(m.features) is True
    assert [g.index for g in m.groups] == [2, 1]  # the "group" key wins over the position
    assert m.groups[0].paths[0].checker == "i/o pending"
    assert m.groups[0].paths[0].host_adapter is None
    assert m.groups[1].paths[0] == m.groups[1].paths[0].__class__(None, None, None, None, None, None, None)


def test_multipathd_json_no_maps():
    assert parse_multipathd_json('{"major_version": 0, "minor_version": 1, "maps": []}') == []


@pytest.mark.parametrize(
    "text,why",
    [
        ("timeout\n", "busy"),
        ("fail\npermission deny: need to be root\n", "refused"),
        ('{\n   "major_version": 0,\n   "maps": [{\n      "name" : "mpa', "invalid JSON"),  # truncated (L-6)
        ('{"major_version": 1, "maps": []}', "major_version"),
        ('{"maps": {"name": "x"}}', "not a list"),
        ('{"maps": [{"uuid": "x"}]}', "without a name"),
        ("[]", "not an object"),
        ("", "invalid JSON"),
    ],
)
def test_multipathd_json_broken(text, why):
    with pytest.raises(ParseError, match=why):
        parse_multipathd_json(text)


# real-captures.md L-7: all-devices form with a name prefix, trailing blanks, linear lines
# and a two-segment LV
DMSETUP_ALL = capture("hp-msa-writeup/dmsetup-status.txt")


def test_dm_status_all_devices_capture():
    maps = parse_dm_status(DMSETUP_ALL)
    assert list(maps) == ["36001438005deddc80000400003340000"]
    g1, g2 = maps["36001438005deddc80000400003340000"].groups
    assert (g1.state, [p.devt for p in g1.paths]) == ("active", ["8:48", "8:128"])
    assert (g2.state, [p.devt for p in g2.paths]) == ("enabled", ["8:0", "8:64", "8:192", "8:208"])
    assert all(p.dm_state == "active" and p.fail_count == 0 for p in g1.paths + g2.paths)


def test_dm_status_named_form_current_group_two():
    # zipl_helper capture: no prefix, cur_pg 2, first group E, paths A with fail count 1
    maps = parse_dm_status(capture("s390-tools/dmsetup-status-named.txt"))
    g1, g2 = maps[""].groups
    assert (g1.state, g2.state) == ("enabled", "active")
    assert [p.fail_count for p in g1.paths] == [1, 1]
    assert [p.dm_state for p in g1.paths] == ["active", "active"]


def test_dm_status_failed_path_and_round_robin():
    maps = parse_dm_status("mpatha: 0 419430400 multipath 2 0 0 0 2 1 A 0 2 2 8:32 A 0 65536 1 8:48 F 1 0 1 E 0 2 2 8:64 A 0 0 1 8:80 F 1 0 1\n")
    g1, g2 = maps["mpatha"].groups
    assert [(p.devt, p.dm_state, p.fail_count) for p in g1.paths] == [("8:32", "active", 0), ("8:48", "failed", 1)]
    rr = parse_dm_status("mpathb: 0 209715200 multipath 2 0 0 0 4 1 A 0 1 0 8:96 A 0 E 0 1 0 8:112 A 0 E 0 1 0 8:128 A 0 E 0 1 0 8:144 A 0")
    assert [len(g.paths) for g in rr["mpathb"].groups] == [1, 1, 1, 1]
    assert grouping_policy(rr["mpathb"].groups) == "failover"


@pytest.mark.parametrize(
    "line",
    [
        "mpatha: 0 100 multipath 2 0 0 0 2 1 A 0 2 2 8:32 A 0 0",  # ends early
        "mpatha: 0 100 multipath 2 0 0 0 1 1 X 0 1 0 8:32 A 0",  # bad group letter
        "mpatha: 0 100 multipath 2 0 0 0 1 1 A 0 1 0 sdc A 0",  # bad dev_t
        "mpatha: zero 100 multipath",
    ],
)
def test_dm_status_broken(line):
    with pytest.raises(ParseError):
        parse_dm_status(line)


def test_dm_table():
    t = parse_dm_table(
        "mpatha: 0 419430400 multipath 1 queue_if_no_path 1 alua 2 1 service-time 0 2 2 8:32 1 1 8:48 1 1 "
        "service-time 0 2 2 8:64 1 1 8:80 1 1 \nvg0-root: 0 100 linear 8:2 2048 \n"
    )
    assert t == {"mpatha": ("1 queue_if_no_path", "1 alua", ("service-time 0", "service-time 0"))}
    t = parse_dm_table("0 100 multipath 0 0 1 1 round-robin 0 2 1 8:16 1 8:32 1")
    assert t == {"": ("0", "0", ("round-robin 0",))}
    assert queue_if_no_path("0") is False


def test_hex_counters_and_unwrap():
    assert parse_hex_counter("0x1a\n") == 26
    assert parse_hex_counter("26") is None and parse_hex_counter(None) is None and parse_hex_counter("0xzz") is None
    u = Unwrap32()
    assert u(("sdc",), 0xFFFFFFF0) == 0xFFFFFFF0
    assert u(("sdc",), 0x10) == 0x1_0000_0010  # wrapped
    assert u(("sdc",), 0x20) == 0x1_0000_0020
    assert u(("sdd",), 500) == 500
    assert u(("sdd",), 3) == 3  # a reset (sd revalidate), not a wrap
    u.keep({("sdd",)})
    assert u(("sdc",), 5) == 5  # forgotten once the path is gone


def test_socket_framing():
    req = pack_request("show maps json")
    n = struct.calcsize("@N")
    assert struct.unpack("@N", req[:n])[0] == len("show maps json") + 1 and req[n:] == b"show maps json\0"
    reply = struct.pack("@N", 6) + b"hello\0"
    assert unpack_reply(reply[:3], False) is None
    assert unpack_reply(reply[:9], False) is None
    assert unpack_reply(reply, False) == "hello"
    with pytest.raises(ParseError):
        unpack_reply(reply[:9], True)
    with pytest.raises(ParseError):
        unpack_reply(struct.pack("@N", 1 << 40), False)


def test_grouping_policy():
    g = parse_dm_status("x: 0 1 multipath 2 0 0 0 1 1 A 0 2 0 8:1 A 0 8:2 A 0")["x"].groups
    assert grouping_policy(g) == "multibus"
    g = parse_dm_status(DMSETUP_ALL)["36001438005deddc80000400003340000"].groups
    assert grouping_policy(g) == "group_by_prio"
    assert grouping_policy(()) == "unknown"


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400))
def test_fuzz_text_parsers(text):
    for parser in (parse_multipathd_json, parse_dm_status, parse_dm_table):
        try:
            parser(text)
        except ParseError:
            pass


TOKENS = st.sampled_from(["mpatha:", "0", "1", "2", "4", "100", "multipath", "A", "E", "D", "F", "8:16", "8:32", "queue_if_no_path", "alua", "round-robin", "\n", "-1", "x"])


@settings(max_examples=200, deadline=None)
@given(st.lists(TOKENS, max_size=40))
def test_fuzz_dm_lines_near_grammar(tokens):
    text = "mpatha: 0 100 multipath " + " ".join(tokens)
    for parser in (parse_dm_status, parse_dm_table):
        try:
            parser(text)
        except ParseError:
            pass


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.sampled_from(["maps", "name", "path_groups", "paths", "group", "pri", "dev", "major_version", "dm_st"]), c, max_size=5),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(JSONISH)
def test_fuzz_multipathd_json_structures(doc):
    import json

    try:
        parse_multipathd_json(json.dumps(doc))
    except ParseError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.booleans())
def test_fuzz_unpack(buf, eof):
    try:
        unpack_reply(buf, eof)
    except ParseError:
        pass


@pytest.mark.parametrize(
    "link,want",
    [
        ("../devices/platform/host3/session1/target3:0:0/3:0:0:1/block/sdc", "iscsi"),
        ("../devices/pci0000:00/0000:00:03.0/0000:08:00.0/host1/rport-1:0-2/target1:0:0/1:0:0:4/block/sdk", "fc"),
        ("../devices/pci0000:00/0000:00:01.0/host0/port-0:0/end_device-0:0/target0:0:0/0:0:0:0/block/sdb", "sas"),
        ("../devices/virtual/nvme-fabrics/ctl/nvme1/nvme1c1n1", "nvme"),
        ("../devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda", "scsi"),
        ("", ""),
    ],
)
def test_transport_of(link, want):
    from collectors.multipath_linux import transport_of

    assert transport_of(link) == want


def _collect(host, **opts):
    from collectors.multipath_linux import MultipathLinux
    from exporter.api import Context

    c = MultipathLinux(host, Context("multipath", opts))
    return {(f.name, lv): v for f in collect_families(c) for lv, v in f.samples}


def _snapshot(name):
    import os

    from helpers import SCENARIOS

    from exporter.host import SnapshotHost

    return SnapshotHost(os.path.join(SCENARIOS, name))


def test_dmsetup_without_root_keeps_the_sysfs_view():
    """multipathd absent and dmsetup refused (not root: rc 1): the collector still
    reports maps and paths from sysfs, source="sysfs", and fails nothing."""
    from exporter.host import CommandResult

    host = _snapshot("linux-mpio-failover-only")
    host.run = lambda tool, args, timeout: CommandResult((tool, *args), 1, "", "/dev/mapper/control: open failed: Permission denied\n")
    s = _collect(host)
    info = [lv for (n, lv) in s if n == "lanes_multipath_map_info"]
    assert info == [("mpatha", "36001405d27e5d898829468b90ce4ef8c", "dm-2", "LIO-ORG", "vol01", "", "unknown", "", "", "sysfs")]
    assert s[("lanes_multipath_map_paths_usable", ("mpatha",))] == 2
    assert ("lanes_multipath_path_dm_state", ("mpatha", "sdc", "active")) not in s  # unknown without dm
    # unknown path groups: every path is taken to share the load
    assert s[("lanes_group_info", ("multipath", "mpatha", "unknown/unknown", "load"))] == 1


def test_dmsetup_fallback_reads_groups_and_fail_counts():
    host = _snapshot("linux-mpio-failover-only")
    s = _collect(host)
    assert s[("lanes_multipath_path_group", ("mpatha", "sdd"))] == 2
    assert s[("lanes_multipath_path_group_active", ("mpatha", "sdd"))] == 0
    assert s[("lanes_multipath_path_failures", ("mpatha", "sdc"))] == 0
    assert s[("lanes_group_info", ("multipath", "mpatha", "service-time/failover", "failover"))] == 1


def test_removed_path_still_counts_and_devices_are_never_touched():
    """A path the kernel removes between scrapes stays a member that is down; and nothing
    under /dev is ever read (a queueing map blocks any opener)."""
    from collectors.multipath_linux import MultipathLinux
    from exporter.api import Context, Facts

    host = _snapshot("linux-mpio-round-robin-healthy")
    seen = []
    read_text, listdir = host.read_text, host.listdir
    gone = set()

    def rt(path):
        seen.append(path)
        return read_text(path)

    def ld(path):
        seen.append(path)
        return [n for n in listdir(path) if n not in gone]

    host.read_text, host.listdir = rt, ld
    c = MultipathLinux(host, Context("multipath"))
    first = {(f.name, lv): v for f in collect_families(c) for lv, v in f.samples}
    assert first[("lanes_group_members_up", ("multipath", "mpatha"))] == 2
    gone.add("sdd")  # dev_loss_tmo: the SCSI device and its slave link disappear
    c.ctx.facts = Facts()
    second = {(f.name, lv): v for f in collect_families(c) for lv, v in f.samples}
    assert second[("lanes_group_members", ("multipath", "mpatha"))] == 2
    assert second[("lanes_group_members_up", ("multipath", "mpatha"))] == 1
    assert second[("lanes_member_up", ("multipath", "mpatha", "sdd"))] == 0
    assert second[("lanes_multipath_map_paths", ("mpatha",))] == 1
    assert not [p for p in seen if p.startswith("/dev")]


def test_topology_read_once_states_every_scrape():
    """MapReader: the maps' slaves, dev_t and INQUIRY strings are read on the first scrape
    only; states and counters every scrape; a changed /sys/block listing or uevent
    generation, or a path that lost its state, reads the topology again."""
    import collections

    from collectors.multipath_linux.sysfs import MapReader

    host = _snapshot("linux-mpio-round-robin-healthy")
    reads = collections.Counter()
    read_text, listdir = host.read_text, host.listdir
    gone = set()

    def rt(path):
        reads[path] += 1
        if any(f"/{d}/" in path for d in gone):
            raise FileNotFoundError(path)
        return read_text(path)

    def ld(path):
        reads[path] += 1
        return listdir(path)

    host.read_text, host.listdir = rt, ld
    r = MapReader()
    block = host.list_optional("/sys/block")
    first = r.read(host, block)
    dm = first[0].dm
    for _ in range(2):
        assert r.read(host, block) == first
    assert reads[f"/sys/block/{dm}/slaves"] == 1 and reads["/sys/block/sdc/device/vendor"] == 1
    assert reads["/sys/block/sdc/device/state"] == 3 and reads[f"/sys/block/{dm}/dm/suspended"] == 3
    r.read(host, block, generation=1)  # a uevent came: the topology again
    assert reads[f"/sys/block/{dm}/slaves"] == 2
    r.read(host, [*block, "sdzz"])  # the listing changed
    assert reads[f"/sys/block/{dm}/slaves"] == 3
    gone.add("sdc")  # the path went away under the kept topology: read again at once
    out = r.read(host, [*block, "sdzz"])
    assert reads[f"/sys/block/{dm}/slaves"] == 4
    assert "sdc" not in {p.dev for m in out for p in m.paths}
