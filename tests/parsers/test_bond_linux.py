"""Parser tables for collectors.bond_linux: the netlink decoder (synthetic RTM_NEWLINK attribute
bytes built from include/uapi/linux/if_link.h), the sysfs files (bond_sysfs.c,
bond_sysfs_slave.c), /proc/net/bonding of several kernel generations (real-captures.md L-1)
and the derived checks."""

from __future__ import annotations

import dataclasses
import struct

import pytest
from helpers import capture
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors import _lacp
from collectors import bond_linux as bl
from collectors._link_common import Link
from collectors.bond_linux import to_groups as bond_groups
from exporter.api import ParseError

NLA_F_NESTED = 0x8000


def nla(atype: int, payload: bytes) -> bytes:
    """One netlink attribute: struct nlattr {u16 nla_len; u16 nla_type}, payload, 4-byte pad."""
    head = struct.pack("=HH", 4 + len(payload), atype)
    return head + payload + b"\0" * (-(4 + len(payload)) % 4)


def u8(v):
    return struct.pack("=B", v)


def u16(v):
    return struct.pack("=H", v)


def u32(v):
    return struct.pack("=I", v)


MAC_A = bytes.fromhex("3cc78643acf1")


def bond_info_bytes(mode=4, ad=True, active_slave=0):
    attrs = [
        nla(1, u8(mode)),  # IFLA_BOND_MODE
        nla(2, u32(active_slave)),  # IFLA_BOND_ACTIVE_SLAVE
        nla(3, u32(100)),  # IFLA_BOND_MIIMON
        nla(7, u32(0)),  # IFLA_BOND_ARP_INTERVAL
        nla(14, u8(1)),  # IFLA_BOND_XMIT_HASH_POLICY layer3+4
        nla(18, u32(1)),  # IFLA_BOND_MIN_LINKS
        nla(21, u8(1)),  # IFLA_BOND_AD_LACP_RATE fast
        nla(22, u8(0)),  # IFLA_BOND_AD_SELECT stable
        nla(29, u8(1)),  # IFLA_BOND_AD_LACP_ACTIVE on
        nla(33, u8(0)),  # IFLA_BOND_BROADCAST_NEIGH: newer than lanes, ignored
    ]
    if ad:
        attrs.append(
            nla(
                23 | NLA_F_NESTED,  # IFLA_BOND_AD_INFO
                nla(1, u16(1)) + nla(2, u16(2)) + nla(3, u16(15)) + nla(4, u16(32)) + nla(5, MAC_A),
            )
        )
    return b"".join(attrs)


def slave_bytes(state=0, mii=0, failures=2, agg=1, actor=63, partner=63, churn=(2, 2)):
    attrs = [
        nla(1, u8(state)),  # IFLA_BOND_SLAVE_STATE
        nla(2, u8(mii)),  # IFLA_BOND_SLAVE_MII_STATUS
        nla(3, u32(failures)),  # IFLA_BOND_SLAVE_LINK_FAILURE_COUNT
        nla(4, bytes.fromhex("b8599f123450")),  # IFLA_BOND_SLAVE_PERM_HWADDR
        nla(5, u16(0)),  # IFLA_BOND_SLAVE_QUEUE_ID
        nla(9, struct.pack("=i", 0)),  # IFLA_BOND_SLAVE_PRIO
    ]
    if agg is not None:
        attrs += [
            nla(6, u16(agg)),  # IFLA_BOND_SLAVE_AD_AGGREGATOR_ID
            nla(7, u8(actor)),  # IFLA_BOND_SLAVE_AD_ACTOR_OPER_PORT_STATE (u8)
            nla(8, u16(partner)),  # IFLA_BOND_SLAVE_AD_PARTNER_OPER_PORT_STATE (u16 on the wire)
        ]
        if churn:
            attrs += [nla(11, u8(churn[0])), nla(12, u8(churn[1]))]  # AD_CHURN_ACTOR/PARTNER_STATE
    return b"".join(attrs)


# ----------------------------------------------------------------------------- netlink


def test_decode_bond_info_with_ad_info():
    got = bl.decode_bond_info(bond_info_bytes(active_slave=3), {3: "ens1f0"})
    assert got["mode"] == "802.3ad"
    assert got["active_slave"] == "ens1f0"
    assert (got["miimon_ms"], got["arp_interval_ms"], got["min_links"]) == (100, 0, 1)
    assert (got["xmit_hash_policy"], got["lacp_rate"], got["ad_select"], got["lacp_active"]) == ("layer3+4", "fast", "stable", "on")
    assert got["ad"] == bl.AdInfo(aggregator_id=1, num_ports=2, actor_key=15, partner_key=32, partner_mac="3c:c7:86:43:ac:f1")


def test_decode_bond_info_802_3ad_without_ad_info_means_no_active_aggregator():
    # bond_fill_info nests IFLA_BOND_AD_INFO only when an active aggregator exists
    got = bl.decode_bond_info(bond_info_bytes(ad=False))
    assert got["ad"] == bl.AdInfo(aggregator_id=0, num_ports=0)


def test_decode_bond_info_other_modes():
    assert bl.decode_bond_info(bond_info_bytes(mode=1, ad=False))["mode"] == "active-backup"
    assert "ad" not in bl.decode_bond_info(bond_info_bytes(mode=2, ad=False))
    assert bl.decode_bond_info(nla(1, u8(9)))["mode"] == "9"  # a future mode keeps its number


def test_decode_bond_slave_all_fields():
    got = bl.decode_bond_slave(slave_bytes(state=1, mii=3, failures=7, agg=2, actor=15, partner=55, churn=(0, 1)))
    assert got == {
        "state": "backup",
        "mii_status": "going_back",
        "link_failures": 7,
        "perm_hwaddr": "b8:59:9f:12:34:50",
        "aggregator_id": 2,
        "actor_state": 15,
        "partner_state": 55,
        "actor_churn": "monitoring",
        "partner_churn": "churned",
    }


def test_decode_bond_slave_non_lacp_has_no_ad_fields():
    got = bl.decode_bond_slave(slave_bytes(agg=None))
    assert "aggregator_id" not in got and "actor_state" not in got


@pytest.mark.parametrize(
    "data",
    [
        nla(1, b""),  # IFLA_BOND_MODE without its byte
        nla(1, u8(4)) + nla(3, u16(1)),  # MIIMON too short for a u32
        nla(1, u8(4)) + nla(23, nla(5, b"\x01\x02")),  # partner MAC of 2 bytes
        nla(3, u32(100)),  # no mode at all
    ],
)
def test_decode_bond_info_rejects_malformed(data):
    with pytest.raises(ParseError):
        bl.decode_bond_info(data)


def test_bonds_from_netlink_joins_members_by_master_index():
    dump = [
        {"index": 1, "name": "lo"},
        {"index": 2, "name": "ens1f1", "slave_kind": "bond", "master": 4, "slave_data": slave_bytes(agg=2, actor=15, partner=63, state=1)},
        {"index": 3, "name": "ens1f0", "slave_kind": "bond", "master": 4, "slave_data": slave_bytes()},
        {"index": 4, "name": "bond0", "kind": "bond", "info_data": bond_info_bytes(active_slave=0)},
        {"index": 5, "name": "br0", "kind": "bridge", "info_data": b""},
    ]
    (bond,) = bl.bonds_from_netlink(dump)
    assert bond.name == "bond0" and bond.source == "netlink"
    assert [m.name for m in bond.members] == ["ens1f0", "ens1f1"]
    assert not bond.partner_hidden  # IFLA_BOND_AD_INFO is not gated on CAP_NET_ADMIN
    inside, outside = bond.members
    assert bl.member_outside_active_aggregator(bond, inside) is False
    assert bl.member_outside_active_aggregator(bond, outside) is True


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_netlink_decoders_raise_only_parse_error(data):
    for fn in (bl.decode_bond_info, bl.decode_bond_slave):
        try:
            fn(data)
        except ParseError:
            pass


# ----------------------------------------------------------------------------- sysfs

MASTER_8023AD = {
    "mode": "802.3ad 4\n",
    "slaves": "ens1f0 ens1f1\n",
    "active_slave": "",
    "primary": "",
    "miimon": "100\n",
    "arp_interval": "0\n",
    "xmit_hash_policy": "layer3+4 1\n",
    "lacp_rate": "fast 1\n",
    "lacp_active": "on 1\n",
    "ad_select": "stable 0\n",
    "min_links": "0\n",
    "ad_aggregator": "1\n",
    "ad_num_ports": "2\n",
    "ad_actor_key": "15\n",
    "ad_partner_key": "32\n",
    "ad_partner_mac": "3c:c7:86:43:ac:f1\n",
}


def test_sysfs_master_privileged():
    b = bl.parse_bond_sysfs("bond0", MASTER_8023AD)
    assert (b.mode, b.xmit_hash_policy, b.lacp_rate, b.ad_select, b.lacp_active) == ("802.3ad", "layer3+4", "fast", "stable", "on")
    assert b.slaves == ("ens1f0", "ens1f1")
    assert b.ad == bl.AdInfo(1, 2, 15, 32, "3c:c7:86:43:ac:f1")
    assert not b.partner_hidden


def test_sysfs_master_unprivileged_marks_partner_hidden_not_absent():
    # bond_sysfs.c prints ad_actor_key/ad_partner_key/ad_partner_mac only to CAP_NET_ADMIN
    files = dict(MASTER_8023AD, ad_actor_key="", ad_partner_key="", ad_partner_mac="")
    b = bl.parse_bond_sysfs("bond0", files)
    assert b.partner_hidden and b.ad.partner_mac is None and b.ad.aggregator_id == 1
    assert bl.bond_no_partner(b) is None  # no verdict without member states
    m = bl.BondMember("ens1f0", mii_status="up", state="active", aggregator_id=1, actor_state=61, partner_state=61)
    assert bl.bond_no_partner(dataclasses.replace(b, members=(m,))) is False


def test_sysfs_master_active_backup_and_old_kernel_without_lacp_active():
    files = {"mode": "active-backup 1\n", "slaves": "eno1 eno2\n", "active_slave": "eno2\n", "primary": "eno1\n",
             "miimon": "100\n", "arp_interval": "0\n", "ad_aggregator": "", "ad_num_ports": ""}  # fmt: skip
    b = bl.parse_bond_sysfs("bond0", files)
    assert (b.mode, b.active_slave, b.primary, b.lacp_active, b.ad) == ("active-backup", "eno2", "eno1", "", None)


@pytest.mark.parametrize(
    "files",
    [
        {"mode": "\n"},
        {"mode": "fault-tolerance 1\n"},
        {"mode": "802.3ad 4\n", "miimon": "fast\n"},
        {"mode": "802.3ad 4\n", "ad_partner_mac": "3c:c7:86\n"},
        {"mode": "802.3ad 4\n", "xmit_hash_policy": "layer9 7\n"},
    ],
)
def test_sysfs_master_rejects_garbage(files):
    with pytest.raises(ParseError):
        bl.parse_bond_sysfs("bond0", files)


def test_sysfs_slave_formats():
    files = {"state": "backup\n", "mii_status": "going back\n", "link_failure_count": "3\n", "perm_hwaddr": "a0:36:9f:11:22:30\n",
             "ad_aggregator_id": "N/A\n", "ad_actor_oper_port_state": "N/A\n", "ad_partner_oper_port_state": "N/A\n"}  # fmt: skip
    m = bl.parse_slave_sysfs("ens1f0", files, "/x")
    assert (m.state, m.mii_status, m.link_failures, m.aggregator_id, m.actor_state) == ("backup", "going_back", 3, None, None)
    # the old misspelled role, and a missing bonding_slave directory
    assert bl.parse_slave_sysfs("x", dict(files, state="UNKONWN\n"), "/x").state is None
    assert bl.parse_slave_sysfs("x", {"mii_status": None}, "/x") is None
    with pytest.raises(ParseError):
        bl.parse_slave_sysfs("x", dict(files, mii_status="sideways\n"), "/x")


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(bl.MASTER_FILES), st.text(max_size=30)), st.dictionaries(st.sampled_from(bl.SLAVE_FILES), st.text(max_size=30)))
def test_fuzz_sysfs_parsers_raise_only_parse_error(master, slave):
    try:
        bl.parse_bond_sysfs("bond0", master)
    except ParseError:
        pass
    try:
        bl.parse_slave_sysfs("eth0", slave, "/x")
    except ParseError:
        pass


# ----------------------------------------------------------------------------- /proc/net/bonding

# real-captures.md L-1, kernel 6.8 (a course's LACP lab, veth members): the lines the
# capture elides ("...") are left out; the Active Aggregator Info lines start with a TAB.
PROC_68 = capture("linux-6.8-lacp-lab/proc-net-bonding-bond0.txt")


def test_proc_68_healthy_monitoring_is_not_a_fault():
    p = bl.parse_proc_bonding(PROC_68, "bond0")
    assert (p.mode, p.lacp_active, p.lacp_rate, p.min_links, p.ad_select) == ("802.3ad", "on", "fast", 0, "stable")
    assert p.ad == bl.AdInfo(1, 2, 15, 15, "02:fc:ce:91:32:14")
    (m,) = p.members
    assert (m.name, m.mii_status, m.link_failures, m.aggregator_id) == ("e1", "up", 1, 1)
    assert (m.actor_state, m.partner_state, m.actor_key) == (63, 63, 15)
    assert (m.actor_churn, m.partner_churn, m.actor_churned, m.partner_churned) == ("monitoring", "monitoring", 0, 0)
    b = bl.merge_proc(None, p, "bond0")
    assert bl.bond_no_partner(b) is False
    assert bl.member_sync_missing(b, b.members[0]) is False


# real-captures.md L-1: RHEL 7 insights-core BOND_MODE_4 (the partner-less active aggregator),
# completed into whole blocks from the same capture's lines; pasted with 8 blanks for TABs
PROC_RHEL7_NO_PARTNER = capture("insights-core/proc-net-bonding-mode4.txt")


def test_proc_rhel7_partnerless_active_aggregator():
    b = bl.merge_proc(None, bl.parse_proc_bonding(PROC_RHEL7_NO_PARTNER, "bond0"), "bond0")
    assert b.source == "procfs" and not b.partner_hidden
    assert b.ad.partner_mac == _lacp.ZERO_MAC and b.ad.num_ports == 1
    assert bl.bond_no_partner(b) is True
    up, down = b.members
    assert (up.actor_state, up.partner_state, up.partner_system) == (77, 1, _lacp.ZERO_MAC)
    assert (down.mii_status, down.aggregator_id, down.actor_key) == ("down", 2, 0)
    assert bl.member_outside_active_aggregator(b, down) is False  # down members are not judged here
    assert bl.member_sync_missing(b, up) is True  # 77 lacks collecting/distributing
    assert bl.member_timeout_mismatch(b, up) is False  # defaulted partner: no verdict
    assert bl.bond_different_partners(b) is False  # the zero system is no partner


# real-captures.md L-1: a 5.15 read without CAP_NET_ADMIN (NVIDIA BlueField-3 guide)
PROC_515_UNPRIVILEGED = capture("nvidia-bluefield3/proc-net-bonding-unprivileged.txt")


def test_proc_515_unprivileged_is_partial_not_partnerless():
    b = bl.merge_proc(None, bl.parse_proc_bonding(PROC_515_UNPRIVILEGED, "bond0"), "bond0")
    assert b.partner_hidden and b.ad == bl.AdInfo()
    assert bl.bond_no_partner(b) is None
    assert b.members[0].aggregator_id == 1 and b.members[0].actor_state is None


# real-captures.md L-1: v3.5.0 (Ubuntu community docs, telegraf bond_test.go)
PROC_350 = capture("ubuntu-community-docs/proc-net-bonding-v3.5.0.txt")


def test_proc_350_no_active_aggregator():
    b = bl.merge_proc(None, bl.parse_proc_bonding(PROC_350, "bond0"), "bond0")
    assert b.ad == bl.AdInfo(aggregator_id=0, num_ports=0) and not b.partner_hidden
    assert b.members[0].aggregator_id is None
    assert bl.bond_no_partner(b) is True
    assert bl.bond_no_link_monitoring(b) is False


# real-captures.md L-1: v3.6.0 prints Aggregator ID before Slave queue ID
PROC_360 = capture("troubleshooting-note/proc-net-bonding-v3.6.0.txt")


def test_proc_360_line_order():
    p = bl.parse_proc_bonding(PROC_360, "bond0")
    assert p.members[0].aggregator_id == 1 and p.ad.aggregator_id == 0


# real-captures.md L-1: RHEL 9 active-backup with fail_over_mac and primary_reselect, and
# ARP monitoring (insights-core BONDINFO_MODE_7)
PROC_RHEL9_AB = capture("insights-core/proc-net-bonding-mode7.txt")


def test_proc_rhel9_active_backup_arp_monitoring():
    b = bl.merge_proc(None, bl.parse_proc_bonding(PROC_RHEL9_AB, "bond0"), "bond0")
    assert (b.mode, b.primary, b.active_slave, b.miimon_ms, b.arp_interval_ms) == ("active-backup", "enp0s8", "enp0s9", 0, 1000)
    assert bl.bond_no_link_monitoring(b) is False
    assert [m.mii_status for m in b.members] == ["down", "up"]  # a down slave still prints a speed
    assert b.ad is None and not b.partner_hidden


def test_proc_no_monitoring_at_all():
    text = PROC_RHEL9_AB.replace("ARP Polling Interval (ms): 1000\n", "").replace("ARP Missed Max: 2\n", "").replace(
        "ARP IP target/s (n.n.n.n form): 10.152.1.1\n", ""
    )
    assert bl.bond_no_link_monitoring(bl.merge_proc(None, bl.parse_proc_bonding(text), "bond0")) is True


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello\n",
        "Ethernet Channel Bonding Driver: v6.8\n\nBonding Mode: something else\n",
        "Ethernet Channel Bonding Driver: v6.8\n\nBonding Mode: load balancing (xor)\nMII Polling Interval (ms): often\n",
        PROC_68.replace("Actor Churn State: monitoring", "Actor Churn State: angry"),
        PROC_68.replace("port state: 63", "port state: lots"),
        PROC_68.replace("Slave Interface: e1", "Slave Interface:"),
    ],
)
def test_proc_rejects_garbage(text):
    with pytest.raises(ParseError):
        bl.parse_proc_bonding(text, "bond0")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_fuzz_proc_raises_only_parse_error(text):
    try:
        bl.parse_proc_bonding(text, "bond0")
    except ParseError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(PROC_RHEL7_NO_PARTNER.splitlines() + PROC_68.splitlines()), max_size=60))
def test_fuzz_proc_shuffled_real_lines(lines):
    try:
        p = bl.parse_proc_bonding("\n".join(lines), "bond0")
    except ParseError:
        return
    bl.merge_proc(None, p, "bond0")


# ----------------------------------------------------------------------------- group model


def _link(name, up=True, speed=1_250_000_000):
    return Link(name=name, operstate="up" if up else "down", speed_bytes=speed, rx_bytes=10, tx_bytes=20)


def test_group_members_up_for_8023ad_needs_the_active_aggregator_and_the_kernel_enabling_the_port():
    ad = bl.AdInfo(1, 1, 15, 32, "3c:c7:86:43:ac:f1")
    members = (
        bl.BondMember("a", mii_status="up", state="active", aggregator_id=1, actor_state=63, partner_state=63),
        bl.BondMember("b", mii_status="up", state="backup", aggregator_id=2, actor_state=15, partner_state=63),
        bl.BondMember("c", mii_status="up", state="backup", aggregator_id=1, actor_state=15, partner_state=55),
        bl.BondMember("d", mii_status="down", state="backup", aggregator_id=3, actor_state=69, partner_state=1),
    )
    bond = bl.Bond(name="bond0", mode="802.3ad", ad=ad, members=members)
    (g,) = bond_groups([bond], {n: _link(n) for n in "abcd"})
    assert (g.kind, g.policy, g.balancing) == ("bond", "802.3ad", "load")
    assert [(m.name, m.up) for m in g.members] == [("a", True), ("b", False), ("c", False), ("d", False)]
    assert g.members[0].sample == ("link", "a") and g.members[0].rx_bytes == 10


def test_group_active_backup_counts_standby_members_as_up():
    members = (bl.BondMember("a", mii_status="up", state="active"), bl.BondMember("b", mii_status="up", state="backup"))
    (g,) = bond_groups([bl.Bond(name="bond0", mode="active-backup", members=members)], {})
    assert g.balancing == "failover" and [m.up for m in g.members] == [True, True]


def test_mixed_speeds_only_over_mii_up_members():
    members = (bl.BondMember("a", mii_status="up"), bl.BondMember("b", mii_status="up"), bl.BondMember("c", mii_status="down"))
    bond = bl.Bond(name="bond1", mode="balance-xor", members=members)
    links = {"a": _link("a", speed=1_250_000_000), "b": _link("b", speed=125_000_000), "c": _link("c", speed=12_500_000)}
    assert bl.bond_mixed_speeds(bond, links) is True
    links["b"] = _link("b", speed=1_250_000_000)
    assert bl.bond_mixed_speeds(bond, links) is False


# ----------------------------------------------------------------------------- the live path


class NetlinkHost:
    """A live host whose netlink dump is given, and whose /proc/net/bonding is text."""

    platform = "linux"
    live = True

    def __init__(self, dump, proc=None):
        self.dump, self.proc, self.reads = dump, proc or {}, []

    def netlink_links(self):
        return self.dump

    def read_optional(self, path):
        self.reads.append(path)
        return self.proc.get(path)


def test_live_path_reads_procfs_only_for_split_8023ad_bonds():
    healthy = [
        {"index": 2, "name": "e1", "slave_kind": "bond", "master": 4, "slave_data": slave_bytes()},
        {"index": 3, "name": "e2", "slave_kind": "bond", "master": 4, "slave_data": slave_bytes()},
        {"index": 4, "name": "bond0", "kind": "bond", "info_data": bond_info_bytes()},
    ]
    h = NetlinkHost(healthy)
    (b,) = bl.read_bonds(h)
    assert b.source == "netlink" and h.reads == []
    assert bl.bond_different_partners(b) is None  # netlink names no per-member partner

    split = [dict(healthy[0]), dict(healthy[1], slave_data=slave_bytes(state=1, agg=2, actor=15)), healthy[2]]
    proc = PROC_68.replace("Slave Interface: e1", "Slave Interface: e2").replace("Aggregator ID: 1\nActor", "Aggregator ID: 2\nActor")
    proc = proc.replace("details partner lacp pdu:\n", "details partner lacp pdu:\n    system mac address: 3c:c7:86:99:00:01\n")
    h = NetlinkHost(split, {"/proc/net/bonding/bond0": PROC_68 + proc[proc.index("\nSlave Interface"):]})
    (b,) = bl.read_bonds(h)
    assert h.reads == ["/proc/net/bonding/bond0"]
    assert b.source == "netlink+procfs"
    assert [m.partner_system for m in b.members] == [None, "3c:c7:86:99:00:01"]
    # the active aggregator's partner stays the netlink one; the other member reaches another switch
    assert b.ad.partner_mac == "3c:c7:86:43:ac:f1"
    assert bl.member_outside_active_aggregator(b, b.members[1]) is True
    assert bl.bond_different_partners(b) is True  # e1's partner is the active aggregator's
