"""Parsers and absence handling of the illumos ipmp collector.

Formats from usr/src/cmd/cmd-inet/usr.sbin/ipmpstat/ipmpstat.c: sfunc_group_interfaces
(active names, then all inactive ones inside one ``(...)``, then all unusable ones inside
one ``[...]``), sfunc_group_fdt (``%.2fs``, empty when probing is off), sfunc_if_flags
(positions i s m b M d h), enum2str (``<n>`` for an unknown value), sockaddr2str with -n
(IPv6 escaped ``\\:`` by -P); main() dies with "cannot contact in.mpathd(1M) -- is IPMP in use?".
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.ipmp_illumos import (
    GROUP_ARGS,
    IF_ARGS,
    TARGET_ARGS,
    IpmpIllumos,
    parse_interfaces,
    parse_ipmpstat_g,
    parse_ipmpstat_i,
    parse_ipmpstat_t,
)
from exporter.api import Context, ParseError
from exporter.host import CommandResult, Host
from exporter.scrape import collect_families


def test_group_rows():
    got = parse_ipmpstat_g(
        "ipmp0:ipmp0:degraded:10.00s:net3 net2 net1 [net0]\n"
        "ipmp1:storage:ok::igb0 (igb1 igb2)\n"
        "ipmp2:web:failed:1.50s:[a b]\n"
        "ipmp3:new:<7>:10.00s:\n"
    )
    g0 = got["ipmp0"]
    assert (g0.groupname, g0.state, g0.fdt_seconds) == ("ipmp0", "degraded", 10.0)
    assert (g0.active, g0.inactive, g0.unusable) == (("net3", "net2", "net1"), (), ("net0",))
    g1 = got["ipmp1"]
    assert g1.fdt_seconds is None and g1.inactive == ("igb1", "igb2") and g1.groupname == "storage"
    assert got["ipmp2"].active == () and got["ipmp2"].unusable == ("a", "b")
    assert got["ipmp3"].state == "unknown" and got["ipmp3"].interfaces == ()


@pytest.mark.parametrize(
    "text,want",
    [
        ("a b", (("a", "b"), (), ())),
        ("(c)", ((), ("c",), ())),
        ("a (b) [c d]", (("a",), ("b",), ("c", "d"))),
        ("", ((), (), ())),
    ],
)
def test_interfaces_list(text, want):
    assert parse_interfaces(text) == want


@pytest.mark.parametrize("text", ["[a] (b)", "a (b", "a [b] c"])
def test_interfaces_list_rejects(text):
    with pytest.raises(ParseError):
        parse_interfaces(text)


def test_interface_rows_flags():
    got = parse_ipmpstat_i(
        "net1:yes:ipmp1:--mbM--:up:disabled:ok\n"
        "vnic0:no:ipmp1:-----d-:up:disabled:offline\n"
        "net3:no:ipmp0:is-----:up:ok:ok\n"
        "net0:no:ipmp0:-------:up:failed:failed\n"
        "net9:no:ipmp0:-------:<9>:unknown:<4>\n"
    )
    assert got["net1"].active and not got["net1"].standby and got["net1"].usable
    assert got["vnic0"].down and got["vnic0"].state == "offline" and not got["vnic0"].usable
    assert got["net3"].standby and got["net3"].inactive and got["net3"].usable
    # a failed member can have link up (real-captures I-8)
    assert got["net0"].link == "up" and got["net0"].state == "failed" and not got["net0"].usable
    assert (got["net9"].link, got["net9"].state) == ("unknown", "unknown")


def test_target_rows_ipv6_escapes_and_empty_targets():
    got = parse_ipmpstat_t(
        "net0:multicast:fe80\\:\\:21b\\:21ff\\:feaa\\:bb12:fe80\\:\\:1 fe80\\:\\:2\n"
        "net1:routes:10.10.1.12:\n"
        "net2:disabled::\n"
    )
    assert got[0].testaddr == "fe80::21b:21ff:feaa:bb12" and got[0].targets == ("fe80::1", "fe80::2")
    assert got[1].targets == () and got[2].mode == "disabled" and got[2].testaddr == ""


@pytest.mark.parametrize(
    "parse,text",
    [
        (parse_ipmpstat_g, "ipmp0:ipmp0:ok:10 seconds:net0\n"),
        (parse_ipmpstat_g, "GROUP       GROUPNAME   STATE     FDT       INTERFACES\n"),  # human form
        (parse_ipmpstat_i, "net0:maybe:ipmp0:-------:up:ok:ok\n"),
        (parse_ipmpstat_i, "net0:yes:ipmp0:--x----:up:ok:ok\n"),
        (parse_ipmpstat_t, "net0:routes:10.0.0.1\n"),
    ],
)
def test_rejects(parse, text):
    with pytest.raises(ParseError):
        parse(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parsers_raise_only_parse_error(text):
    for parse in (parse_ipmpstat_g, parse_ipmpstat_i, parse_ipmpstat_t, parse_interfaces):
        try:
            parse(text)
        except ParseError:
            pass


class FakeHost(Host):
    platform = "illumos"

    def __init__(self, results):
        self.results = results

    def run(self, tool, args, *, timeout):
        rc, out, err = self.results.get((tool, *args), (0, "", ""))
        return CommandResult((tool, *args), rc, out, err)


def _collect(results):
    return list(collect_families(IpmpIllumos(FakeHost(results), Context("ipmp", {}))))


def test_in_mpathd_not_running_is_absent():
    msg = "ipmpstat: cannot contact in.mpathd(1M) -- is IPMP in use?\n"
    assert _collect({("ipmpstat", *GROUP_ARGS): (1, "", msg)}) == []
    assert _collect({("ipmpstat", *GROUP_ARGS): (1, "", msg.replace("(1M)", "(8)"))}) == []


def test_no_groups_is_absent():
    assert _collect({}) == []


def test_other_ipmpstat_failures_are_failures():
    with pytest.raises(RuntimeError):
        _collect({("ipmpstat", *GROUP_ARGS): (1, "", "ipmpstat: cannot snapshot IPMP state: permission denied\n")})


def test_collector_group_model_and_totals():
    fams = {
        f.name: f
        for f in _collect(
            {
                ("ipmpstat", *GROUP_ARGS): (0, "ipmp0:ipmp0:degraded:10.00s:net1 [net0]\n", ""),
                ("ipmpstat", *IF_ARGS): (0, "net1:yes:ipmp0:--mb---:up:ok:ok\nnet0:no:ipmp0:-------:down:failed:failed\n", ""),
                ("ipmpstat", *TARGET_ARGS): (0, "net1:routes:10.0.0.11:10.0.0.1 10.0.0.2\nnet0:routes:10.0.0.12:\n", ""),
                ("kstat", "-p", "ipmp:0:/^(ipmp0)$/"): (0, "ipmp:0:ipmp0:obytes64\t700\nipmp:0:ipmp0:rbytes64\t900\nipmp:0:ipmp0:link_up\t1\n", ""),
            }
        )
    }
    assert dict(fams["lanes_ipmp_group_state"].samples)[("ipmp0", "degraded")] == 1
    assert dict(fams["lanes_ipmp_group_receive_bytes_total"].samples) == {("ipmp0",): 900}
    assert dict(fams["lanes_ipmp_interface_probe_targets"].samples) == {("ipmp0", "net0"): 0, ("ipmp0", "net1"): 2}
    assert dict(fams["lanes_member_up"].samples) == {("ipmp", "ipmp0", "net0"): 0, ("ipmp", "ipmp0", "net1"): 1}
    assert fams["lanes_group_info"].samples == [(("ipmp", "ipmp0", "active-active", "load"), 1)]
