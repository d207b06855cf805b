"""Parsers and port judgement of the illumos aggr collector.

Formats from usr/src/cmd/dladm/dladm.c: print_xaggr_cb (aggregation row with empty PORT and
PORTSTATE, LINK repeated on port rows in parseable mode, SPEED ``%uMb``), print_lacp_cb
(LINK only on the first port row), libdladm's strings (attached/standby, off/active/passive,
short/long, L2/L3/L4 joined by ``,``) and MACs as _link_ntoa prints them, escaped ``\\:``.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors._link_common import Link
from collectors.aggr_illumos import (
    EXTENDED_ARGS,
    LACP_ARGS,
    SUMMARY_ARGS,
    AggrIllumos,
    AggrTopology,
    parse_show_aggr,
    parse_show_aggr_lacp,
    parse_show_aggr_x,
    port_statuses,
)
from exporter.api import Context, ParseError
from exporter.host import CommandResult, Host
from exporter.scrape import collect_families

EXTENDED = (
    "aggr0::10000Mb:full:up:0\\:1b\\:21\\:aa\\:bb\\:10:\n"
    "aggr0:ixgbe0:10000Mb:full:up:0\\:1b\\:21\\:aa\\:bb\\:10:attached\n"
    "aggr0:ixgbe1:0Mb:unknown:down:ac\\:1f\\:6b\\:a5\\:f8\\:43:standby\n"
    "aggr1::0Mb:unknown:down:unknown:\n"
    ":igb1:0Mb:half:down:unknown:standby\n"
)
LACP = "aggr0:ixgbe0:yes:yes:yes:yes:no:no\n:ixgbe1:yes:yes:yes:yes:no:no\naggr1:igb1:no:no:no:no:no:no\n"


def test_extended_rows_escapes_and_aggregate_row():
    got = parse_show_aggr_x(EXTENDED)
    a0 = got["aggr0"]
    assert (a0.speed_mbit, a0.state, a0.mac) == (10000, "up", "0:1b:21:aa:bb:10")
    assert [p.port for p in a0.ports] == ["ixgbe0", "ixgbe1"]
    assert a0.ports[1].mac == "ac:1f:6b:a5:f8:43"  # two-digit octets (real-captures I-5)
    assert (a0.ports[1].speed_mbit, a0.ports[1].duplex, a0.ports[1].portstate) == (0, "unknown", "standby")
    # an empty LINK on a port row is carried forward from the aggregation row
    assert [p.port for p in got["aggr1"].ports] == ["igb1"] and got["aggr1"].mac == "unknown"


def test_lacp_link_carried_forward():
    got = parse_show_aggr_lacp(LACP)
    assert set(got) == {("aggr0", "ixgbe0"), ("aggr0", "ixgbe1"), ("aggr1", "igb1")}
    assert got[("aggr0", "ixgbe1")].bits == dict.fromkeys(("aggregatable", "sync", "collecting", "distributing"), True) | {
        "defaulted": False,
        "expired": False,
    }


def test_summary_policy_and_dlmp_dashes():
    got = parse_show_aggr("aggr0:L2,L3:fixed (0\\:1b\\:21\\:aa\\:bb\\:20):active:short\naggr2:--:--:--:--\n")
    assert got["aggr0"].policy == "L2,L3" and got["aggr0"].addrpolicy == "fixed (0:1b:21:aa:bb:20)"
    assert (got["aggr2"].policy, got["aggr2"].lacp_mode) == ("", "")


@pytest.mark.parametrize(
    "parse,text",
    [
        (parse_show_aggr_lacp, "aggr0:ixgbe0:yes:yes:maybe:yes:no:no\n"),
        (parse_show_aggr_lacp, ":ixgbe0:yes:yes:yes:yes:no:no\n"),  # no aggregation to carry
        (parse_show_aggr_lacp, "aggr0:ixgbe0:yes:yes\n"),
        (parse_show_aggr_x, ":ixgbe0:10000Mb:full:up:0\\:1b:attached\n"),
        (parse_show_aggr_x, "aggr0:ixgbe0:fastMb:full:up:x:attached\n"),
        (parse_show_aggr, "aggr0 L4 auto active short\n"),  # the human form
        (parse_show_aggr, ":L4:auto:active:short\n"),
    ],
)
def test_rejects(parse, text):
    with pytest.raises(ParseError):
        parse(text)


def test_empty_output_means_no_aggregations():
    assert parse_show_aggr("") == {} and parse_show_aggr_x("") == {} and parse_show_aggr_lacp("") == {}


def _topo(extended=EXTENDED, lacp=LACP, summary="aggr0:L4:auto:active:short\naggr1:L4:auto:off:short\n"):
    return AggrTopology(parse_show_aggr(summary), parse_show_aggr_x(extended), parse_show_aggr_lacp(lacp))


def test_down_port_with_healthy_lacp_bits_is_down():
    # smartos-live#800: the actor bits of an unplugged port still read yes yes yes yes no no
    ports = {(p.aggr, p.port): p for p in port_statuses(_topo(), {})}
    p = ports[("aggr0", "ixgbe1")]
    assert not p.link_up and not p.up
    assert p.speed_bytes is None  # a down port's 0 Mb is no capacity
    assert p.check("not_aggregating") is False  # the member-down alert covers it
    assert ports[("aggr0", "ixgbe0")].up
    assert ports[("aggr1", "igb1")].check("not_aggregating") is None  # LACP off: not applicable


def test_fresh_link_state_from_the_link_table_wins():
    links = {"ixgbe1": Link(name="ixgbe1", operstate="up", speed_bytes=1_250_000_000)}
    topo = _topo(extended=EXTENDED.replace("0Mb:unknown:down:ac", "10000Mb:full:up:ac"))
    p = {x.port: x for x in port_statuses(topo, links)}["ixgbe1"]
    # link up, LACP bits healthy, but dladm left it in standby: outside the aggregation
    assert p.link_up and not p.up and p.check("not_aggregating") is True
    links = {"ixgbe0": Link(name="ixgbe0", operstate="down")}
    p0 = {x.port: x for x in port_statuses(_topo(), links)}["ixgbe0"]
    assert not p0.link_up and not p0.up


def test_attached_but_not_collecting_is_down_with_checks():
    topo = _topo(lacp="aggr0:ixgbe0:yes:yes:yes:yes:no:no\n:ixgbe1:yes:no:no:no:yes:no\n",
                 extended=EXTENDED.replace("0Mb:unknown:down:ac\\:1f\\:6b\\:a5\\:f8\\:43:standby", "10000Mb:full:up:ac\\:1f\\:6b\\:a5\\:f8\\:43:attached"))
    p = {x.port: x for x in port_statuses(topo, {})}["ixgbe1"]
    assert not p.up
    assert [p.check(c) for c in ("not_aggregating", "sync_missing", "defaulted", "expired")] == [True, True, True, False]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parsers_raise_only_parse_error(text):
    for parse in (parse_show_aggr, parse_show_aggr_x, parse_show_aggr_lacp):
        try:
            parse(text)
        except ParseError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["aggr0", "", "ixgbe0", "yes", "no", "10000Mb", "0Mb", "x", "attached", "\\:", "--"]), max_size=9))
def test_parsers_on_near_miss_rows(fields):
    line = ":".join(fields) + "\n"
    for parse in (parse_show_aggr, parse_show_aggr_x, parse_show_aggr_lacp):
        try:
            parse(line * 2)
        except ParseError:
            pass


class Host1(Host):
    platform = "illumos"

    def __init__(self, outputs):
        self.outputs = outputs
        self.calls = []

    def run(self, tool, args, *, timeout):
        self.calls.append((tool, *args))
        return CommandResult((tool, *args), 0, self.outputs.get((tool, *args), ""), "")


def test_no_aggregations_is_absent_and_runs_one_command():
    host = Host1({})
    assert list(collect_families(AggrIllumos(host, Context("aggr", {})))) == []
    assert host.calls == [("dladm", *SUMMARY_ARGS)]


def test_collector_group_model():
    host = Host1({
        ("dladm", *SUMMARY_ARGS): "aggr0:L4:auto:active:short\n",
        ("dladm", *EXTENDED_ARGS): EXTENDED,
        ("dladm", *LACP_ARGS): LACP,
    })
    fams = {f.name: f for f in collect_families(AggrIllumos(host, Context("aggr", {})))}
    assert dict(fams["lanes_member_up"].samples) == {
        ("aggr", "aggr0", "ixgbe0"): 1, ("aggr", "aggr0", "ixgbe1"): 0, ("aggr", "aggr1", "igb1"): 0,
    }
    assert dict(fams["lanes_group_members_up"].samples)[("aggr", "aggr0")] == 1
    assert dict(fams["lanes_aggr_capacity_bytes"].samples)[("aggr0",)] == 1_250_000_000
