"""The FreeBSD gmultipath collector: ``gmultipath list`` (sbin/geom/core/geom.c
list_one_geom with the MULTIPATH config of sys/geom/multipath/g_multipath.c
g_multipath_dumpconf)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.gmultipath_freebsd import GmultipathFreebsd, parse_geom_list, to_groups
from exporter.api import Context, Member, ParseError
from exporter.host import CommandResult, Host
from exporter.scrape import collect_families


def consumer(n, name, state):
    return f"{n}. Name: {name}\n   Mediasize: 1099511627776 (1.0T)\n   Sectorsize: 512\n   Mode: r2w2e4\n   State: {state}\n"


def geom(name, state, mode, consumers, provider_state=None):
    return (
        f"Geom name: {name}\nState: {state}\nUUID: 5e0f4c3a-9b1d-11ee-8c4d-90e2ba112230\nMode: {mode}\nType: AUTOMATIC\n"
        f"Providers:\n1. Name: multipath/{name}\n   Mediasize: 1099511627264 (1.0T)\n   Sectorsize: 512\n   Mode: r1w1e3\n   State: {provider_state or state}\n"
        "Consumers:\n" + "".join(consumer(i, c, s) for i, (c, s) in enumerate(consumers, 1)) + "\n"
    )


TEXT = geom("db01", "DEGRADED", "Active/Active", [("da0", "ACTIVE"), ("da1", "FAIL")]) + geom(
    "db02", "OPTIMAL", "Active/Passive", [("da2", "ACTIVE"), ("da3", "PASSIVE")]
) + geom("db03", "OPTIMAL", "Active/Read", [("da4", "ACTIVE"), ("da5", "READ"), ("da6", "NEW")])


def test_list():
    mps = parse_geom_list(TEXT)
    assert [(m.name, m.provider, m.mode, m.state) for m in mps] == [
        ("db01", "multipath/db01", "Active/Active", "DEGRADED"),
        ("db02", "multipath/db02", "Active/Passive", "OPTIMAL"),
        ("db03", "multipath/db03", "Active/Read", "OPTIMAL"),
    ]
    assert [(c.name, c.state, c.config["Mode"]) for c in mps[0].consumers] == [("da0", "ACTIVE", "r2w2e4"), ("da1", "FAIL", "r2w2e4")]
    assert mps[0].config["Type"] == "AUTOMATIC"
    assert parse_geom_list("") == []


def test_groups_up_preferred_and_balancing():
    gs = {g.name: g for g in to_groups(parse_geom_list(TEXT))}
    assert {m.name: m.up for m in gs["multipath/db01"].members} == {"da0": True, "da1": False}
    assert gs["multipath/db01"].balancing == "load" and gs["multipath/db02"].balancing == "failover"
    assert {m.name: m.up for m in gs["multipath/db03"].members} == {"da4": True, "da5": True, "da6": False}
    if "preferred" in {f.name for f in dataclasses.fields(Member)}:
        pref = {g: {m.name: m.preferred for m in gs[g].members} for g in gs}
        assert pref["multipath/db02"] == {"da2": True, "da3": False}
        assert pref["multipath/db03"] == {"da4": True, "da5": True, "da6": False}


def test_preferred_rule_without_the_model_field():
    from collectors.gmultipath_freebsd import path_preferred

    assert path_preferred("Active/Passive", "ACTIVE") and not path_preferred("Active/Passive", "PASSIVE")
    assert path_preferred("Active/Active", "ACTIVE")
    assert path_preferred("Active/Read", "READ")


def test_consumer_without_provider_is_skipped():
    text = "Geom name: d\nState: DEGRADED\nMode: Active/Passive\nConsumers:\n1. [no provider]\n   State: LOST\n2. Name: da9\n   Mode: r0w0e0\n   State: ACTIVE\n"
    (mp,) = parse_geom_list(text)
    assert [c.name for c in mp.consumers] == ["da9"]
    assert mp.provider == "multipath/d"


@pytest.mark.parametrize(
    "text",
    [
        "State: OPTIMAL\n",  # before any geom
        "Geom name: \n",
        "Geom name: d\n1. Name: da0\n",  # entry outside a section
        "Geom name: d\nConsumers:\n1. Mediasize: 1\n",
        "Geom name: d\nConsumers:\n1. Name: da0\n   no colon here\n",
        "Geom name: d\nConsumers:\n1. Name: da0\nState: late\n",
    ],
)
def test_rejects(text):
    with pytest.raises(ParseError):
        parse_geom_list(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_parser_raises_only_parse_error(text):
    try:
        parse_geom_list(text)
    except ParseError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["Geom name: d", "Geom name:", "Providers:", "Consumers:", "1. Name: da0", "2. [no provider]", "   State: FAIL", "State: OPTIMAL", "Mode: Active/Passive", "x", "", "   x"]), max_size=14))
def test_parser_on_near_miss_lines(lines):
    try:
        parse_geom_list("\n".join(lines))
    except ParseError:
        pass


class FakeHost(Host):
    platform = "freebsd"

    def __init__(self, rc, out, err=""):
        self.result = (rc, out, err)

    def run(self, tool, args, *, timeout):
        return CommandResult((tool, *args), *self.result)


def test_class_not_loaded_is_absent():
    host = FakeHost(1, "", "gmultipath: Class 'MULTIPATH' not found.\n")
    assert list(collect_families(GmultipathFreebsd(host, Context("gmultipath", {})))) == []


def test_collector_series():
    fams = {f.name: f for f in collect_families(GmultipathFreebsd(FakeHost(0, TEXT), Context("gmultipath", {})))}
    assert dict(fams["lanes_gmultipath_path_state"].samples)[("multipath/db01", "da1", "FAIL")] == 1
    assert dict(fams["lanes_gmultipath_state"].samples)[("multipath/db01", "DEGRADED")] == 1
    assert dict(fams["lanes_group_members_up"].samples) == {("gmultipath", "multipath/db01"): 1, ("gmultipath", "multipath/db02"): 2, ("gmultipath", "multipath/db03"): 2}


class ToolsHost(Host):
    platform = "freebsd"

    def __init__(self, outputs):
        self.outputs = outputs

    def run(self, tool, args, *, timeout):
        rc, out, err = self.outputs.get((tool, *args), (1, "", f"{tool}: Permission denied\n"))
        return CommandResult((tool, *args), rc, out, err)


IFCONFIG = (
    "ix0: flags=8843 metric 0 mtu 9000\n\tinet 10.30.1.21 netmask 0xffffff00 broadcast 10.30.1.255\n"
    "\tmedia: Ethernet autoselect (10Gbase-Twinax <full-duplex>)\n\tstatus: active\n"
)
ISCSICTL = "Target name                          Target portal    State\niqn.x:db01                           10.30.1.10       Connected: da0 \n"


def test_paths_join_their_iscsi_session_and_nic():
    host = ToolsHost({
        ("gmultipath", "list"): (0, geom("db01", "DEGRADED", "Active/Active", [("da0", "ACTIVE"), ("da1", "FAIL")]), ""),
        ("iscsictl", "-L"): (0, ISCSICTL, ""),
        ("ifconfig", "-a"): (0, IFCONFIG, ""),
        ("netstat", "-i", "-b", "-n", "--libxo", "json"): (0, '{"statistics": {"interface": []}}', ""),
    })
    fams = {f.name: f for f in collect_families(GmultipathFreebsd(host, Context("gmultipath", {})))}
    assert dict(fams["lanes_gmultipath_path_info"].samples) == {("multipath/db01", "da0", "iqn.x:db01", "10.30.1.10", "ix0"): 1}
    assert dict(fams["lanes_member_speed_bytes"].samples) == {("gmultipath", "multipath/db01", "da0"): 1_250_000_000}


def test_the_join_is_best_effort_without_iscsictl():
    host = ToolsHost({("gmultipath", "list"): (0, TEXT, "")})
    fams = {f.name: f for f in collect_families(GmultipathFreebsd(host, Context("gmultipath", {})))}
    assert fams["lanes_gmultipath_path_info"].samples == []
    assert dict(fams["lanes_group_members_up"].samples)[("gmultipath", "multipath/db01")] == 1
