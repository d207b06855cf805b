"""The FreeBSD iscsi collector: ``iscsictl -L`` (usr.bin/iscsictl/iscsictl.c kernel_list,
non-verbose branch: ``%-36s %-16s`` then the state; periphs.c prints each device followed
by a blank)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.iscsi_freebsd import IscsiFreebsd, Session, parse_iscsictl_list, to_groups
from exporter.api import Context, ParseError
from exporter.host import CommandResult, Host
from exporter.scrape import collect_families

DB = "iqn.2005-10.org.freenas.ctl:db01"
LONG = "iqn.2005-10.org.freenas.ctl:a-target-name-longer-than-36-characters"
TEXT = (
    f"{'Target name':<36} {'Target portal':<16} State\n"
    f"{DB:<36} {'10.30.1.10':<16} Connected: da0 da3 \n"
    f"{DB:<36} {'10.30.2.10':<16} Connection refused\n"
    f"{LONG:<36} {'[fd00::10]:3260':<16} Disconnected\n"
    f"{'iqn.x:disabled':<36} {'10.30.1.10':<16} Disabled\n"
    f"{'':<36} {'10.30.1.10':<16} Discovery\n"
)


def test_list_rows():
    got = parse_iscsictl_list(TEXT)
    assert got == [
        Session(DB, "10.30.1.10", "connected", "", ("da0", "da3")),
        Session(DB, "10.30.2.10", "failed", "Connection refused", ()),
        Session(LONG, "[fd00::10]:3260", "disconnected", "", ()),
        Session("iqn.x:disabled", "10.30.1.10", "disabled", "", ()),
        Session("", "10.30.1.10", "discovery", "", ()),  # no target name: a blank column
    ]
    assert parse_iscsictl_list(f"{'Target name':<36} {'Target portal':<16} State\n") == []


def test_groups_skip_discovery_and_count_failed_and_disabled_as_down():
    groups = {g.name: g for g in to_groups(parse_iscsictl_list(TEXT))}
    assert {m.name: m.up for m in groups[DB].members} == {"10.30.1.10": True, "10.30.2.10": False}
    assert [m.up for m in groups["iqn.x:disabled"].members] == [False]
    assert all(g.kind == "iscsi" and g.balancing == "load" for g in groups.values())
    assert "" not in groups  # the discovery row


@pytest.mark.parametrize("text", ["iqn.x:y 10.0.0.1\n", "lonely\n", "    10.0.0.1 Connected: da0\n"])
def test_rejects(text):
    with pytest.raises(ParseError):
        parse_iscsictl_list(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_parser_raises_only_parse_error(text):
    try:
        parse_iscsictl_list(text)
    except ParseError:
        pass


class FakeHost(Host):
    platform = "freebsd"

    def __init__(self, rc, out, err=""):
        self.result = (rc, out, err)

    def run(self, tool, args, *, timeout):
        return CommandResult((tool, *args), *self.result)


def test_no_iscsi_module_is_absent_and_other_errors_fail():
    absent = FakeHost(1, "", "iscsictl: failed to open /dev/iscsi: No such file or directory\n")
    assert list(collect_families(IscsiFreebsd(absent, Context("iscsi", {})))) == []
    denied = FakeHost(1, "", "iscsictl: failed to open /dev/iscsi: Permission denied\n")
    with pytest.raises(RuntimeError, match="Permission denied"):
        list(collect_families(IscsiFreebsd(denied, Context("iscsi", {}))))


def test_session_state_exports_the_current_state_only():
    fams = {f.name: f for f in collect_families(IscsiFreebsd(FakeHost(0, TEXT), Context("iscsi", {})))}
    assert dict(fams["lanes_iscsi_session_state"].samples)[(DB, "10.30.2.10", "failed")] == 1
    assert all(v == 1 for _, v in fams["lanes_iscsi_session_state"].samples)
    assert dict(fams["lanes_iscsi_session_disks"].samples)[(DB, "10.30.1.10")] == 2


@pytest.mark.parametrize("portal,address", [("10.30.1.10", "10.30.1.10"), ("10.30.1.10:3260", "10.30.1.10"), ("[fd00::10]:3260", "fd00::10"), ("fd00::10", "fd00::10"), ("nas01:3260", "nas01")])
def test_portal_address(portal, address):
    from collectors.iscsi_freebsd import portal_address

    assert portal_address(portal) == address
