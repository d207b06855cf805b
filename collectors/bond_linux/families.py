"""The lanes_bond_* series."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from collectors import _lacp
from collectors._link_common import Link
from collectors.bond_linux.checks import (
    bond_different_partners,
    bond_mixed_speeds,
    bond_no_link_monitoring,
    bond_no_partner,
    member_outside_active_aggregator,
    member_sync_missing,
    member_timeout_mismatch,
)
from collectors.bond_linux.model import CHURN_STATES, HASHING_MODES, MEMBER_STATES, MII_STATES, Bond
from exporter.api import Family, add_stateset, counter, gauge, info

# ----------------------------------------------------------------------------- exposition

SRC = "From netlink IFLA_LINKINFO (bond), else /sys/class/net/<bond>/bonding/ and <member>/bonding_slave/, else /proc/net/bonding/<bond>."
MSRC = "From netlink IFLA_BOND_SLAVE_*, else /sys/class/net/<member>/bonding_slave/, else /proc/net/bonding/<bond>."
ADSRC = (
    "From netlink IFLA_BOND_AD_INFO, else /sys/class/net/<bond>/bonding/ad_*, else the Active Aggregator Info of /proc/net/bonding/<bond>."
)


def bond_families(bonds: Sequence[Bond], links: Mapping[str, Link]) -> list[Family]:
    B, M = ("bond",), ("bond", "member")
    fi = info(
        "bond_info",
        f"Bond configuration; value 1. {SRC}",
        ("bond", "mode", "xmit_hash_policy", "lacp_rate", "ad_select", "lacp_active", "primary", "source"),
    )
    minl = gauge("bond_min_links", f"Minimum members up for the bond to have carrier (min_links). {SRC}", B)
    mii = gauge("bond_mii_monitor_interval_seconds", f"MII link monitoring interval (miimon); 0 = off. {SRC}", B)
    arp = gauge("bond_arp_interval_seconds", f"ARP link monitoring interval (arp_interval); 0 = off. {SRC}", B)
    mmii = gauge(
        "bond_member_mii_status", f"Member link state as the bond sees it, one 0/1 series per state. {MSRC} (mii_status)", (*M, "state")
    )
    mst = gauge("bond_member_state", f"Member role: active carries traffic, backup stands by. {MSRC} (state)", (*M, "state"))
    mlf = counter(
        "bond_member_link_failures_total", f"Link failures of the member since it joined the bond. {MSRC} (link_failure_count)", M
    )
    agg = gauge("bond_lacp_active_aggregator_id", f"ID of the bond's active 802.3ad aggregator; 0 = none. {ADSRC}", B)
    aggp = gauge("bond_lacp_aggregator_ports", f"Ports in the active 802.3ad aggregator. {ADSRC}", B)
    pinfo = info(
        "bond_lacp_partner_info",
        f"Partner of the active aggregator; value 1. partner_mac 00:00:00:00:00:00 = no partner. {ADSRC}",
        ("bond", "partner_mac", "partner_key", "actor_key"),
    )
    partial = gauge(
        "bond_lacp_partner_partial",
        "1 if the partner MAC and keys of the active aggregator were hidden for lack of CAP_NET_ADMIN (sysfs ad_partner_mac empty, /proc/net/bonding without Active Aggregator Info): no 'no partner' verdict is drawn from them. Netlink needs no privilege.",
        B,
    )
    magg = gauge("bond_member_lacp_aggregator_id", f"802.3ad aggregator the member is attached to. {MSRC} (ad_aggregator_id)", M)
    abits = gauge(
        "bond_member_lacp_actor_port_state",
        f"LACP actor (this host) port state bits (IEEE 802.1AX), one 0/1 series per bit. {MSRC} (ad_actor_oper_port_state)",
        (*M, "bit"),
    )
    pbits = gauge(
        "bond_member_lacp_partner_port_state",
        f"LACP partner (switch) port state bits (IEEE 802.1AX), one 0/1 series per bit. {MSRC} (ad_partner_oper_port_state)",
        (*M, "bit"),
    )
    churn = gauge(
        "bond_member_lacp_churn_state",
        "LACP churn detection state (monitoring is normal after negotiation; churned means the port failed to synchronise). From netlink IFLA_BOND_SLAVE_AD_CHURN_*_STATE or /proc/net/bonding/<bond>.",
        (*M, "side", "state"),
    )
    churned = counter(
        "bond_member_lacp_churned_total",
        "Churn events of the member's actor or partner. From /proc/net/bonding/<bond> (Actor/Partner Churned Count).",
        (*M, "side"),
    )
    mpinfo = info(
        "bond_member_lacp_partner_info",
        "Partner system the member's LACPDUs come from; value 1. From the root-only 'details partner lacp pdu' lines of /proc/net/bonding/<bond>.",
        (*M, "partner_system"),
    )
    c_out = gauge(
        "bond_member_lacp_outside_active_aggregator",
        f"Check: 1 if the member is MII up but not in the bond's active aggregator (it carries nothing). {MSRC}",
        M,
    )
    c_sync = gauge(
        "bond_member_lacp_sync_missing",
        f"Check: 1 if the member is MII up but its actor or partner port state lacks synchronization, collecting or distributing. {MSRC}",
        M,
    )
    c_tmo = gauge(
        "bond_member_lacp_timeout_mismatch",
        f"Check: 1 if actor and partner use different LACP timeouts (lacp_rate fast on one side, slow on the other). {MSRC}",
        M,
    )
    c_nop = gauge(
        "bond_lacp_no_partner",
        f"Check: 1 if the active aggregator has no LACP partner (no aggregator, zero partner MAC, or all its members defaulted). {ADSRC}",
        B,
    )
    c_diff = gauge(
        "bond_lacp_members_on_different_partners",
        "Check: 1 if members reach more than one partner system (two switches that are not one MLAG/stack). From the root-only partner pdu lines of /proc/net/bonding/<bond>.",
        B,
    )
    c_speed = gauge(
        "bond_mixed_member_speeds",
        "Check: 1 if MII-up members run at different speeds. From the bond's member list and /sys/class/net/<member>/speed.",
        B,
    )
    c_mon = gauge(
        "bond_no_link_monitoring",
        f"Check: 1 if neither MII (miimon) nor ARP (arp_interval) monitoring is on: a dead member is never noticed. {SRC}",
        B,
    )
    for b in bonds:
        bl = (b.name,)
        # sysfs prints every option in every mode: show the ones the mode uses (bonding.rst:
        # xmit_hash_policy for balance-xor, 802.3ad and tlb/alb; lacp_* and ad_select for 802.3ad)
        xmit = b.xmit_hash_policy if b.mode in HASHING_MODES else ""
        lacp = (b.lacp_rate, b.ad_select, b.lacp_active) if b.lacp else ("", "", "")
        fi.add((b.name, b.mode, xmit, *lacp, b.primary, b.source), 1)
        minl.add(bl, b.min_links)
        mii.add(bl, None if b.miimon_ms is None else b.miimon_ms / 1000)
        arp.add(bl, None if b.arp_interval_ms is None else b.arp_interval_ms / 1000)
        c_mon.add(bl, bond_no_link_monitoring(b))
        c_speed.add(bl, bond_mixed_speeds(b, links))
        if b.lacp:
            if b.ad is not None:
                agg.add(bl, b.ad.aggregator_id)
                aggp.add(bl, b.ad.num_ports)
                if b.ad.partner_mac is not None:
                    pk = "" if b.ad.partner_key is None else str(b.ad.partner_key)
                    ak = "" if b.ad.actor_key is None else str(b.ad.actor_key)
                    pinfo.add((b.name, b.ad.partner_mac, pk, ak), 1)
            partial.add(bl, b.partner_hidden)
            c_nop.add(bl, bond_no_partner(b))
            c_diff.add(bl, bond_different_partners(b))
        for m in b.members:
            ml = (b.name, m.name)
            add_stateset(mmii, ml, MII_STATES, m.mii_status)
            add_stateset(mst, ml, MEMBER_STATES, m.state)
            mlf.add(ml, m.link_failures)
            if not b.lacp:
                continue
            magg.add(ml, m.aggregator_id)
            for bits, fam in ((m.actor_state, abits), (m.partner_state, pbits)):
                if bits is not None:
                    for bit, mask in _lacp.LACP_BITS:
                        fam.add((*ml, bit), 1 if bits & mask else 0)
            add_stateset(churn, (*ml, "actor"), CHURN_STATES, m.actor_churn)
            add_stateset(churn, (*ml, "partner"), CHURN_STATES, m.partner_churn)
            churned.add((*ml, "actor"), m.actor_churned)
            churned.add((*ml, "partner"), m.partner_churned)
            if m.partner_system:
                mpinfo.add((*ml, m.partner_system), 1)
            c_out.add(ml, member_outside_active_aggregator(b, m))
            c_sync.add(ml, member_sync_missing(b, m))
            c_tmo.add(ml, member_timeout_mismatch(b, m))
    return [fi, minl, mii, arp, mmii, mst, mlf, agg, aggp, pinfo, partial, magg, abits, pbits, churn, churned, mpinfo,
            c_out, c_sync, c_tmo, c_nop, c_diff, c_speed, c_mon]  # fmt: skip
