"""Derived 802.3ad checks on a bond and its members (LACP bits: collectors._lacp)."""

from __future__ import annotations

from collections.abc import Mapping

from collectors import _lacp
from collectors._link_common import Link
from collectors.bond_linux.model import Bond, BondMember

# ----------------------------------------------------------------------------- derived checks


def in_active_aggregator(bond: Bond, m: BondMember) -> bool | None:
    if not bond.lacp or bond.ad is None or bond.ad.aggregator_id is None or m.aggregator_id is None:
        return None
    return bond.ad.aggregator_id != 0 and m.aggregator_id == bond.ad.aggregator_id


def member_outside_active_aggregator(bond: Bond, m: BondMember) -> bool | None:
    """An MII-up 802.3ad member that is not in the active aggregator carries nothing."""
    inside = in_active_aggregator(bond, m)
    if inside is None or m.mii_status is None:
        return None
    return m.mii_status == "up" and not inside


def member_sync_missing(bond: Bond, m: BondMember) -> bool | None:
    """An MII-up member whose actor or partner port state lacks synchronization, collecting
    or distributing (state 15 with partner 55 in a real capture: in the aggregator, idle)."""
    if not bond.lacp or m.mii_status is None or m.actor_state is None:
        return None
    return m.mii_status == "up" and not _lacp.in_sync(m.actor_state, m.partner_state)


def member_timeout_mismatch(bond: Bond, m: BondMember) -> bool | None:
    """Actor and partner disagree on the LACP timeout (lacp_rate fast vs slow).  Not judged
    while the partner is defaulted: those bits are the kernel's defaults, not the switch's."""
    if not bond.lacp or m.actor_state is None or m.partner_state is None:
        return None
    return _lacp.timeout_mismatch(m.actor_state, m.partner_state)


def bond_no_partner(bond: Bond) -> bool | None:
    """No LACP partner on the active aggregator.  The active aggregator itself is often the
    partner-less one in real failures (real-captures.md L-1), so judge it at bond level:
    no active aggregator, a zero partner MAC, or, when the MAC is hidden from an
    unprivileged reader, every member of the active aggregator in the defaulted state."""
    if not bond.lacp or bond.ad is None:
        return None
    if bond.ad.aggregator_id == 0:
        return bool(bond.members)
    if bond.ad.partner_mac is not None:
        return bond.ad.partner_mac == _lacp.ZERO_MAC
    states = [m.actor_state for m in bond.members if in_active_aggregator(bond, m) and m.actor_state is not None]
    if not states:
        return None
    return all(s & _lacp.DEFAULTED for s in states)


def bond_different_partners(bond: Bond) -> bool | None:
    """Members reach more than one partner system (cabled to two switches that are not an
    MLAG pair): only /proc/net/bonding read as root names each member's partner system."""
    if not bond.lacp:
        return None
    if not any(m.partner_system for m in bond.members):
        return None
    systems = set()
    for m in bond.members:
        system = m.partner_system
        if system is None and bond.ad is not None and in_active_aggregator(bond, m):
            system = bond.ad.partner_mac  # a member of the active aggregator has its partner
        if system and system != _lacp.ZERO_MAC:
            systems.add(system)
    return len(systems) > 1


def bond_mixed_speeds(bond: Bond, links: Mapping[str, Link]) -> bool | None:
    speeds = set()
    for m in bond.members:
        link = links.get(m.name)
        if m.mii_status == "up" and link is not None and link.speed_bytes:
            speeds.add(link.speed_bytes)
    if not speeds:
        return None
    return len(speeds) > 1


def bond_no_link_monitoring(bond: Bond) -> bool | None:
    if bond.miimon_ms is None or bond.arp_interval_ms is None:
        # procfs prints the ARP line only when arp_interval > 0
        if bond.miimon_ms is not None and bond.source.startswith("procfs"):
            return bond.miimon_ms == 0 and not bond.arp_interval_ms
        return None
    return bond.miimon_ms == 0 and bond.arp_interval_ms == 0
