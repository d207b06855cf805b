"""Parsers and mapping of collectors/nvme_linux.py.

Inputs are the kernel's formats (drivers/nvme/host fabrics.c nvmf_get_address, tcp.c
nvme_tcp_get_address, multipath.c numa_nodes "%*pbl"; fib_trie.c /proc/net/route; addrconf.c
/proc/net/if_inet6; route.c /proc/net/ipv6_route) and the real `address` values of
research/real-captures.md L-10/L-11.
"""

import dataclasses
import ipaddress
import os

import pytest
from helpers import SCENARIOS
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors import _diskstats
from collectors.nvme_linux import (
    Address,
    NetView,
    NvmeLinux,
    member_name,
    parse_address,
    parse_if_inet6,
    parse_ipv6_route,
    parse_numa_nodes,
    parse_proc_net_route,
    read_subsystems,
    resolve_netdev,
)
from collectors.nvme_linux import to_groups as nvme_groups
from exporter.api import Context, ParseError
from exporter.host import SnapshotHost
from exporter.model import MemberMemory
from exporter.scrape import collect_families

# ------------------------------------------------------------------ address


@pytest.mark.parametrize(
    "text, want",
    [
        # kernel >= 5.x NVMe/TCP with src_addr (tcp.c appends it while the queue is live)
        ("traddr=10.1.1.1,trsvcid=4420,src_addr=10.1.1.2\n", Address("10.1.1.1", "4420", src_addr="10.1.1.2")),
        # real capture L-11: older kernel, no src_addr
        ("traddr=127.0.0.1,trsvcid=4421\n", Address("127.0.0.1", "4421")),
        # nvme-cli 1.x reprint: blank-separated (real capture L-10)
        ("traddr=10.230.1.1 trsvcid=4420", Address("10.230.1.1", "4420")),
        # FC: WWN pairs with colons, no trsvcid (real capture L-10/L-11)
        ("traddr=nn-0x200400a0986b4321:pn-0x201400a0986b4321,host_traddr=nn-0x20000090fa3c6a52:pn-0x10000090fa3c6a52\n",
         Address("nn-0x200400a0986b4321:pn-0x201400a0986b4321", None, host_traddr="nn-0x20000090fa3c6a52:pn-0x10000090fa3c6a52")),
        # fabrics.c order: traddr, trsvcid, host_traddr, host_iface; then src_addr; IPv6 %pISc
        ("traddr=fd00:20::20,trsvcid=4420,host_traddr=fd00:20::11,host_iface=ens2f0,src_addr=fd00:20::11\n",
         Address("fd00:20::20", "4420", "fd00:20::11", "ens2f0", "fd00:20::11")),
        ("", Address()),
        ("traddr=10.0.0.1,trsvcid=4420,future_key=x", Address("10.0.0.1", "4420")),
    ],
)
def test_parse_address(text, want):
    assert parse_address(text) == want


@pytest.mark.parametrize("text", ["0000:3d:00.0", "traddr", "=x", "traddr=1,garbage"])
def test_parse_address_rejects_non_pairs(text):
    with pytest.raises(ParseError):
        parse_address(text)


@pytest.mark.parametrize(
    "text, want",
    [("0\n", {0}), ("\n", set()), ("", set()), ("0-1\n", {0, 1}), ("0-2,5\n", {0, 1, 2, 5}), ("1,3", {1, 3})],
)
def test_parse_numa_nodes(text, want):
    assert parse_numa_nodes(text) == frozenset(want)


@pytest.mark.parametrize("text", ["x", "0-", "3-1", "0,,1", "-1"])
def test_parse_numa_nodes_rejects(text):
    with pytest.raises(ParseError):
        parse_numa_nodes(text)


# ------------------------------------------------------------------ routing files

ROUTE = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT".ljust(127) + "\n"
    + "eno1\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0".ljust(127) + "\n"
    + "eno1\t0000000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0".ljust(127) + "\n"
    + "ens1f0\t000AA8C0\t00000000\t0001\t0\t0\t101\t00FFFFFF\t0\t0\t0".ljust(127) + "\n"
    + "ens9\t0014A8C0\t00000000\t0000\t0\t0\t101\t00FFFFFF\t0\t0\t0".ljust(127) + "\n"  # not RTF_UP
)


def test_parse_proc_net_route():
    routes = parse_proc_net_route(ROUTE)
    assert [(r.iface, str(r.network), r.gateway, r.metric) for r in routes] == [
        ("eno1", "0.0.0.0/0", True, 100),
        ("eno1", "10.0.0.0/24", False, 100),
        ("ens1f0", "192.168.10.0/24", False, 101),
    ]


@pytest.mark.parametrize("line", ["eth0\tXYZ\t0\t1\t0\t0\t0\t0", "eth0\t0000000A\t0\t0001", "eth0\t0000000A\t00000000\t0001\t0\t0\tx\t00FFFFFF"])
def test_parse_proc_net_route_rejects(line):
    with pytest.raises(ParseError):
        parse_proc_net_route("Iface\tDestination\n" + line + "\n")


IF_INET6 = (
    "00000000000000000000000000000001 01 80 10 80       lo\n"
    "fd000020000000000000000000000011 04 40 00 80   ens2f0\n"
    "fe80000000000000b69691fffeaa2040 04 40 20 80   ens2f0\n"
)


def test_parse_if_inet6():
    assert parse_if_inet6(IF_INET6) == (
        (ipaddress.IPv6Address("::1"), "lo"),
        (ipaddress.IPv6Address("fd00:20::11"), "ens2f0"),
        (ipaddress.IPv6Address("fe80::b696:91ff:feaa:2040"), "ens2f0"),
    )
    with pytest.raises(ParseError):
        parse_if_inet6("fd00 04 40 00 80 ens2f0\n")


def test_parse_ipv6_route():
    z = "0" * 32
    text = (
        f"fd000020000000000000000000000000 40 {z} 00 {z} 00000100 00000001 00000000 00000001   ens2f0\n"
        f"{z} 00 {z} 00 {z} ffffffff 00000001 00000000 00200200       lo\n"  # unreachable default: RTF_REJECT
    )
    routes = parse_ipv6_route(text)
    assert [(r.iface, str(r.network), r.metric) for r in routes] == [("ens2f0", "fd00:20::/64", 256)]


# ------------------------------------------------------------------ NIC resolution and names

NET = NetView(routes4=parse_proc_net_route(ROUTE), addrs6=parse_if_inet6(IF_INET6), routes6=parse_ipv6_route(
    f"fd000030000000000000000000000000 40 {'0' * 32} 00 {'0' * 32} 00000100 00000001 00000000 00000001   ens3f0\n"))


@pytest.mark.parametrize(
    "address, want",
    [
        (Address("192.168.10.20", "4420", host_iface="ens7"), ("ens7", "host_iface")),
        (Address("192.168.10.20", "4420", src_addr="192.168.10.11"), ("ens1f0", "src_addr")),
        (Address("fd00:20::20", "4420", src_addr="fd00:20::11"), ("ens2f0", "src_addr")),
        (Address("192.168.10.20", "4420", host_traddr="192.168.10.11"), ("ens1f0", "host_traddr")),
        (Address("192.168.10.20", "4420"), ("ens1f0", "route")),  # no local side: route lookup
        (Address("172.16.0.9", "4420"), ("eno1", "route")),  # only the default route matches
        (Address("fd00:30::9", "4420"), ("ens3f0", "route")),
        (Address("nn-0x1:pn-0x2", None, host_traddr="nn-0x3:pn-0x4"), ("", "")),  # FC: no IP
        (Address("fd00:99::1", "4420", src_addr="fd00:99::2"), ("", "")),  # unknown everywhere
    ],
)
def test_resolve_netdev(address, want):
    assert resolve_netdev(address, NET) == want


@pytest.mark.parametrize(
    "address, want",
    [
        (Address("192.168.10.20", "4420", src_addr="192.168.10.11"), "192.168.10.20:4420"),  # src_addr left out
        (Address("192.168.20.20", "4420", host_iface="ens2f0"), "192.168.20.20:4420%ens2f0"),
        (Address("192.168.20.20", "4420", host_traddr="192.168.20.11"), "192.168.20.20:4420@192.168.20.11"),
        (Address("fd00:20::20", "4420"), "[fd00:20::20]:4420"),
        (Address("nn-0x1:pn-0x2", None), "nn-0x1:pn-0x2"),
        (Address(), "nvme7"),
    ],
)
def test_member_name(address, want):
    assert member_name(address, "nvme7") == want


def test_member_name_survives_src_addr_loss():
    """tcp.c prints src_addr only while the queue is live: a failing path keeps its name."""
    live = parse_address("traddr=192.168.10.20,trsvcid=4420,src_addr=192.168.10.11")
    failing = parse_address("traddr=192.168.10.20,trsvcid=4420")
    assert member_name(live, "nvme0") == member_name(failing, "nvme0")


# ------------------------------------------------------------------ readers on the scenarios


def test_read_subsystems_skips_pcie_and_maps_paths():
    host = SnapshotHost(os.path.join(SCENARIOS, "linux-nvme-tcp-numa-inaccessible"))
    (sub,) = read_subsystems(host)
    assert sub.nqn == "nqn.2010-06.com.purestorage:flasharray.6a1b2c3d4e5f" and sub.iopolicy == "numa"
    (ns,) = sub.namespaces
    assert ns.head == "nvme0n1" and ns.nsid == "1"
    got = [(p.device, p.controller.name, p.controller.netdev, p.ana_state, p.up, p.numa_nodes) for p in ns.paths]
    assert got == [
        ("nvme0c0n1", "nvme0", "ens1f0", "optimized", True, frozenset({0})),
        ("nvme0c1n1", "nvme1", "ens2f0", "inaccessible", False, frozenset()),
    ]
    # with pcie allowed the local SSD shows up (its own subsystem, one path)
    subs = read_subsystems(host, ("tcp", "pcie"))
    assert [s.name for s in subs] == ["nvme-subsys0", "nvme-subsys2"]


def test_absent_subsystem_class_is_empty(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "snapshot.yml").write_text("platform: linux\n")
    host = SnapshotHost(str(tmp_path))
    assert read_subsystems(host) == []
    assert list(collect_families(NvmeLinux(host, Context("nvme")))) == []


class _Cfg:
    expect = {"nvme": {"nqn.2010-06.com.purestorage:flasharray.6a1b2c3d4e5f": 3}}


def test_groups_expect_by_nqn_and_memory_keeps_vanished_paths():
    host = SnapshotHost(os.path.join(SCENARIOS, "linux-nvme-tcp-numa-inaccessible"))
    subs = read_subsystems(host)
    disks = _diskstats.read_diskstats(host)
    (g,) = nvme_groups(subs, {}, disks, _Cfg())
    assert (g.kind, g.policy, g.balancing, g.expected) == ("nvme", "numa", "failover", 3)
    assert [(m.name, m.up, m.rx_bytes, m.tx_bytes, m.sample) for m in g.members] == [
        ("192.168.10.20:4420", True, 98_765_432 * 512, 43_210_987 * 512, ("disk", "nvme0c0n1")),
        ("192.168.20.20:4420%ens2f0", False, 96 * 512, 0, ("disk", "nvme0c1n1")),
    ]
    mem = MemberMemory()
    mem.apply([g])
    (later,) = mem.apply([dataclasses.replace(g, members=g.members[:1])])
    assert [(m.name, m.up) for m in later.members] == [("192.168.10.20:4420", True), ("192.168.20.20:4420%ens2f0", False)]


def test_round_robin_is_load_balancing():
    host = SnapshotHost(os.path.join(SCENARIOS, "linux-nvme-tcp-round-robin"))
    subs = read_subsystems(host)
    gs = nvme_groups(subs, {}, _diskstats.read_diskstats(host))
    assert [(g.name, g.policy, g.balancing, [m.name for m in g.members]) for g in gs] == [
        ("nqn.2014-08.org.example:tank-nvme/ns1", "round-robin", "load", ["192.168.10.20:4420", "[fd00:20::20]:4420"]),
        ("nqn.2014-08.org.example:tank-nvme/ns2", "round-robin", "load", ["192.168.10.20:4420", "[fd00:20::20]:4420"]),
    ]


# ------------------------------------------------------------------ fuzz: only ParseError escapes


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_parsers_raise_only_parse_error(text):
    for parser in (parse_address, parse_numa_nodes, parse_proc_net_route, parse_if_inet6, parse_ipv6_route):
        try:
            parser(text)
        except ParseError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="0123456789abcdefABCDEF \t-,x", max_size=40), max_size=6))
def test_fuzz_hexish_lines(lines):
    text = "\n".join(lines)
    for parser in (parse_numa_nodes, parse_proc_net_route, parse_if_inet6, parse_ipv6_route):
        try:
            parser(text)
        except ParseError:
            pass


# ------------------------------------------------------------------ a path failing, then vanishing


def _copy_scenario(tmp_path, name):
    import shutil

    dst = tmp_path / name
    shutil.copytree(os.path.join(SCENARIOS, name), dst, symlinks=True)
    return dst


def _series(families):
    from exporter.metrics import merge

    out = {}
    for fam in merge(families):
        for lv, v in fam.samples:
            out[(fam.name, lv)] = v
    return out


def test_failing_path_keeps_name_and_nic_then_counts_when_gone(tmp_path):
    """nvme0 goes to connecting: tcp.c drops src_addr from address and no route leads to
    its target any more; then ctrl_loss_tmo deletes the controller and its path disk."""
    snap = _copy_scenario(tmp_path, "linux-nvme-tcp-numa-inaccessible")
    host = SnapshotHost(str(snap))
    coll = NvmeLinux(host, Context("nvme"))
    group = "nqn.2010-06.com.purestorage:flasharray.6a1b2c3d4e5f/ns1"
    first = _series(collect_families(coll))
    assert first[("lanes_member_speed_bytes", ("nvme", group, "192.168.10.20:4420"))] == 3_125_000_000

    ctrl = snap / "root/sys/devices/virtual/nvme-fabrics/ctl/nvme0"
    (ctrl / "state").write_text("connecting\n")
    (ctrl / "address").write_text("traddr=192.168.10.20,trsvcid=4420\n")
    (snap / "root/proc/net/route").write_text("Iface\tDestination\tGateway \tFlags\n")
    second = _series(collect_families(coll))
    lv = ("nvme", group, "192.168.10.20:4420")
    assert second[("lanes_member_up", lv)] == 0
    assert second[("lanes_member_speed_bytes", lv)] == 3_125_000_000  # NIC remembered
    assert second[("lanes_nvme_controller_state", ("nqn.2010-06.com.purestorage:flasharray.6a1b2c3d4e5f", "192.168.10.20:4420", "connecting"))] == 1
    assert second[("lanes_group_members_up", ("nvme", group))] == 0

    import shutil

    shutil.rmtree(ctrl)
    os.remove(snap / "root/sys/devices/virtual/nvme-subsystem/nvme-subsys0/nvme0")
    os.remove(snap / "root/sys/class/nvme/nvme0")
    third = _series(collect_families(coll))
    assert third[("lanes_group_members", ("nvme", group))] == 2  # the deleted path still counts
    assert third[("lanes_member_up", lv)] == 0
    assert ("lanes_nvme_path_info", ("nvme", group, "192.168.10.20:4420")) not in {(k[0], k[1][:3]) for k in third}


# ------------------------------------------------------------------ the join: path -> NIC -> link counters


@pytest.mark.parametrize("name", ["linux-nvme-tcp-numa-inaccessible", "linux-nvme-tcp-round-robin"])
def test_every_path_joins_to_its_nic(name):
    from helpers import lanes, parse_exposition, scenario_args

    r = lanes(*scenario_args(name))
    assert r.returncode == 0, r.stderr
    s = parse_exposition(r.stdout)
    paths = [dict(labels) for (metric, labels) in s if metric == "lanes_nvme_path_info"]
    links = {dict(labels)["link"] for (metric, labels) in s if metric == "lanes_link_info"}
    assert paths
    for p in paths:
        assert p["netdev"] in links, p  # lanes_nvme_path_info{netdev} = lanes_link_info{link}
        member = (("group", p["group"]), ("kind", "nvme"), ("member", p["member"]))
        speed = s[("lanes_member_speed_bytes", member)]
        assert speed == s[("lanes_link_speed_bytes", (("link", p["netdev"]),))]
        assert ("lanes_member_receive_bytes_total", member) in s
    want = {
        "linux-nvme-tcp-numa-inaccessible": {("192.168.10.20:4420", "ens1f0"), ("192.168.20.20:4420%ens2f0", "ens2f0")},
        "linux-nvme-tcp-round-robin": {("192.168.10.20:4420", "ens1f0"), ("[fd00:20::20]:4420", "ens2f0")},
    }[name]
    assert {(p["member"], p["netdev"]) for p in paths} == want


def test_queue_depth_policy(tmp_path):
    """Under queue-depth, queue_depth shows the controller's active requests and numa_nodes
    prints nothing (multipath.c queue_depth_show / numa_nodes_show)."""
    snap = _copy_scenario(tmp_path, "linux-nvme-tcp-round-robin")
    (snap / "root/sys/devices/virtual/nvme-subsystem/nvme-subsys0/iopolicy").write_text("queue-depth\n")
    for c in (0, 1):
        for n in (1, 2):
            (snap / f"root/sys/devices/virtual/nvme-fabrics/ctl/nvme{c}/nvme0c{c}n{n}/queue_depth").write_text(f"{c + 3}\n")
    got = _series(collect_families(NvmeLinux(SnapshotHost(str(snap)), Context("nvme"))))
    group = "nqn.2014-08.org.example:tank-nvme/ns1"
    assert got[("lanes_group_info", ("nvme", group, "queue-depth", "load"))] == 1
    assert got[("lanes_nvme_path_queue_depth", (group, "192.168.10.20:4420"))] == 3
    assert got[("lanes_nvme_path_queue_depth", (group, "[fd00:20::20]:4420"))] == 4
    assert not [k for k in got if k[0] == "lanes_nvme_path_current"]
