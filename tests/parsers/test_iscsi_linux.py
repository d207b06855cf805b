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


def test_session_disks_listed_once_while_nothing_changes():
    """The disks of each session (one readlink per /sys/block/sdX) are kept while the
    /sys/block listing, the sessions, their class links and the uevent generation stay."""
    import collections
    import os

    from helpers import SCENARIOS

    from collectors._iscsi_linux import SessionReader
    from collectors._routes import read_route_table
    from exporter.host import SnapshotHost

    host = SnapshotHost(os.path.join(SCENARIOS, "linux-mpio-round-robin-healthy"))
    links = collections.Counter()
    readlink = host.readlink

    def counting(path):
        links[path] += 1
        return readlink(path)

    host.readlink = counting
    reader, routes = SessionReader(), read_route_table(host)
    block = host.list_optional("/sys/block")
    first = reader.read(host, routes, block)
    assert any(s.disks for s in first.values())
    assert reader.read(host, routes, block) == first
    disk = next(s.disks[0] for s in first.values() if s.disks)
    assert links[f"/sys/block/{disk}"] == 1
    assert links["/sys/class/iscsi_session/session1"] == 2  # the lifetime key: every scrape
    reader.read(host, routes, block, generation=1)
    assert links[f"/sys/block/{disk}"] == 2


# ------------------------------------------------------------------ one series per session

TARGET_A = "iqn.2003-01.org.linux-iscsi.stor-a.x8664:sn.5b2e0c3a1f77"


def _session_series(root):
    """{(portal, iface): [(family, labels)]} of every series of collector iscsi run on the
    snapshot ``root`` that carries a session's target+portal+iface (group model apart)."""
    from collectors.iscsi_linux import IscsiLinux
    from exporter.api import Context
    from exporter.host import SnapshotHost

    out = {}
    for fam in IscsiLinux(SnapshotHost(root), Context("iscsi")).collect().families:
        for lv, v in fam.samples:
            d = dict(zip(fam.labels, lv))
            if "portal" in d:
                assert v == 1, (fam.name, d)
                out.setdefault((d["portal"], d["iface"]), []).append((fam.name, d))
    return out


def test_one_session_series_carries_state_connection_state_and_recovery_timeout():
    """SPEC §9 (<= 8 series per session with the group model's 7): a Linux session has one
    series of its own, lanes_iscsi_session_info, whose labels carry the current session
    state, connection state and recovery timeout.  Expected values from the scenario's
    sysfs files: session1 (host3) state LOGGED_IN, connection1:0 state up, recovery_tmo 5;
    session2 (host4) state FREE, connection2:0 state failed, recovery_tmo 5."""
    import os

    from helpers import SCENARIOS

    got = _session_series(os.path.join(SCENARIOS, "linux-mpio-one-path-failed"))
    assert {k: [n for n, _ in v] for k, v in got.items()} == {
        ("192.168.10.20:3260", "iface-ens1f0"): ["lanes_iscsi_session_info"],
        ("192.168.20.20:3260", "iface-ens2f0"): ["lanes_iscsi_session_info"],
    }
    pick = ("session", "scsi_host", "state", "connection_state", "recovery_timeout_seconds")
    assert {k: tuple(v[0][1][x] for x in pick) for k, v in got.items()} == {
        ("192.168.10.20:3260", "iface-ens1f0"): ("session1", "host3", "LOGGED_IN", "up", "5"),
        ("192.168.20.20:3260", "iface-ens2f0"): ("session2", "host4", "FREE", "failed", "5"),
    }


def test_session_labels_when_the_kernel_says_little(tmp_path):
    """No connection state file (older kernels): connection_state "";  recovery_tmo
    ``off``: recovery_timeout_seconds "";  a session state word outside the kernel's set:
    ``unknown``."""
    import os
    import shutil

    from helpers import SCENARIOS

    root = tmp_path / "s"
    shutil.copytree(os.path.join(SCENARIOS, "linux-mpio-one-path-failed"), root, symlinks=True)
    dev = root / "root/sys/devices/platform/host4/session2"
    (dev / "connection2:0/iscsi_connection/connection2:0/state").unlink()
    (dev / "iscsi_session/session2/recovery_tmo").write_text("off\n")
    (dev / "iscsi_session/session2/state").write_text("IN_LOGIN\n")
    got = _session_series(str(root))
    d = got[("192.168.20.20:3260", "iface-ens2f0")]
    assert [n for n, _ in d] == ["lanes_iscsi_session_info"]
    assert (d[0][1]["state"], d[0][1]["connection_state"], d[0][1]["recovery_timeout_seconds"]) == ("unknown", "", "")
    d = got[("192.168.10.20:3260", "iface-ens1f0")][0][1]
    assert (d["state"], d["connection_state"], d["recovery_timeout_seconds"]) == ("LOGGED_IN", "up", "5")


@pytest.mark.parametrize("name", ["linux-mpio-one-path-failed", "linux-iscsi-logged-out"])
def test_at_most_8_series_per_session_as_the_benchmark_counts(name):
    """bench/run.py's series_per_object over the scenario's exposition: 7 of the group model
    and lanes_iscsi_session_info.  A session known only from its node record (logged out)
    has the group model's series and no session series."""
    import importlib.util
    import os
    import sys

    from helpers import ROOT, read_expected

    spec = importlib.util.spec_from_file_location("lanes_bench_run", os.path.join(ROOT, "bench", "run.py"))
    bench = importlib.util.module_from_spec(spec)
    path = list(sys.path)
    try:
        spec.loader.exec_module(bench)  # puts bench/ on sys.path for its own imports
    finally:
        sys.path[:] = path
    samples = bench.samples(read_expected(name))
    got = bench.series_per_object(samples)
    assert got["sessions"] == 2 and got["session_max"] == 8, got
    per = {}
    for n, labels in samples:
        d = dict(labels)
        if n == "lanes_iscsi_session_info":
            per.setdefault(f"{d['portal']}@{d['iface']}", []).append(n)
    logged_in = {"linux-mpio-one-path-failed": 2, "linux-iscsi-logged-out": 1}[name]
    assert len(per) == logged_in and all(len(v) == 1 for v in per.values()), per
