"""Parsers of collectors/iscsi_linux.py: sysfs values, portals, routes, node record names.
Values follow ../shared/research/real-captures.md L-8/L-9 (``<empty>``/``default`` mean unset,
IPv6 and hostname portals, large TPGTs) and the kernel's /proc/net formats."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.iscsi_linux import (
    format_portal,
    parse_ipv6_route,
    parse_node_entry,
    parse_proc_net_route,
    parse_recovery_tmo,
    parse_value,
    route_iface,
)
from exporter.api import ParseError
from exporter.scrape import collect_families


@pytest.mark.parametrize("raw,want", [("ens2f0\n", "ens2f0"), ("default\n", None), ("<empty>", None), ("", None), (None, None), ("  192.168.10.11\n", "192.168.10.11")])
def test_parse_value(raw, want):
    assert parse_value(raw) == want


@pytest.mark.parametrize("raw,want", [("5\n", 5), ("120", 120), ("off\n", None), ("", None), (None, None), ("-1", None), ("1e3", None)])
def test_recovery_tmo(raw, want):
    assert parse_recovery_tmo(raw) == want


def test_format_portal():
    assert format_portal("192.168.10.20", "3260") == "192.168.10.20:3260"
    assert format_portal("2620:113:80c0:890:e051:56:73c7:9171", "3260") == "[2620:113:80c0:890:e051:56:73c7:9171]:3260"
    assert format_portal("truenas.example", "3260") == "truenas.example:3260"  # hostname portal (L-8)
    assert format_portal(None, None) == "unknown"


# fib_trie.c fib_route_seq_show: padded to 127 columns, little-endian hex on x86
ROUTE = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT".ljust(127) + "\n"
    + "eno1\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0".ljust(127) + "\n"
    + "eno1\t0000000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0".ljust(127) + "\n"
    + "ens1f0\t000AA8C0\t00000000\t0001\t0\t0\t101\t00FFFFFF\t0\t0\t0".ljust(127) + "\n"
    + "ens2f0\t0014A8C0\t00000000\t0001\t0\t0\t102\t00FFFFFF\t0\t0\t0".ljust(127) + "\n"
    + "ens2f1\t1414A8C0\t00000000\t0000\t0\t0\t0\tFFFFFFFF\t0\t0\t0".ljust(127) + "\n"  # not RTF_UP
)

# route.c rt6_info_seq_show
ROUTE6 = (
    "fd00000000000000000000000000a000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001   ens2f0\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
)


def test_routes_and_lookup():
    routes = parse_proc_net_route(ROUTE) + parse_ipv6_route(ROUTE6)
    assert [(str(r.network), r.iface) for r in routes] == [
        ("0.0.0.0/0", "eno1"), ("10.0.0.0/24", "eno1"), ("192.168.10.0/24", "ens1f0"), ("192.168.20.0/24", "ens2f0"), ("fd00::/64", "ens2f0"),
    ]
    assert route_iface(routes, "192.168.10.20") == "ens1f0"  # longest prefix beats the default route
    assert route_iface(routes, "192.168.20.21") == "ens2f0"
    assert route_iface(routes, "8.8.8.8") == "eno1"
    assert route_iface(routes, "[fd00::a000:20]") == "ens2f0"
    assert route_iface(routes, "truenas.example") is None
    assert route_iface(routes, "fe80::20%ens2f0") == "ens2f0"  # link-local: the zone names the NIC
    assert route_iface([], "192.168.10.20") is None


@pytest.mark.parametrize("text", ["Iface\tDestination\neth0\tZZ\t0\t1\t0\t0\t0\t0\n", "Iface\nshort line\n", "eth0\t00000000\t0\t1\t0\t0\t0\t00FF00FF\t0\t0\t0\n"])
def test_route_broken(text):
    with pytest.raises(ParseError):
        parse_proc_net_route(text)


@pytest.mark.parametrize(
    "target,portal,iface,want",
    [
        ("iqn.x:t", "192.168.10.20,3260,1", "iface-ens1f0", ("192.168.10.20", "3260", "1", "iface-ens1f0", "192.168.10.20:3260@iface-ens1f0")),
        ("iqn.x:t", "10.37.120.10,3260,1024", "default", ("10.37.120.10", "3260", "1024", "default", "10.37.120.10:3260@default")),
        ("iqn.x:t", "fd00::20,3260,1", "default", ("fd00::20", "3260", "1", "default", "[fd00::20]:3260@default")),
        ("iqn.x:t", "192.168.10.20,3260", None, ("192.168.10.20", "3260", None, "default", "192.168.10.20:3260@default")),  # old style file
    ],
)
def test_node_entry(target, portal, iface, want):
    r = parse_node_entry(target, portal, iface)
    assert (r.address, r.port, r.tpgt, r.iface, r.member) == want


@pytest.mark.parametrize("portal", ["192.168.10.20", "", ",3260,1", "a,b,c"])
def test_node_entry_not_a_record(portal):
    assert parse_node_entry("iqn.x:t", portal, "default") is None


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_fuzz(text):
    for parser in (parse_proc_net_route, parse_ipv6_route):
        try:
            parser(text)
        except ParseError:
            pass
    parse_value(text)
    parse_recovery_tmo(text)
    parse_node_entry("iqn.x:t", text, text)
    route_iface([], text)


HEXISH = st.text(alphabet="0123456789ABCDEFabcdef\t -x", max_size=20)


@settings(max_examples=150, deadline=None)
@given(st.lists(HEXISH, min_size=8, max_size=11))
def test_fuzz_route_fields(fields):
    try:
        parse_proc_net_route("Iface\tx\n" + "eth0\t" + "\t".join(fields) + "\n")
    except ParseError:
        pass


def test_identity_read_once_per_login_state_every_scrape():
    """Identity attributes (targetname, addresses, netdev) are read once per session
    lifetime; state every scrape; a relogin (new SCSI host) reads the identity again."""
    import collections
    import os

    from helpers import SCENARIOS

    from collectors.iscsi_linux import IscsiLinux
    from exporter.api import Context, Facts
    from exporter.host import SnapshotHost

    class Counting(SnapshotHost):
        relogin = False

        def __init__(self, d):
            super().__init__(d)
            self.reads = collections.Counter()

        def read_text(self, path):
            self.reads[path] += 1
            return super().read_text(path)

        def readlink(self, path):
            link = super().readlink(path)
            return link.replace("host3/", "host9/") if self.relogin else link

    host = Counting(os.path.join(SCENARIOS, "linux-mpio-round-robin-healthy"))
    c = IscsiLinux(host, Context("iscsi"))
    for _ in range(3):
        c.ctx.facts = Facts()
        assert collect_families(c)
    s1 = "/sys/class/iscsi_session/session1"
    assert host.reads[f"{s1}/state"] == 3
    assert host.reads[f"{s1}/targetname"] == 1
    assert host.reads["/sys/class/iscsi_host/host3/ipaddress"] == 1
    assert host.reads["/sys/class/iscsi_connection/connection1:0/persistent_address"] == 1
    host.relogin = True
    c.ctx.facts = Facts()
    collect_families(c)
    assert host.reads[f"{s1}/targetname"] == 2  # new login, identity read again
    assert host.reads[f"{s1}/state"] == 4


def test_peak_sampling_of_a_session_with_several_disks():
    import os

    from helpers import SCENARIOS

    from collectors.iscsi_linux import read_disk_set_bytes, register_disk_sets, session_sample
    from exporter.host import SnapshotHost

    assert session_sample(()) is None
    assert session_sample(("sdc",)) == ("disk", "sdc")
    assert session_sample(("sdc", "sdd")) == ("disk_set", "sdc+sdd")
    host = SnapshotHost(os.path.join(SCENARIOS, "linux-mpio-round-robin-healthy"))
    register_disk_sets(["sdc+sdd", "sdc+sdx"])
    try:
        # /proc/diskstats: sdc 4_000_000 + sdd 3_900_000 sectors read, 2_000_000 + 1_950_000 written
        assert read_disk_set_bytes(host) == {"sdc+sdd": (7_900_000 * 512, 3_950_000 * 512)}  # sdx absent: no value
    finally:
        register_disk_sets([])
    assert read_disk_set_bytes(host) == {}


def test_node_startup_and_wanted_records():
    from collectors.iscsi_linux import NodeRecord, parse_node_startup, wanted_records

    # open-iscsi 2.0-873 record layout (real-captures.md L-9): "name = value" lines
    text = "# BEGIN RECORD 2.0-873\nnode.name = iqn.x:t\niface.hwaddress = <empty>\nnode.startup = manual\nnode.session.timeo.replacement_timeout = 120\n"
    assert parse_node_startup(text) == "manual"
    assert parse_node_startup("node.startup = \n") is None and parse_node_startup("garbage") is None
    recs = [NodeRecord("t", "10.0.0.1", "3260", "1", "default", s) for s in ("automatic", "onboot", "manual", None)]
    assert [r.startup for r in wanted_records(recs, "automatic")] == ["automatic", "onboot"]
    assert len(wanted_records(recs, "all")) == 4 and wanted_records(recs, "off") == []


def test_sessions_of_one_node_record_stay_apart():
    from collectors.iscsi_linux import Session, SessionIdentity, disambiguate

    def sess(name):
        ident = SessionIdentity(name, "host3", "iqn.x:t", "1", "iface-ens1f0", "", "10.0.0.20", "3260", None, None, "ens1f0", None)
        return Session(ident, "LOGGED_IN", "up", 5, (), "ens1f0")

    out = disambiguate({"session10": sess("session10"), "session9": sess("session9"), "session11": sess("session11")})
    assert {n: s.identity.member for n, s in out.items()} == {
        "session9": "10.0.0.20:3260@iface-ens1f0",
        "session10": "10.0.0.20:3260@iface-ens1f0#2",
        "session11": "10.0.0.20:3260@iface-ens1f0#3",
    }
