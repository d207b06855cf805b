"""Parsers and topology cadence of the mpxio collector, by table.

Inputs are the real captures of research/real-captures.md I-9/I-10 (TABs restored where the
text says the tool prints them) and the mpathadm code paths (illumos-gate
usr/src/cmd/mpathadm/mpathadm.c, mpathadm_text.c).
"""

import os

import pytest
from helpers import SCENARIOS, capture
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.mpxio_illumos import (
    DetailCache,
    LuPaths,
    Mpxio,
    lu_id,
    lu_type,
    parse_list_lu,
    parse_show_lu,
    port_transport,
)
from exporter.api import Context, ParseError
from exporter.host import CommandNotFound, CommandResult, Host, slug
from exporter.scrape import collect_families

# real-captures I-9: Solaris 10 StorEdge 3510 (blog, TABs published as blanks) and the
# Infinidat fixture whose first line starts with two blanks
LIST_3510 = capture("shawnferry-blog/mpathadm-list-lu.txt")
LIST_INFINIDAT = capture("infinidat/mpathadm-list-lu.txt")


def test_list_lu_real_captures():
    assert parse_list_lu(LIST_3510) == [
        LuPaths("/scsi_vhci/enclosure@g600c0ff000000000086cfb0000000000", 3, 3),
        LuPaths("/dev/rdsk/c3t600C0FF000000000086CFB359771241Bd0s2", 1, 1),
    ]
    got = parse_list_lu(LIST_INFINIDAT)
    assert [(x.device, x.total, x.operational) for x in got] == [
        ("/scsi_vhci/array-controller@g6742b0f0000075360000000000000000", 1, 1),
        ("/dev/rdsk/c0t6742B0F000007536000000000000217Dd0s2", 3, 3),
    ]
    assert parse_list_lu("") == []


@pytest.mark.parametrize(
    "device, lu, kind",
    [
        ("/dev/rdsk/c3t600C0FF000000000086CFB359771241Bd0s2", "600c0ff000000000086cfb359771241b", "disk"),
        ("/scsi_vhci/disk@g600a0b8000492c63000005fd49e8305b", "600a0b8000492c63000005fd49e8305b", "disk"),
        ("/scsi_vhci/ssd@g600a0b8000492c63000005fd49e8305b", "600a0b8000492c63000005fd49e8305b", "disk"),
        ("/scsi_vhci/enclosure@g600c0ff000000000086cfb0000000000", "600c0ff000000000086cfb0000000000", "enclosure"),
        ("/scsi_vhci/array-controller@g6742b0f0000075360000000000000000", "6742b0f0000075360000000000000000", "array-controller"),
        ("/dev/rdsk/c0t5000C500562A02E3d0s2", "5000c500562a02e3", "disk"),
        ("/dev/rdsk/c1t0d0s2", "/dev/rdsk/c1t0d0s2", "disk"),  # no WWN in the name: kept as printed
    ],
)
def test_lu_names(device, lu, kind):
    assert lu_id(device) == lu
    assert lu_type(device) == kind


@pytest.mark.parametrize(
    "text",
    [
        "\t\tTotal Path Count: 2\n",  # counts before any LU
        "\t/dev/rdsk/c0t5000C500562A02E3d0s2\n\t\tTotal Path Count: 2\n",  # operational missing
        "\t/dev/rdsk/c0t5000C500562A02E3d0s2\n\t\tTotal Path Count: two\n\t\tOperational Path Count: 1\n",
        "\t/dev/rdsk/c0t5000C500562A02E3d0s2\n\t\tTotal Path Count: 1\n\t\tOperational Path Count: 2\n",
        "mpathadm: Error: Unable to get the logical unit list.\n",
    ],
)
def test_list_lu_rejects(text):
    with pytest.raises(ParseError):
        parse_list_lu(text)


# real-captures I-10, asymmetric LU with two TPGs (blog 2009): INQUIRY padding, "Paths:  "
# with two trailing blanks (kept, marked $); the "..." lines of the excerpt filled from mpathadm.c's output
SHOW_ASYM = capture("solaris-multipathing-blog/mpathadm-show-lu-asymmetric.txt")

# real-captures I-10, symmetric SAS disk (FirmOS comment, published with 8-blank indents):
# no Target Port Groups block, Target Ports right after the paths, load balance none
SHOW_SAS = capture("firmos/mpathadm-show-lu-sas.txt")


def test_show_lu_asymmetric_real_capture():
    (d,) = parse_show_lu(SHOW_ASYM)
    assert d.device == "/scsi_vhci/disk@g600a0b8000492c63000005fd49e8305b"
    assert (d.vendor.strip(), d.product.strip(), d.revision) == ("SUN", "LCSM100_F", "0735")
    assert d.asymmetric is True and d.load_balance == "round-robin"
    assert [(p.target_port, p.state, p.disabled, p.up) for p in d.paths] == [
        ("203400a0b8492c63", "OK", False, True),
        ("202400a0b8492c63", "OK", True, False),  # disabled: counted operational by list lu, not usable
    ]
    assert [(t.id, t.access_state) for t in d.tpgs] == [("1", "active"), ("2", "standby")]
    assert d.transport == "fc"


def test_show_lu_symmetric_sas():
    (d,) = parse_show_lu(SHOW_SAS)
    assert d.tpgs == () and d.asymmetric is False and d.load_balance == "none"
    assert [p.name for p in d.paths] == ["w500605b0055961c0->w5000c500562a02e1", "w500605b0055961c0->w5000c500562a02e2"]
    assert [p.up for p in d.paths] == [True, False]
    assert d.transport == "sas"


def test_show_lu_several_blocks():
    got = parse_show_lu(SHOW_SAS + SHOW_ASYM)
    assert [d.device for d in got] == ["/dev/rdsk/c0t5000C500562A02E3d0s2", "/scsi_vhci/disk@g600a0b8000492c63000005fd49e8305b"]


@pytest.mark.parametrize(
    "port, transport",
    [
        ("w500605b0055961c0", "sas"),
        ("2101001b32a12ae9", "fc"),
        ("iqn.1986-03.com.sun:01:e00000000000.5f1a2b3c,4000002a0000", "iscsi"),
        ("eui.02004567A425678D", "iscsi"),
        ("something else", "unknown"),
    ],
)
def test_port_transport(port, transport):
    assert port_transport(port) == transport


@pytest.mark.parametrize(
    "text",
    [
        "\tVendor:  SUN\n",  # property before Logical Unit
        "Logical Unit:  /dev/rdsk/c0t1d0s2\n\tPaths:\n\t\tTarget Port Name:  x\n",  # path without initiator
        "Logical Unit:  /dev/rdsk/c0t1d0s2\n\tPaths:\n\t\tInitiator Port Name:  w1\n\t\tPath State:  OK\n",  # no target port
        "Logical Unit:  /dev/rdsk/c0t1d0s2\n\tno colon here\n",
        "\tLogical Unit:\n",  # block start without a name
    ],
)
def test_show_lu_rejects(text):
    with pytest.raises(ParseError):
        parse_show_lu(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("/\t :\n") + ["Total Path Count", "Operational Path Count", "1", "x", "/dev/rdsk/c0t1d0s2"]), max_size=40).map("".join))
def test_list_lu_fuzz(text):
    try:
        parse_list_lu(text)
    except ParseError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["Logical Unit:  /dev/x", "\tPaths:", "\t\tInitiator Port Name:  w1", "\t\tTarget Port Name:  w2",
                                 "\t\tPath State:  OK", "\tTarget Port Groups:", "\t\tID:  1", "\t\tAccess State:  active",
                                 "\tTarget Ports:", "\t\tName:  x", "garbage", "", "\tVendor:  SUN  ", ":"]), max_size=14).map("\n".join))
def test_show_lu_fuzz(text):
    try:
        parse_show_lu(text)
    except ParseError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_parsers_raise_only_parse_error(text):
    for parser in (parse_list_lu, parse_show_lu):
        try:
            parser(text)
        except ParseError:
            pass


# ------------------------------------------------------------------ cadence: which LUs get show lu


def _lu_block(device: str, states: list[str]) -> str:
    paths = "".join(f"\t\tInitiator Port Name:  w50060\n\t\tTarget Port Name:  w5000{i}\n\t\tPath State:  {s}\n\t\tDisabled:  no\n\n" for i, s in enumerate(states))
    return f"Logical Unit:  {device}\n\tCurrent Load Balance:  none\n\tPaths:  \n{paths}"


class FakeHost(Host):
    platform = "illumos"

    def __init__(self, lus: dict[str, list[str]]):
        self.lus = lus
        self.calls: list[list[str]] = []

    def run(self, tool, args, *, timeout):
        self.calls.append([tool, *args])
        if tool != "mpathadm":
            raise CommandNotFound(tool)
        if args[:2] == ["list", "lu"]:
            out = "".join(f"\t{d}\n\t\tTotal Path Count: {len(s)}\n\t\tOperational Path Count: {s.count('OK')}\n" for d, s in self.lus.items())
            return CommandResult(("mpathadm", *args), 0, out, "")
        dev = args[2]
        if dev not in self.lus:
            return CommandResult(("mpathadm", *args), 1, "", f"mpathadm: Error: Logical-unit {dev} is not found.\n")
        return CommandResult(("mpathadm", *args), 0, _lu_block(dev, self.lus[dev]), "")


def _shows(host):
    return [c[3] for c in host.calls if c[1] == "show"]


def test_detail_only_for_new_degraded_or_old_lus():
    host = FakeHost({"/dev/rdsk/c0t5000C500562A0001d0s2": ["OK", "OK"], "/dev/rdsk/c0t5000C500562A0002d0s2": ["OK", "OK"]})
    cache = DetailCache(max_age=300.0)
    lus = parse_list_lu(host.run("mpathadm", ["list", "lu"], timeout=1).stdout)
    cache.refresh(host, lus)
    assert sorted(_shows(host)) == sorted(host.lus)  # first time: every LU is new
    host.calls.clear()
    cache.refresh(host, lus)
    assert _shows(host) == []  # healthy and fresh: no show lu
    host.lus["/dev/rdsk/c0t5000C500562A0002d0s2"] = ["OK", "path error"]
    lus = parse_list_lu(host.run("mpathadm", ["list", "lu"], timeout=1).stdout)
    host.calls.clear()
    details = cache.refresh(host, lus)
    assert _shows(host) == ["/dev/rdsk/c0t5000C500562A0002d0s2"]  # only the degraded one
    assert [p.up for p in details["/dev/rdsk/c0t5000C500562A0002d0s2"].paths] == [True, False]
    # a stale detail is read again once it is older than max_age
    for dev in cache.read_at:
        cache.read_at[dev] -= 301
    host.calls.clear()
    cache.refresh(host, lus)
    assert sorted(_shows(host)) == sorted(host.lus)


def test_vanished_lu_is_skipped_not_fatal():
    host = FakeHost({"/dev/rdsk/c0t5000C500562A0001d0s2": ["OK", "OK"]})
    lus = [LuPaths("/dev/rdsk/c0t5000C500562A0001d0s2", 2, 2), LuPaths("/dev/rdsk/c0t5000C500562A0009d0s2", 2, 2)]
    details = DetailCache(300.0).refresh(host, lus)
    assert list(details) == ["/dev/rdsk/c0t5000C500562A0001d0s2"]


def test_collector_absent_without_mpathadm_and_without_lus():
    class NoTool(Host):
        platform = "illumos"

        def run(self, tool, args, *, timeout):
            raise CommandNotFound(tool)

    assert list(collect_families(Mpxio(NoTool(), Context("mpxio")))) == []
    assert list(collect_families(Mpxio(FakeHost({}), Context("mpxio")))) == []


def test_collector_fails_on_a_failing_list():
    class Broken(FakeHost):
        def run(self, tool, args, *, timeout):
            return CommandResult((tool, *args), 1, "", "mpathadm: Error: Unable to get the logical unit list.\n")

    with pytest.raises(RuntimeError):
        list(collect_families(Mpxio(Broken({}), Context("mpxio"))))


def test_scenario_commands_exist():
    """The scenario's command files carry the slugs the collector asks for."""
    d = os.path.join(SCENARIOS, "illumos-storage-mpxio", "commands")
    assert os.path.exists(os.path.join(d, slug("mpathadm", ["list", "lu"]) + ".out"))
