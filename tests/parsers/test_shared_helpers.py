"""The shared collector modules: collectors/_lacp.py (IEEE 802.1AX-2014 6.4.2.3 port state
bits), collectors/_parse.py, collectors/_routes.py (net/ipv4/fib_trie.c
fib_route_seq_show, net/ipv6/route.c), and the exposition's checked API."""

from __future__ import annotations

import pytest

from collectors import _lacp
from collectors._parse import int_or_none, mac, opt_int, parse_int, parseable_rows, split_parseable, uint
from collectors._routes import RouteTable, parse_ipv6_route, parse_proc_net_route, route_iface
from exporter.api import ParseError
from exporter.metrics import SeriesCache, Stateset, add_state, gauge, render

# ------------------------------------------------------------------ LACP


def test_lacp_bits_are_the_802_1ax_order():
    assert [m for _, m in _lacp.LACP_BITS] == [1 << i for i in range(8)]
    assert (_lacp.SYNC, _lacp.COLLECTING, _lacp.DISTRIBUTING, _lacp.DEFAULTED) == (0x08, 0x10, 0x20, 0x40)


@pytest.mark.parametrize(
    "actor,partner,want",
    [
        (0x3D, 0x3D, True),  # 61: active, aggregation, sync, collecting, distributing
        (0x0F, 0x37, False),  # real capture (bond): 15 with partner 55, in the aggregator but idle
        (0x3D, None, True),  # partner state unknown: judged on the actor
        (0x3D, 0x0D, False),
    ],
)
def test_in_sync(actor, partner, want):
    assert _lacp.in_sync(actor, partner) is want


def test_timeout_mismatch_not_judged_while_defaulted():
    assert _lacp.timeout_mismatch(0x3F, 0x3D) is True  # fast vs slow
    assert _lacp.timeout_mismatch(0x3F, 0x3F) is False
    assert _lacp.timeout_mismatch(0x47, 0x02) is False  # defaulted: partner bits are local defaults


def test_partner_systems_and_state_from_bits():
    assert _lacp.partner_systems(["00:00:00:00:00:00", None, "aa:bb:cc:dd:ee:01", "aa:bb:cc:dd:ee:01"]) == {"aa:bb:cc:dd:ee:01"}
    assert _lacp.no_partner_system(["00:00:00:00:00:00"]) is True
    state = _lacp.state_from_bits({"synchronization": True, "collecting": True, "distributing": False})
    assert state == _lacp.SYNC | _lacp.COLLECTING
    assert not _lacp.collecting_distributing(state)
    assert _lacp.state_from_bits({"collecting": None}) is None
    assert _lacp.has(None, _lacp.SYNC) is None


# ------------------------------------------------------------------ parsing helpers


def test_split_parseable_escapes():
    # ipadm show-addr -p: IPv6 colons escaped (PSARC 2008/374)
    assert split_parseable(r"ixgbe0/v6:fe80\:\:1/10") == ["ixgbe0/v6", "fe80::1/10"]
    assert split_parseable(r"a\\:b") == ["a\\", "b"]
    assert split_parseable("a::b") == ["a", "", "b"]
    with pytest.raises(ParseError):
        split_parseable("a\\")
    with pytest.raises(ParseError, match="2 fields, expected 3"):
        list(parseable_rows("a:b\n", "dladm", 3))


def test_integers_and_macs():
    assert parse_int(" 42\n", "f") == 42
    with pytest.raises(ParseError, match="f:3: not an integer"):
        parse_int("4x", "f", 3)
    assert opt_int("--", "f") is None and opt_int("?", "f") is None and opt_int(None, "f") is None
    assert opt_int("N/A", "f", 1, ("", "N/A")) is None
    with pytest.raises(ParseError):
        opt_int("N/A", "f", 1, ("",))
    assert uint("7", "f") == 7
    with pytest.raises(ParseError):
        uint("\u00b2", "f")  # a digit to str.isdigit, not to int()
    assert int_or_none("0x1003") == 0x1003 and int_or_none("unknown") is None
    assert mac(" AA:bb:cc:dd:ee:0F\n", "f") == "aa:bb:cc:dd:ee:0f"
    assert mac("", "f") is None
    with pytest.raises(ParseError):
        mac("aa:bb:cc", "f")


# ------------------------------------------------------------------ routes: one parser, one lookup

ROUTE = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "eno1\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
    "ens1f0\t000AA8C0\t00000000\t0001\t0\t0\t101\t00FFFFFF\t0\t0\t0\n"
    # ip route add unreachable 192.168.30.0/24: RTF_UP|RTF_REJECT on lo
    "lo\t001EA8C0\t00000000\t0201\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
)
Z = "0" * 32
ROUTE6 = (
    f"fd000020000000000000000000000000 40 {Z} 00 {Z} 00000100 00000001 00000000 00000001   ens2f0\n"
    # local route of the host's own address: on lo, not rejecting
    f"fd000020000000000000000000000011 80 {Z} 00 {Z} 00000000 00000001 00000000 80200001       lo\n"
    f"{Z} 00 {Z} 00 {Z} ffffffff 00000001 00000000 00200200       lo\n"  # unreachable default
)


def test_reject_routes_are_dropped_for_both_families():
    assert [(r.iface, str(r.network)) for r in parse_proc_net_route(ROUTE)] == [("eno1", "0.0.0.0/0"), ("ens1f0", "192.168.10.0/24")]
    assert [(r.iface, str(r.network)) for r in parse_ipv6_route(ROUTE6)] == [("ens2f0", "fd00:20::/64"), ("lo", "fd00:20::11/128")]


def test_lookup_ignores_lo_and_prefers_the_longest_prefix():
    table = RouteTable(routes4=parse_proc_net_route(ROUTE), routes6=parse_ipv6_route(ROUTE6))
    assert route_iface(table.routes, "192.168.10.7") == "ens1f0"
    assert route_iface(table.routes, "192.168.30.7") == "eno1"  # the reject route is gone: default route
    assert route_iface(table.routes, "[fd00:20::11]") == "ens2f0"  # the /128 on lo is not a way out
    assert route_iface(table.routes, "fe80::1%ens9") == "ens9"
    assert route_iface(table.routes, "target.example") is None


# ------------------------------------------------------------------ exposition: one checked API


def test_family_add_checks_and_normalises_labels():
    g = gauge("x", "help", ("a", "b"))
    g.add(["1", None], True)
    g.add((2, "y"), 3)
    assert g.samples == [(("1", ""), 1), (("2", "y"), 3)]
    with pytest.raises(ValueError, match="2 labels, got 1"):
        g.add(("only",), 1)


def test_stateset_checks_once_and_matches_add_stateset():
    fam = gauge("s", "help", ("k", "state"))
    ss = Stateset(("up", "down", "unknown"))
    ss.add(fam, ("a",), "up")
    ss.add(fam, ("b",), "weird")
    assert fam.samples == [
        (("a", "up"), 1), (("a", "down"), 0), (("a", "unknown"), 0),
        (("b", "up"), 0), (("b", "down"), 0), (("b", "unknown"), 1),
    ]  # fmt: skip
    with pytest.raises(ValueError):
        ss.add(gauge("t", "help", ("k", "l", "state")), ("a",), "up")


def test_add_state_exports_the_current_state_only():
    """SPEC §9: a path's or session's state is one series, value 1, state in the label."""
    fam = gauge("s", "help", ("k", "state"))
    add_state(fam, ("a",), ("up", "down", "unknown"), "down")
    add_state(fam, ("b",), ("up", "down", "unknown"), "weird")  # outside the set: unknown
    add_state(fam, ("c",), ("up", "down", "unknown"), None)  # unknown source: nothing
    add_state(fam, ("d",), ("active", "failed"), "weird")  # no unknown in the set: nothing
    assert fam.samples == [(("a", "down"), 1), (("b", "unknown"), 1)]
    with pytest.raises(ValueError):
        add_state(gauge("t", "help", ("k", "l", "state")), ("a",), ("up",), "up")


def test_series_cache_is_bounded():
    cache = SeriesCache(max_entries=3)
    fam = gauge("c", "help", ("i",))
    for i in range(10):
        fam.add((str(i),), i)
    text = render([fam], cache).decode()
    assert 'lanes_c{i="9"} 9\n' in text
    assert len(cache.heads) == 3  # never more than the bound ...
    assert render([fam], cache) == render([fam]) == text.encode()  # ... and the same bytes
    assert len(cache.heads) == 3


def test_sampler_readers_parse_only_the_followed_lines_and_agree_with_the_full_parse():
    """The peak sampler's readers with keys (a 4,000-path host follows 8,200 members every
    second): the same values as the full parsers for the followed keys, nothing else."""
    import os

    from helpers import SCENARIOS

    from collectors._diskstats import read_disk_bytes
    from collectors.link_linux import read_counters
    from exporter.host import SnapshotHost

    host = SnapshotHost(os.path.join(SCENARIOS, "linux-mpio-round-robin-healthy"))
    full = read_disk_bytes(host)
    some = frozenset(sorted(full)[:2]) | {"sdzz"}
    assert len(full) > 2
    assert read_disk_bytes(host, some) == {k: full[k] for k in sorted(full)[:2]}
    links = read_counters(host)
    some = frozenset(sorted(links)[:1]) | {"nosuch0"}
    assert read_counters(host, some) == {k: links[k] for k in sorted(links)[:1]}


def test_every_sampler_reader_takes_the_followed_keys():
    """The sampler calls reader(host, keys) (exporter.cli.make_sampler): a reader that takes
    only the host would fail every tick and leave the peaks out."""
    import inspect

    import collectors
    from exporter.api import SAMPLE_READERS

    for platform in ("linux", "illumos", "freebsd"):
        collectors.for_platform(platform)
    assert SAMPLE_READERS
    for fn in SAMPLE_READERS.values():
        inspect.signature(fn).bind(object(), frozenset())  # raises TypeError if it cannot take them


def test_merge_sorts_dedupes_and_rechecks_only_shared_families_when_presorted():
    from exporter.metrics import gauge, merge

    a, b = gauge("m", "h", ("x",)), gauge("m", "h", ("x",))
    for x in ("c", "a", "b", "a"):
        a.add((x,), 1 if x != "a" or not a.lvs else 2)  # the first ("a",) is 2, the duplicate 1
    b.add(("a",), 9)
    (one,) = merge([a])
    assert one.samples == [(("a",), 2), (("b",), 1), (("c",), 1)]  # sorted, the first of equal labels kept
    c = gauge("m", "h", ("x",))
    c.add(("0",), 5)
    (both,) = merge([one, c, b], presorted=True)  # a family several inputs share is checked again
    assert both.samples == [(("0",), 5), (("a",), 2), (("b",), 1), (("c",), 1)]
    assert one.samples == [(("a",), 2), (("b",), 1), (("c",), 1)]  # inputs are never grown
