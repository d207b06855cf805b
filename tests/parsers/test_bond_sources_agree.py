"""One bond, two sources: the sysfs files and /proc/net/bonding of the SAME bond state must
give the same member and group series (lanes_member_up, lanes_bond_member_state,
lanes_bond_lacp_no_partner...).  Each form is written the way the kernel prints it
(bond_sysfs.c / bond_sysfs_slave.c, bond_procfs.c, v6.12) for one state of the bond:

* 802.3ad, partner-less: the switch sends no LACPDU.  bond_3ad.c ad_agg_selection_logic()
  still selects an aggregator and, since it has no partner (zero partner MAC), enables its
  ports (__enable_port(): slave state "active") although their actor state lacks
  collecting/distributing (79 = activity|timeout|aggregation|sync|defaulted).  A second
  member sits alone in aggregator 1 (disabled: "backup"), a third is MII down.  This is
  the topology of the CentOS 7 capture in tests/captures/blackmetalz-linux-notes/.
* 802.3ad with a partner: one member collecting/distributing, one in the active aggregator
  but still waiting for sync (actor 15: not enabled).
* active-backup: ``Currently Active Slave`` against sysfs ``state``.
"""

from __future__ import annotations

import pytest
from helpers import parse_exposition

from collectors import bond_linux as bl
from collectors._link_common import Link
from collectors.bond_linux.model import MODES, PROC_MODES
from collectors.bond_linux.sysfs import read_bond_sysfs
from exporter.metrics import render
from exporter.model import group_families

ZERO = "00:00:00:00:00:00"
SYSTEM = "00:25:90:85:81:f2"
SWITCH = "3c:c7:86:43:ac:f1"


class DictHost:
    platform = "linux"
    live = False

    def __init__(self, files: dict[str, str]):
        self.files = files

    def read_optional(self, path):
        return self.files.get(path)

    def read_text(self, path):
        if path not in self.files:
            raise FileNotFoundError(path)
        return self.files[path]

    def list_optional(self, path):
        pre = path.rstrip("/") + "/"
        return sorted({p[len(pre) :].split("/")[0] for p in self.files if p.startswith(pre)})

    def exists(self, path):
        pre = path.rstrip("/") + "/"
        return path in self.files or any(p.startswith(pre) for p in self.files)


# (name, mii, state, aggregator, actor state, partner state, partner system)
Member = tuple


def sysfs_files(bond: str, mode: str, members: list[Member], ad: tuple | None, active: str = "") -> dict[str, str]:
    mode_no = MODES.index(mode)
    base = f"/sys/class/net/{bond}/bonding"
    f = {
        f"{base}/mode": f"{mode} {mode_no}\n",
        f"{base}/slaves": " ".join(m[0] for m in members) + "\n",
        f"{base}/active_slave": f"{active}\n" if active else "\n",
        f"{base}/primary": "\n",
        f"{base}/miimon": "100\n",
        f"{base}/arp_interval": "0\n",
        f"{base}/min_links": "0\n",
        f"{base}/xmit_hash_policy": "layer3+4 1\n",
        f"{base}/lacp_rate": "fast 1\n",
        f"{base}/lacp_active": "on 1\n",
        f"{base}/ad_select": "stable 0\n",
    }
    if ad is not None:
        agg, ports, akey, pkey, pmac = ad
        f.update({f"{base}/ad_aggregator": f"{agg}\n", f"{base}/ad_num_ports": f"{ports}\n", f"{base}/ad_actor_key": f"{akey}\n",
                  f"{base}/ad_partner_key": f"{pkey}\n", f"{base}/ad_partner_mac": f"{pmac}\n"})  # fmt: skip
    for name, mii, state, agg, actor, partner, _system in members:
        s = f"/sys/class/net/{name}/bonding_slave"
        f.update({f"{s}/mii_status": f"{mii}\n", f"{s}/state": f"{state}\n", f"{s}/link_failure_count": "2\n"})
        if mode == "802.3ad":
            f.update({f"{s}/ad_aggregator_id": f"{agg}\n", f"{s}/ad_actor_oper_port_state": f"{actor}\n",
                      f"{s}/ad_partner_oper_port_state": f"{partner}\n"})  # fmt: skip
    return f


def procfs_text(bond: str, mode: str, members: list[Member], ad: tuple | None, active: str = "") -> str:
    long = {v: k for k, v in PROC_MODES.items()}[mode]
    out = ["Ethernet Channel Bonding Driver: v6.12.0", "", f"Bonding Mode: {long}"]
    if mode == "active-backup":
        out += ["Primary Slave: None", f"Currently Active Slave: {active or 'None'}"]
    else:
        out += ["Transmit Hash Policy: layer3+4 (1)"]
    out += ["MII Status: up", "MII Polling Interval (ms): 100", "Up Delay (ms): 0", "Down Delay (ms): 0", "Peer Notification Delay (ms): 0"]
    if mode == "802.3ad":
        out += ["", "802.3ad info", "LACP active: on", "LACP rate: fast", "Min links: 0", "Aggregator selection policy (ad_select): stable",
                "System priority: 65535", f"System MAC address: {SYSTEM}"]  # fmt: skip
        agg, ports, akey, pkey, pmac = ad
        out += ["Active Aggregator Info:", f"\tAggregator ID: {agg}", f"\tNumber of ports: {ports}", f"\tActor Key: {akey}",
                f"\tPartner Key: {pkey}", f"\tPartner Mac Address: {pmac}"]  # fmt: skip
    for name, mii, _state, agg, actor, partner, system in members:
        out += ["", f"Slave Interface: {name}", f"MII Status: {mii}", "Speed: 1000 Mbps", "Duplex: full", "Link Failure Count: 2",
                "Permanent HW addr: 00:25:90:85:81:f3", "Slave queue ID: 0"]  # fmt: skip
        if mode == "802.3ad":
            out += [f"Aggregator ID: {agg}", "Actor Churn State: none", "Partner Churn State: churned", "Actor Churned Count: 1",
                    "Partner Churned Count: 3", "details actor lacp pdu:", "    system priority: 65535",
                    f"    system mac address: {SYSTEM}", "    port key: 9", "    port priority: 255", "    port number: 2",
                    f"    port state: {actor}", "details partner lacp pdu:", "    system priority: 65535",
                    f"    system mac address: {system}", "    oper key: 1", "    port priority: 255", "    port number: 1",
                    f"    port state: {partner}"]  # fmt: skip
    return "\n".join(out) + "\n"


CASES = {
    "8023ad-partnerless": (
        "802.3ad",
        [
            ("enp1s0f0", "up", "backup", 1, 71, 1, ZERO),  # alone in aggregator 1: disabled
            ("enp1s0f1", "up", "active", 2, 79, 1, ZERO),  # the active partner-less aggregator: enabled
            ("enp2s0f0", "down", "backup", 2, 71, 1, ZERO),
        ],  # fmt: skip
        (2, 1, 9, 1, ZERO),
        "",
    ),
    "8023ad-partner": (
        "802.3ad",
        [("eth0", "up", "active", 1, 63, 63, SWITCH), ("eth1", "up", "backup", 1, 15, 55, SWITCH)],
        (1, 2, 9, 32, SWITCH),
        "",
    ),
    "active-backup": (
        "active-backup",
        [("eth0", "up", "backup", None, None, None, None), ("eth1", "up", "active", None, None, None, None)],
        None,
        "eth1",
    ),
}

#: series that only one source can have: the info label naming the source, and what only
#: the root-only pdu lines of /proc/net/bonding tell (churn counts, each member's partner
#: system, and so whether members reach different partners)
ONE_SOURCE_ONLY = {"lanes_bond_info", "lanes_bond_member_lacp_churn_state", "lanes_bond_member_lacp_churned_total",
                   "lanes_bond_member_lacp_partner_info", "lanes_bond_lacp_members_on_different_partners"}  # fmt: skip


def series(bond: bl.Bond) -> dict:
    links = {m.name: Link(name=m.name, operstate="up", speed_bytes=125_000_000, rx_bytes=1, tx_bytes=2) for m in bond.members}
    fams = bl.bond_families([bond], links) + group_families(bl.to_groups([bond], links))
    skip = ONE_SOURCE_ONLY if bond.lacp else ONE_SOURCE_ONLY | {"lanes_bond_min_links"}  # procfs: in the 802.3ad block only
    return {k: v for k, v in parse_exposition(render(fams).decode()).items() if k[0] not in skip}


@pytest.mark.parametrize("case", sorted(CASES))
def test_sysfs_and_procfs_forms_of_one_bond_give_the_same_series(case):
    mode, members, ad, active = CASES[case]
    from_sysfs = read_bond_sysfs(DictHost(sysfs_files("bond0", mode, members, ad, active)), "bond0")
    from_proc = bl.merge_proc(None, bl.parse_proc_bonding(procfs_text("bond0", mode, members, ad, active), "bond0"), "bond0")
    assert (from_sysfs.source, from_proc.source) == ("sysfs", "procfs")
    s, p = series(from_sysfs), series(from_proc)
    assert s == p
    # and the answer is the kernel's: enabled ports carry traffic, nothing else does
    up = {dict(k[1])["member"]: v for k, v in s.items() if k[0] == "lanes_member_up"}
    assert up == {m[0]: (1.0 if m[2] == "active" or mode == "active-backup" and m[1] == "up" else 0.0) for m in members}
    if case == "8023ad-partnerless":
        assert s[("lanes_bond_lacp_no_partner", (("bond", "bond0"),))] == 1
        assert s[("lanes_group_members_up", (("group", "bond0"), ("kind", "bond")))] == 1


def test_partnerless_rules_from_the_kernel():
    """bond_3ad.c: only the active aggregator's ports are enabled without a partner, and
    __enable_port() needs the slave's link up."""
    ad = bl.AdInfo(aggregator_id=2, num_ports=1, partner_mac=ZERO)
    state = lambda **kw: bl.proc_member_state("802.3ad", "", False, ad, bl.BondMember("x", **kw))  # noqa: E731
    assert state(mii_status="up", aggregator_id=2, actor_state=79) == "active"
    assert state(mii_status="up", aggregator_id=1, actor_state=79) == "backup"
    assert state(mii_status="down", aggregator_id=2, actor_state=71) == "backup"
    # unprivileged read: no Active Aggregator Info, so nothing is claimed
    assert bl.proc_member_state("802.3ad", "", False, None, bl.BondMember("x", mii_status="up", aggregator_id=1)) is None
    # "bond bond0 has no active aggregator"
    assert bl.proc_member_state("802.3ad", "", False, bl.AdInfo(0, 0), bl.BondMember("x", mii_status="up")) == "backup"
    # load-balancing modes keep every slave active
    assert bl.proc_member_state("balance-alb", "", False, None, bl.BondMember("x", mii_status="down")) == "active"


def test_no_aggregator_line_claims_nothing():
    """A driver that prints no per-slave ``Aggregator ID:`` says nothing of which ports the
    active aggregator holds: no role is derived (and the port counts as up when MII is up);
    ``Aggregator ID: N/A`` is printed for a port without an aggregator: backup."""
    ad = bl.AdInfo(aggregator_id=1, num_ports=1, partner_mac=SWITCH)
    member = bl.BondMember("x", mii_status="up")
    assert bl.proc_member_state("802.3ad", "", False, ad, member, agg_line=False) is None
    assert bl.proc_member_state("802.3ad", "", False, ad, member, agg_line=True) == "backup"
    text = procfs_text("bond0", "802.3ad", [("eth0", "up", "active", 1, 63, 63, SWITCH)], (1, 1, 9, 32, SWITCH))
    text = "\n".join(line for line in text.splitlines() if not line.startswith("Aggregator ID"))
    b = bl.merge_proc(None, bl.parse_proc_bonding(text, "bond0"), "bond0")
    assert b.members[0].aggregator_id is None and b.members[0].state is None
    (g,) = bl.to_groups([b], {})
    assert g.members[0].up is True
