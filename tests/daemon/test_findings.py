"""The checks of exporter/findings.py on hand-built families: each fires on the setup
SPEC §13 names and stays quiet on its healthy neighbour."""

from __future__ import annotations

from exporter import findings
from exporter.metrics import gauge, info

GB10 = 1_250_000_000


def fam(name, labels, rows, kind="gauge"):
    f = info(name, "t", labels) if name.endswith("_info") else gauge(name, "t", labels)
    for lv, v in rows:
        f.add(lv, v)
    return f


def bond(name="bond0", members=("eth0", "eth1"), up=(1, 1), policy="802.3ad", balancing="load", hash_policy="layer3+4"):
    return [
        fam("group_info", ("kind", "group", "policy", "balancing"), [(("bond", name, policy, balancing), 1)]),
        fam("member_up", ("kind", "group", "member"), [(("bond", name, m), u) for m, u in zip(members, up)]),  # noqa: B905
        fam("member_speed_bytes", ("kind", "group", "member"), [(("bond", name, m), GB10) for m in members]),
        fam("bond_info", ("bond", "xmit_hash_policy"), [((name, hash_policy), 1)]),
    ]


def checks(families, platform="linux"):
    return [(f.check, f.kind, f.group, f.subject) for f in findings.evaluate(families, platform)]


def session(target, sid, netdev):
    return ((target, f"10.0.0.{sid}:3260", sid, netdev), 1)


SESS = ("target", "portal", "session", "netdev")


def test_one_iscsi_session_over_a_bond():
    fams = [*bond(), fam("iscsi_session_info", SESS, [session("iqn.t:a", "session1", "bond0")])]
    (f,) = findings.evaluate(fams)
    assert (f.check, f.kind, f.group, f.subject) == ("iscsi_single_session_over_aggregate", "bond", "bond0", "iqn.t:a")
    assert "2 × 10 Gbit/s: this session can never exceed 10 Gbit/s" in f.text
    assert "iscsiadm -m iface" in f.fix
    # two sessions, or one over a plain NIC, or a bond of one member: nothing to say
    assert checks([*bond(), fam("iscsi_session_info", SESS, [session("iqn.t:a", "session1", "bond0"), session("iqn.t:a", "session2", "bond0")])]) == []
    assert checks([*bond(), fam("iscsi_session_info", SESS, [session("iqn.t:a", "session1", "eth9")])]) == []
    assert checks([*bond(members=("eth0",), up=(1,)), fam("iscsi_session_info", SESS, [session("iqn.t:a", "session1", "bond0")])]) == []


def test_vlan_over_the_bond_counts_as_the_bond():
    fams = [*bond(), fam("iscsi_session_info", SESS, [session("iqn.t:a", "session1", "bond0.100")])]
    assert checks(fams) == [("iscsi_single_session_over_aggregate", "bond", "bond0", "iqn.t:a")]


def test_illumos_fix_speaks_illumos():
    fams = [
        fam("group_info", ("kind", "group", "policy", "balancing"), [(("aggr", "aggr0", "L4", "load"), 1)]),
        fam("member_up", ("kind", "group", "member"), [(("aggr", "aggr0", "ixgbe0"), 1), (("aggr", "aggr0", "ixgbe1"), 1)]),
        fam("iscsi_session_info", ("target", "member", "portal", "netdev"), [(("iqn.t:b", "10.1.1.1:3260", "10.1.1.1:3260", "aggr0"), 1)]),
    ]
    (f,) = findings.evaluate(fams, "illumos")
    assert f.kind == "aggr" and "stmsboot" in f.fix and "iscsiadm -m" not in f.fix


FLOW = ("protocol", "local", "remote", "netdev", "kind", "group", "member")


def test_target_side_one_connection_per_initiator():
    flows = fam("flow_info", FLOW, [
        (("iscsi", "10.0.0.1:3260", "10.0.0.21:40002", "bond0", "bond", "bond0", "eth1"), 1),
        (("iscsi", "10.0.0.1:3260", "10.0.0.22:40000", "bond0", "bond", "bond0", "eth0"), 1),
        (("iscsi", "10.0.0.1:3260", "10.0.0.22:40001", "bond0", "bond", "bond0", "eth1"), 1),
    ])
    assert checks([*bond(), flows]) == [("iscsi_single_session_over_aggregate", "bond", "bond0", "initiator 10.0.0.21")]


def test_flows_on_one_member_and_the_fix_for_the_hash_policy():
    rows = [(("iscsi", f"10.0.0.1:{40000 + i}", "10.0.0.2:3260", "bond0", "bond", "bond0", "eth1"), 1) for i in range(2)]
    (f,) = findings.evaluate([*bond(hash_policy="layer2"), fam("flow_info", FLOW, rows)])
    assert (f.check, f.subject) == ("flows_on_one_member", "eth1") and "layer3+4" in f.fix and "already" not in f.fix
    (f,) = findings.evaluate([*bond(), fam("flow_info", FLOW, rows)])
    assert "already hashes on ports" in f.fix
    # spread over both, a failover group, or the other member down: nothing
    spread = [rows[0], (("iscsi", "10.0.0.1:40009", "10.0.0.2:3260", "bond0", "bond", "bond0", "eth0"), 1)]
    assert checks([*bond(), fam("flow_info", FLOW, spread)]) == []
    assert checks([*bond(balancing="failover"), fam("flow_info", FLOW, rows)]) == []
    assert checks([*bond(up=(1, 0)), fam("flow_info", FLOW, rows)]) == []


def test_nfs_one_transport():
    nfs = ("mount", "export", "kind", "group")
    assert checks([*bond(), fam("nfs_mount_transports", nfs, [(("/mnt/a", "srv:/a", "bond", "bond0"), 1)])]) == [("nfs_single_transport_over_aggregate", "bond", "bond0", "/mnt/a")]
    assert checks([*bond(), fam("nfs_mount_transports", nfs, [(("/mnt/a", "srv:/a", "bond", "bond0"), 4)])]) == []


def test_nvme_one_controller_over_a_bond():
    c = ("nqn", "controller", "transport", "netdev")
    assert checks([*bond(), fam("nvme_controller_info", c, [(("nqn.x", "nvme0", "tcp", "bond0"), 1)])]) == [("nvme_single_controller_over_aggregate", "bond", "bond0", "nqn.x")]
    assert checks([*bond(), fam("nvme_controller_info", c, [(("nqn.x", "nvme0", "tcp", "bond0"), 1), (("nqn.x", "nvme1", "tcp", "bond0"), 1)])]) == []


def test_paths_share_one_nic():
    p = ("kind", "group", "member", "netdev")
    assert checks([fam("path_info", p, [(("multipath", "mpatha", "sdc", "ens1f0"), 1), (("multipath", "mpatha", "sdd", "ens1f0"), 1)])]) == [("paths_share_one_nic", "multipath", "mpatha", "ens1f0")]
    assert checks([fam("path_info", p, [(("multipath", "mpatha", "sdc", "ens1f0"), 1), (("multipath", "mpatha", "sdd", "ens2f0"), 1)])]) == []


def test_failover_only_only_when_all_paths_are_preferred():
    base = [
        fam("multipath_map_info", ("map", "policy"), [(("mpatha", "failover"), 1)]),
        fam("member_up", ("kind", "group", "member"), [(("multipath", "mpatha", "sdc"), 1), (("multipath", "mpatha", "sdd"), 1)]),
    ]
    alua = ("map", "path", "state")
    assert checks(base) == [("mpio_failover_only", "multipath", "mpatha", "mpatha")]  # no ALUA: all paths equal
    opt = fam("multipath_path_alua_state", alua, [(("mpatha", "sdc", "active/optimized"), 1), (("mpatha", "sdd", "active/optimized"), 1)])
    assert checks([*base, opt]) == [("mpio_failover_only", "multipath", "mpatha", "mpatha")]
    mixed = fam("multipath_path_alua_state", alua, [(("mpatha", "sdc", "active/optimized"), 1), (("mpatha", "sdd", "active/non-optimized"), 1)])
    assert checks([*base, mixed]) == []  # never advise I/O over non-optimized paths
    pref = fam("member_preferred", ("kind", "group", "member"), [(("multipath", "mpatha", "sdc"), 1), (("multipath", "mpatha", "sdd"), 0)])
    assert checks([*base, pref]) == []


def test_family_and_json():
    fams = [*bond(), fam("iscsi_session_info", SESS, [session("iqn.t:a", "session1", "bond0")])]
    found = findings.evaluate(fams)
    f = findings.family(found)
    assert f.name == "lanes_finding" and f.samples == [(("iscsi_single_session_over_aggregate", "warning", "bond", "bond0", "iqn.t:a"), 1)]
    import json

    doc = json.loads(findings.render_json(found, {}, "test"))
    assert doc["findings"][0]["evidence"] and doc["findings"][0]["check"] == "iscsi_single_session_over_aggregate"


def test_declared_group_on_one_nic_gets_a_routing_fix():
    fams = [
        fam("group_info", ("kind", "group", "policy", "balancing"), [(("declared", "san", "declared", "load"), 1)]),
        fam("member_up", ("kind", "group", "member"), [(("declared", "san", "l0"), 1), (("declared", "san", "l1"), 1)]),
        fam("flow_info", FLOW, [(("iscsi", f"[fd00::1]:{4000 + i}", "[fd00::9]:3260", "l0", "declared", "san", "l0"), 1) for i in range(2)]),
    ]
    (f,) = findings.evaluate(fams)
    assert f.check == "flows_on_one_member" and "ip rule add from" in f.fix and "xmit_hash_policy" not in f.fix


def lagg(name="lagg0", members=("ix0", "ix1")):
    return [
        fam("group_info", ("kind", "group", "policy", "balancing"), [(("lagg", name, "lacp", "load"), 1)]),
        fam("member_up", ("kind", "group", "member"), [(("lagg", name, m), 1) for m in members]),
        fam("member_speed_bytes", ("kind", "group", "member"), [(("lagg", name, m), GB10) for m in members]),
    ]


CTL = ("target", "member", "initiator", "initiator_address", "netdev")


def ctl_session(ini, addr, netdev="lagg0", target="iqn.t:ctl"):
    return ((target, f"{ini}@{addr}", ini, addr, netdev), 1)


def test_ctld_target_one_session_per_initiator_over_a_lagg():
    rows = [ctl_session("iqn.i:esx01", "10.0.0.21"), ctl_session("iqn.i:esx01", "10.0.0.22"), ctl_session("iqn.i:esx02", "10.0.0.31")]
    fams = [*lagg(), fam("ctl_session_info", CTL, rows)]
    (f,) = findings.evaluate(fams, "freebsd")
    assert (f.check, f.kind, f.group, f.subject) == ("iscsi_single_session_over_aggregate", "lagg", "lagg0", "initiator iqn.i:esx02")
    assert "2 × 10 Gbit/s: its I/O can never exceed 10 Gbit/s" in f.text
    assert "/etc/ctl.conf" in f.fix and "listen" in f.fix
    # a session on a plain NIC, or with no known NIC (a routed initiator): nothing to say
    assert checks([*lagg(), fam("ctl_session_info", CTL, [ctl_session("iqn.i:esx02", "10.0.0.31", "igb0")])], "freebsd") == []
    assert checks([*lagg(), fam("ctl_session_info", CTL, [ctl_session("iqn.i:esx02", "10.0.0.31", "")])], "freebsd") == []


def test_every_family_a_check_reads_is_in_used():
    # _rows reads only findings.USED: a check that reads a family not listed would see nothing
    import re

    with open(findings.__file__) as f:
        source = f.read()
    start = source.index("USED = frozenset(")
    source = source[:start] + source[source.index(")\n", start) :]  # the list itself does not count
    read = set(re.findall(r'"(lanes_[a-z_]+)"', source))
    assert read and read <= findings.USED, read - findings.USED
