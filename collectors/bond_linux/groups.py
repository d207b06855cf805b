"""The lanes group model of a bond (kind="bond") and its member-up rule."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from collectors import _lacp
from collectors._link_common import SAMPLE_SOURCE, Link, link_member
from collectors.bond_linux.model import Bond, BondMember
from exporter.api import Group

# ----------------------------------------------------------------------------- groups

#: bonding modes whose members back each other up instead of sharing the load: broadcast
#: sends every frame on every member, so its capacity is one member's (bond_main.c)
FAILOVER_MODES = frozenset({"active-backup", "broadcast"})


def member_up(bond: Bond, member: BondMember, link: Link | None) -> bool:
    """Able to carry traffic: MII up as the bond sees it (its monitor, not only the carrier);
    for 802.3ad also attached to the active aggregator and enabled by the LACP machinery
    (collecting/distributing), since a member outside it carries nothing although its link
    is up."""
    up = member.mii_status == "up" if member.mii_status is not None else bool(link and link.up)
    if not up or bond.mode != "802.3ad":
        return up
    active = bond.ad.aggregator_id if bond.ad is not None else None
    if active is not None and (active == 0 or (member.aggregator_id is not None and member.aggregator_id != active)):
        return False  # (an old driver that prints no per-slave aggregator says nothing against it)
    # bond_3ad.c enables a port (slave state "active") when its mux enters
    # COLLECTING_DISTRIBUTING, and every port of a partner-less active aggregator
    # (ad_agg_selection_logic): the state is the kernel's own "carries traffic"
    if member.state is not None:
        return member.state == "active"
    if member.actor_state is not None:
        return _lacp.collecting_distributing(member.actor_state)
    return True


def member_preferred(bond: Bond, member: BondMember) -> bool | None:
    """The active slave of an active-backup bond (the only member that transmits,
    Documentation/networking/bonding.rst "active-backup"): from the bond's active_slave
    (netlink IFLA_BOND_ACTIVE_SLAVE, sysfs bonding/active_slave or "Currently Active Slave"
    in /proc/net/bonding), else the member's own state (bonding_slave/state, procfs).
    None for the other modes: every up member carries traffic."""
    if bond.mode != "active-backup":
        return None
    if bond.active_slave:
        return member.name == bond.active_slave
    if member.state in ("active", "backup"):
        return member.state == "active"
    return None


def to_groups(bonds: Iterable[Bond], links: Mapping[str, Link]) -> list[Group]:
    """kind="bond": one group per bond, one member per enslaved NIC.  Member bytes and
    speed are the member NIC's own counters (the master's are their sum: never add both)."""
    out = []
    for b in bonds:
        members = tuple(
            dataclasses.replace(
                link_member(m.name, links.get(m.name)),
                up=member_up(b, m, links.get(m.name)),
                sample=(SAMPLE_SOURCE, m.name),
                preferred=member_preferred(b, m),
            )
            for m in b.members
        )
        out.append(
            Group(
                kind="bond",
                name=b.name,
                policy=b.mode,
                balancing="failover" if b.mode in FAILOVER_MODES else "load",
                members=members,
                expected=len(members),
            )
        )
    return out
