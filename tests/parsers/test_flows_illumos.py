"""Parsers of the illumos flows collector: connstat -P, ipadm show-addr -p, dladm
show-link -p (formats: connstat(8), ipadm(8), dladm(8); research/illumos.md)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.flows_illumos import group_of, parse_addresses, parse_connstat, parse_show_link
from exporter.api import ParseError
from exporter.config import DeclaredGroup

# connstat -P -e -o laddr,lport,raddr,rport,inbytes,outbytes: the research example's
# first line (research/illumos.md, connstat section) cut to the fields lanes asks for
CONNSTAT = "10.10.1.10,3260,10.10.1.21,33817,918273645512,1203948576623\nfd00:50::10,3260,fd00:50::21,40122,1,2\n"


def test_connstat_lines():
    a, b = parse_connstat(CONNSTAT)
    assert (a.local, a.remote, a.bytes_received, a.bytes_acked) == ("10.10.1.10:3260", "10.10.1.21:33817", 918273645512, 1203948576623)
    assert (b.local, b.remote_addr, b.remote_port) == ("[fd00:50::10]:3260", "fd00:50::21", 40122)


def test_connstat_ipv4_mapped_is_ipv4():
    (a,) = parse_connstat("::ffff:10.10.1.10,3260,::ffff:10.10.1.21,33817,1,2\n")
    assert (a.local, a.remote) == ("10.10.1.10:3260", "10.10.1.21:33817")


def test_connstat_timestamps_skipped():
    assert len(parse_connstat("= 1733500000\n" + CONNSTAT)) == 2


@pytest.mark.parametrize(
    "line, why",
    [
        ("10.10.1.10,3260,10.10.1.21,33817,1,2,187", "7 fields where lanes asked for 6"),
        ("10.10.1.10,3260,10.10.1.21,33817,1", "5 fields"),
        ("10.10.1.10,3260,host-a,33817,1,2", "not an address"),
        ("10.10.1.10,3260,10.10.1.21,0,1,2", "port out of range"),
        ("10.10.1.10,3260,10.10.1.21,33817,-1,2", "outside"),
        ("10.10.1.10,3260,10.10.1.21,33817,x,2", "not an integer"),
    ],
)
def test_connstat_unknown_field_or_bad_value_is_a_parse_error(line, why):
    with pytest.raises(ParseError, match=why):
        parse_connstat(line + "\n")


def test_ipadm_addresses_escaped_colons():
    text = "lo0/v4:127.0.0.1/8\nstor0/v4:10.10.1.10/24\nstor0/v6:fd00\\:50\\:\\:10/64\nnet0/dhcp:?\n"
    assert parse_addresses(text) == {"127.0.0.1": "lo0", "10.10.1.10": "stor0", "fd00:50::10": "stor0"}


def test_show_link_and_group():
    classes = parse_show_link("aggr0:aggr:9000:up:ixgbe0,ixgbe1\nstor0:vnic:9000:up:aggr0\ne1000g0:phys:1500:up:\nipmp0:ipmp:1500:up:net1,net2\n")
    assert classes["stor0"] == ("vnic", "aggr0")
    assert group_of("stor0", classes, {}) == ("aggr", "aggr0", "")
    assert group_of("aggr0", classes, {}) == ("aggr", "aggr0", "")
    assert group_of("ipmp0", classes, {}) == ("ipmp", "ipmp0", "")
    assert group_of("e1000g0", classes, {}) == ("", "", "")
    declared = {"san": DeclaredGroup(("e1000g0", "ixgbe9"), "load", "", None)}
    assert group_of("e1000g0", classes, declared) == ("declared", "san", "e1000g0")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789.,:abcdef=\n -")), max_size=200))
def test_connstat_raises_only_parse_error(text):
    try:
        parse_connstat(text)
    except ParseError:
        pass


def test_sampler_reader_returns_the_flows_it_follows_only():
    from collectors.flows_illumos import read_flow_bytes
    from exporter.host import CommandResult

    class Host:
        def run(self, tool, args, timeout):
            assert tool == "connstat"
            return CommandResult(argv=(tool, *args), returncode=0, stdout=CONNSTAT, stderr="")

    first = "10.10.1.10:3260 10.10.1.21:33817"
    assert read_flow_bytes(Host(), frozenset({first})) == {first: (918273645512, 1203948576623)}
    assert len(read_flow_bytes(Host(), None)) == 2  # no keys: every storage flow
