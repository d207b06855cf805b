"""/proc/net/bonding parsed from real captures (tests/captures/, each with its source in its
header): RHEL 5, 7 and 9 era drivers, an unprivileged read, bonds with members in two
aggregators.  What is expected is what the kernel did on those hosts (bond_3ad.c,
bond_procfs.c, v6.12), not what lanes printed before."""

from __future__ import annotations

import glob
import os
import re

from builders.captures import CAPTURES, capture, split

from collectors import _lacp
from collectors import bond_linux as bl
from collectors._link_common import Link
from collectors.bond_linux import to_groups as bond_groups


def bond(text: str) -> bl.Bond:
    return bl.merge_proc(None, bl.parse_proc_bonding(text, "bond0"), "bond0")


def up(b: bl.Bond) -> dict[str, bool]:
    links = {m.name: Link(name=m.name, operstate="up") for m in b.members}
    (g,) = bond_groups([b], links)
    return {m.name: m.up for m in g.members}


def test_every_capture_has_its_source():
    files = sorted(glob.glob(os.path.join(CAPTURES, "*", "*")))
    for path in files:
        with open(path, encoding="utf-8", newline="") as f:
            header, body = split(f.read(), path)
        assert header.get("source") and header.get("os") and header.get("command") and body.strip(), path
    assert len(files) >= 7


def test_rhel5_v324_partnerless_active_aggregator_and_a_second_aggregator():
    b = bond(capture("insights-core/proc-net-bonding-rhel5-v3.2.4-8023ad-two-aggregators.txt"))
    assert (b.mode, b.xmit_hash_policy, b.lacp_rate, b.miimon_ms, b.arp_interval_ms) == ("802.3ad", "layer2", "slow", 500, 0)
    assert b.ad == bl.AdInfo(aggregator_id=3, num_ports=1, actor_key=17, partner_key=1, partner_mac=_lacp.ZERO_MAC)
    eth1, eth2 = b.members
    # no churn or pdu lines in this driver: only MII, failures, HW addr, aggregator
    assert (eth1.aggregator_id, eth1.actor_state, eth1.actor_churn) == (3, None, None)
    assert eth2.aggregator_id == 2
    # the partner-less active aggregator's port is enabled (ad_agg_selection_logic), the
    # other aggregator's is not, although its link is up
    assert (eth1.state, eth2.state) == ("active", "backup")
    assert up(b) == {"eth1": True, "eth2": False}
    assert bl.bond_no_partner(b) is True
    assert bl.member_outside_active_aggregator(b, eth2) is True


def test_rhel7_partnerless_active_aggregator():
    b = bond(capture("insights-core/proc-net-bonding-mode4.txt"))
    enp0s9, enp0s8 = b.members
    assert (enp0s9.actor_state, enp0s9.partner_state, enp0s9.partner_churn) == (77, 1, "churned")
    # 77 = activity|aggregation|sync|defaulted: no collecting/distributing, enabled all the same
    assert enp0s9.state == "active" and enp0s8.state == "backup"
    assert up(b) == {"enp0s9": True, "enp0s8": False}
    assert bl.bond_no_partner(b) is True
    assert bl.member_sync_missing(b, enp0s9) is True  # what is wrong: no LACP with the switch


def test_centos7_two_aggregators_the_active_one_partnerless():
    b = bond(capture("blackmetalz-linux-notes/proc-net-bonding-centos7-8023ad-two-aggregators.txt"))
    assert b.ad.aggregator_id == 2 and b.ad.partner_mac == _lacp.ZERO_MAC
    f0, f1 = b.members
    assert (f0.name, f0.mii_status, f0.aggregator_id, f0.actor_state, f0.actor_key) == ("enp1s0f0", "down", 1, 71, 0)
    assert (f1.name, f1.mii_status, f1.aggregator_id, f1.actor_state) == ("enp1s0f1", "up", 2, 79)
    assert (f0.state, f1.state) == ("backup", "active")
    assert up(b) == {"enp1s0f0": False, "enp1s0f1": True}
    assert bl.bond_no_partner(b) is True
    assert (f0.actor_churned, f0.partner_churned, f1.partner_churn) == (1, 2, "churned")


def test_rhel9_healthy_lacp_both_ports_enabled():
    b = bond(capture("openshift-roce-lag-guide/proc-net-bonding-rhel9-8023ad-healthy.txt"))
    assert (b.lacp_active, b.lacp_rate, b.ad_select, b.min_links) == ("on", "fast", "stable", 0)
    assert b.ad == bl.AdInfo(1, 2, 29, 29, "04:f4:1c:d9:97:ce")
    assert [(m.name, m.actor_state, m.partner_state, m.state) for m in b.members] == [
        ("enp1s0f0np0", 63, 62, "active"),
        ("enp1s0f1np1", 63, 62, "active"),
    ]
    assert up(b) == {"enp1s0f0np0": True, "enp1s0f1np1": True}
    assert bl.bond_no_partner(b) is False
    assert bl.bond_different_partners(b) is False
    assert not any(bl.member_timeout_mismatch(b, m) for m in b.members)  # 63 and 62 both short timeout


def test_unprivileged_read_claims_no_partner_state():
    b = bond(capture("nvidia-bluefield3/proc-net-bonding-unprivileged.txt"))
    assert b.partner_hidden and b.ad == bl.AdInfo()
    (p0,) = b.members
    assert (p0.aggregator_id, p0.actor_state, p0.state) == (1, None, None)
    assert bl.bond_no_partner(b) is None  # hidden, not absent
    assert up(b) == {"p0": True}  # MII up, nothing known against it


def test_pasted_blank_indentation_parses_like_tabs():
    text = capture("insights-core/proc-net-bonding-rhel5-v3.2.4-8023ad-two-aggregators.txt")
    tabbed = re.sub(r"(?m)^ {8}(?=\S)", "\t", text)
    assert tabbed != text
    assert bl.parse_proc_bonding(text, "bond0") == bl.parse_proc_bonding(tabbed, "bond0")
