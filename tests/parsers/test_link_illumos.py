"""Parsers and the link table of the illumos link collector.

Expected values come from the formats, not from the code: ``kstat -p`` prints
``module:instance:name:statistic<TAB>value`` (usr/src/cmd/stat/kstat/kstat.c), link_state is
sys/mac.h link_state_t printed as uint32 (-1 = 4294967295), ifspeed is bit/s
(uts/common/io/dls/dls_stat.c); dladm ``-p`` escapes ``:`` and ``\\`` inside fields.
"""

import pytest
from helpers import capture
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors._kstat import batched_selectors, name_selector, parse_kstat_p
from collectors.link_illumos import (
    LinkIllumos,
    Topology,
    build_links,
    kstat_commands,
    parse_show_link,
    parse_show_phys,
    split_device,
)
from exporter.api import Context, ParseError
from exporter.host import CommandNotFound, CommandResult, Host, slug
from exporter.scrape import collect_families

# real-captures I-1 (DataDog fixture, SmartOS zone): blanks instead of the TAB, 7-decimal
# hrtimes, a zone UUID, an up VNIC with link_duplex 0
DATADOG_BLANKS = capture("datadog-integrations-core/kstat-p-link0.txt")

# kstat.c prints each statistic with a TAB; an aggregated port's link kstat cannot be read
# (dls_devnet_stat_update fails): only the header pseudo-stats remain
HEADER_ONLY = "link:0:ixgbe0:class\tnet\nlink:0:ixgbe0:crtime\t41.337159245\nlink:0:ixgbe0:snaptime\t8731552.402771188\n"


def test_kstat_p_tab_and_blanks():
    got = parse_kstat_p(DATADOG_BLANKS)
    st_ = got[("link", 0, "net0")]
    assert st_["ifspeed"] == "10000000000"
    assert st_["zonename"] == "53aa9b7e-48ba-4152-a52b-a6368c3d9e7c"
    assert st_["crtime"] == "16359935.2637943"
    tabbed = parse_kstat_p(DATADOG_BLANKS.replace("   ", "\t", 1))
    assert tabbed[("link", 0, "net0")]["brdcstrcv"] == "527336"


def test_kstat_p_header_only_and_empty():
    got = parse_kstat_p(HEADER_ONLY)
    assert set(got[("link", 0, "ixgbe0")]) == {"class", "crtime", "snaptime"}
    assert parse_kstat_p("") == {}


def test_kstat_p_name_with_colons_and_empty_string_value():
    # the kstat name is whatever lies between instance and the last colon
    got = parse_kstat_p("stmf:0:stmf_lu_io_ff:00:1:nread\t42\nlink:0:net0:zonename\t\n")
    assert got[("stmf", 0, "stmf_lu_io_ff:00:1")]["nread"] == "42"
    assert got[("link", 0, "net0")]["zonename"] == ""


@pytest.mark.parametrize(
    "text",
    [
        "module: link                            instance: 0     \n",  # the human form
        "link:x:net0:rbytes64\t1\n",  # instance not a number
        "link0net0rbytes64\t1\n",
        "link:0:rbytes64\t5\n",  # too few fields
        "link:\u00b2:net0:rbytes64\t5\n",  # a digit to str.isdigit() that int() refuses
    ],
)
def test_kstat_p_rejects(text):
    with pytest.raises(ParseError):
        parse_kstat_p(text)


SHOW_LINK = """\
aggr0:aggr:9000:up:ixgbe0,ixgbe1
aggr1:aggr:1500:up:net1 net4
e1000g0:phys:1500:up:
ixgbe0:phys:9000:unknown:
net0:vnic:1500:up:?
stor0:vnic::down:aggr0
"""


def test_show_link_over_commas_blanks_and_question_mark():
    got = parse_show_link(SHOW_LINK)
    assert got["aggr0"].over == ("ixgbe0", "ixgbe1")  # dladm.c print_link_topology joins with ","
    assert got["aggr1"].over == ("net1", "net4")  # Solaris 11.1 capture: blanks (real-captures I-2)
    assert got["net0"].over == ()  # OVER "?" seen from inside a zone
    assert got["e1000g0"].over == () and got["e1000g0"].mtu == 1500
    assert got["stor0"].mtu is None  # empty field
    assert got["ixgbe0"].state == "unknown"


def test_show_phys_escaped_and_empty_fields():
    got = parse_show_phys("net1:Ethernet:up:1000:full:ixgbe1\nigb1:Ethernet:down:0:half:igb1\nx\\:y:Ethernet:up::unknown:vnet0\n")
    assert got["net1"].device == "ixgbe1" and got["net1"].speed_mbit == 1000
    assert got["igb1"].speed_mbit == 0 and got["igb1"].duplex == "half"
    assert got["x:y"].speed_mbit is None


@pytest.mark.parametrize(
    "text",
    ["aggr0:aggr:9000:up\n", "aggr0:aggr:jumbo:up:\n", ":phys:1500:up:\n", "a b:phys:1500:up:\n", "x:phys:1500:up:\\"],
)
def test_show_link_rejects(text):
    with pytest.raises(ParseError):
        parse_show_link(text)


@pytest.mark.parametrize(
    "device,want", [("ixgbe0", ("ixgbe", 0)), ("e1000g10", ("e1000g", 10)), ("i40e3", ("i40e", 3)), ("vnic", None), ("7", None)]
)
def test_split_device_like_dlpi_parselink(device, want):
    assert split_device(device) == want


def topology(links: str, phys: str) -> Topology:
    return Topology(parse_show_link(links), parse_show_phys(phys))


def test_aggregated_port_counters_come_from_the_driver_kstat():
    topo = topology("aggr0:aggr:9000:up:ixgbe0\nixgbe0:phys:9000:unknown:\n", "ixgbe0:Ethernet:up:10000:full:ixgbe0\n")
    kstats = parse_kstat_p(
        HEADER_ONLY
        + "ixgbe:0:mac:ifspeed\t10000000000\nixgbe:0:mac:link_state\t1\nixgbe:0:mac:rbytes64\t1371820044815\n"
        "ixgbe:0:mac:obytes64\t1204416872290\nixgbe:0:mac:norcvbuf\t4\n"
        "link:0:aggr0:rbytes64\t1371820044815\nlink:0:aggr0:link_state\t1\nlink:0:aggr0:ifspeed\t10000000000\n"
    )
    links = build_links(topo, kstats)
    port = links["ixgbe0"]
    assert port.master == "aggr0" and port.driver == "ixgbe" and port.kind == "phys"
    assert (port.rx_bytes, port.tx_bytes, port.rx_dropped) == (1371820044815, 1204416872290, 4)
    assert port.operstate == "up" and port.speed_bytes == 1_250_000_000
    assert links["aggr0"].kind == "aggr" and links["aggr0"].up


def test_unknown_link_state_is_not_up_and_zero_speed_is_absent():
    topo = topology("iptun0:iptun:1480:unknown:\nvnic0:vnic:1500:up:e1000g0\n", "")
    kstats = parse_kstat_p(
        "link:0:iptun0:link_state\t4294967295\nlink:0:iptun0:ifspeed\t0\nlink:0:iptun0:rbytes64\t10\nlink:0:iptun0:obytes64\t20\n"
        "link:0:vnic0:link_state\t1\nlink:0:vnic0:link_duplex\t0\nlink:0:vnic0:ifspeed\t0\n"
    )
    links = build_links(topo, kstats)
    assert links["iptun0"].operstate == "unknown" and not links["iptun0"].up
    assert links["iptun0"].speed_bytes is None
    assert links["vnic0"].up and links["vnic0"].duplex == "unknown" and links["vnic0"].speed_bytes is None


def test_32_bit_only_kstats_are_used():
    # hosts without the *64 statistics: the 32-bit ones (which wrap at 2^32) are all there is
    topo = topology("bge0:phys:1500:up:\n", "bge0:Ethernet:up:1000:full:bge0\n")
    kstats = parse_kstat_p(
        "link:0:bge0:rbytes\t4000000000\nlink:0:bge0:obytes\t123\nlink:0:bge0:ipackets\t7\nlink:0:bge0:opackets\t8\n"
        "link:0:bge0:link_state\t1\nlink:0:bge0:ifspeed\t1000000000\n"
    )
    link = build_links(topo, kstats)["bge0"]
    assert (link.rx_bytes, link.tx_bytes, link.rx_packets, link.tx_packets) == (4000000000, 123, 7, 8)


def test_non_ascii_digits_are_no_value():
    topo = topology("e1000g0:phys:1500:up:\n", "")
    link = build_links(topo, parse_kstat_p("link:0:e1000g0:rbytes64\t1\u00b2\nlink:0:e1000g0:rbytes\t7\n"))["e1000g0"]
    assert link.rx_bytes == 7


def test_64_bit_counters_win_over_32_bit_ones():
    topo = topology("e1000g0:phys:1500:up:\n", "e1000g0:Ethernet:up:1000:full:e1000g0\n")
    kstats = parse_kstat_p("link:0:e1000g0:rbytes\t3451874710\nlink:0:e1000g0:rbytes64\t8623451237782\n")
    assert build_links(topo, kstats)["e1000g0"].rx_bytes == 8623451237782


def test_no_kstat_at_all_falls_back_to_dladm_state():
    topo = topology("ixgbe3:phys:9000:down:\n", "ixgbe3:Ethernet:down:0:unknown:ixgbe3\n")
    link = build_links(topo, {})["ixgbe3"]
    assert link.operstate == "down" and link.rx_bytes is None and link.speed_bytes is None


def test_selectors_name_module_and_name_and_stay_short():
    assert name_selector("link", 0, ["aggr0", "net.1"]) == "link:0:/^(aggr0|net[.]1)$/"
    topo = topology("aggr0:aggr:9000:up:ixgbe0\nixgbe0:phys:9000:unknown:\n", "ixgbe0:Ethernet:up:10000:full:ixgbe0\n")
    assert kstat_commands(topo) == [["-p", "link:0:/^(aggr0|ixgbe0)$/", "ixgbe::mac"]]
    many = [f"z{i}_net0" for i in range(200)]
    cmds = batched_selectors("link", 0, many, ["ixgbe::mac"])
    assert len(cmds) > 1 and cmds[0][-1] == "ixgbe::mac"
    assert all(len(slug("kstat", c)) <= 200 for c in cmds)
    covered = [n for c in cmds for n in c[1].split("(")[1].split(")")[0].split("|")]
    assert sorted(covered) == sorted(many)
    assert batched_selectors("ipmp", 0, []) == []
    # a host with many links reads the link module in one command instead of one per batch
    big = topology("".join(f"z{i}_net0:vnic:1500:up:ixgbe0\n" for i in range(200)) + "ixgbe0:phys:9000:up:\n", "ixgbe0:Ethernet:up:10000:full:ixgbe0\n")
    assert kstat_commands(big) == [["-p", "link:0:", "ixgbe::mac"]]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400))
def test_parsers_raise_only_parse_error(text):
    for parse in (parse_kstat_p, parse_show_link, parse_show_phys):
        try:
            parse(text)
        except ParseError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab:\\\t 0129x.-\n", max_size=30), max_size=8))
def test_parsers_raise_only_parse_error_on_near_misses(parts):
    text = "\n".join(parts)
    for parse in (parse_kstat_p, parse_show_link, parse_show_phys):
        try:
            parse(text)
        except ParseError:
            pass


# ------------------------------------------------------------------ collector, cadence


class CountingHost(Host):
    """Commands from a dict; counts how often each tool ran."""

    platform = "illumos"

    def __init__(self, outputs):
        self.outputs = outputs
        self.calls: list[str] = []

    def run(self, tool, args, *, timeout):
        self.calls.append(tool)
        key = (tool, *args)
        if key not in self.outputs:
            raise CommandNotFound(tool, f"no output for {key}")
        return CommandResult(key, 0, self.outputs[key], "")


def _host():
    from collectors.link_illumos import SHOW_LINK_ARGS, SHOW_PHYS_ARGS

    return CountingHost(
        {
            ("dladm", *SHOW_LINK_ARGS): "e1000g0:phys:1500:up:\n",
            ("dladm", *SHOW_PHYS_ARGS): "e1000g0:Ethernet:up:1000:full:e1000g0\n",
            ("kstat", "-p", "link:0:/^(e1000g0)$/", "e1000g::mac"): "link:0:e1000g0:rbytes64\t5\nlink:0:e1000g0:obytes64\t6\n",
        }
    )


def test_topology_is_cached_while_counters_are_read_every_scrape():
    host = _host()
    collector = LinkIllumos(host, Context("link", {"topology_interval": 3600.0}))
    for _ in range(3):
        collector.ctx.facts = type(collector.ctx.facts)()  # a new scrape
        fams = {f.name: f for f in collect_families(collector)}
        assert fams["lanes_link_receive_bytes_total"].samples == [(("e1000g0",), 5)]
    assert host.calls.count("kstat") == 3
    assert host.calls.count("dladm") == 2  # show-link + show-phys, once
    assert collector.data_timestamp is not None


def test_sampler_reader_uses_the_cached_topology_only():
    from collectors.link_illumos import read_counters

    host = _host()
    assert read_counters(host) == {}  # no topology read yet: nothing to sample, no dladm run
    assert host.calls == []
    collector = LinkIllumos(host, Context("link", {}))
    list(collect_families(collector))
    host.calls.clear()
    assert read_counters(host) == {"e1000g0": (5, 6)}
    assert host.calls == ["kstat"]


def test_declared_groups_use_the_illumos_link_table():
    from collectors.groups import DeclaredGroups
    from exporter.config import Config, DeclaredGroup

    config = Config()
    config.groups = {"mgmt": DeclaredGroup(members=("e1000g0", "e1000g1"), balancing="failover")}
    fams = {f.name: f for f in collect_families(DeclaredGroups(_host(), Context("groups", {}, config)))}
    # e1000g0: no link_state in its kstat, so dladm show-link's STATE "up" counts; e1000g1 is missing
    assert dict(fams["lanes_member_up"].samples) == {("declared", "mgmt", "e1000g0"): 1, ("declared", "mgmt", "e1000g1"): 0}
    assert dict(fams["lanes_member_receive_bytes_total"].samples) == {("declared", "mgmt", "e1000g0"): 5}
