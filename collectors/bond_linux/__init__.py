"""Collector ``bond`` (Linux): bonding masters, their members and full 802.3ad/LACP state.

Sources, in order of preference
  live host   the netlink link dump the link collector already does (``host.netlink_links()``):
              IFLA_LINKINFO of bond masters (IFLA_INFO_DATA: IFLA_BOND_*, with the nested
              IFLA_BOND_AD_INFO) and of their members (IFLA_INFO_SLAVE_DATA:
              IFLA_BOND_SLAVE_*, including the actor/partner oper port state and churn
              attributes that pyroute2 0.9.x does not decode).  Attribute numbers and types:
              include/uapi/linux/if_link.h, drivers/net/bonding/bond_netlink.c.  Needs no
              privilege: IFLA_BOND_AD_INFO (active aggregator, partner MAC and keys) is not
              gated on CAP_NET_ADMIN there.
  snapshots,  ``/sys/class/net/<bond>/bonding/*`` (bond_sysfs.c) and
  fallback    ``/sys/class/net/<bond>/{lower_,slave_}<member>/bonding_slave/*``
              (bond_sysfs_slave.c; ``slave_<member>`` is the old layout).  ad_actor_key,
              ad_partner_key and ad_partner_mac read empty without CAP_NET_ADMIN: then
              ``lanes_bond_lacp_partner_partial`` is 1 and no "no partner" verdict is drawn
              from the empty files.
  last resort ``/proc/net/bonding/<bond>`` (bond_procfs.c), for what the others lack: a bond or
              member without sysfs directories, old kernels without the port-state files, and,
              in 802.3ad bonds whose members sit in more than one aggregator, the per-member
              partner system MAC (root-only lines) that tells "different switches" from "no
              partner".  Parsed by the lines present, never by the driver version header
              (real captures from v3.2.4 to 6.14 differ in which lines exist).

Metrics (label ``bond``; members add ``member``)
  lanes_bond_info{mode,xmit_hash_policy,lacp_rate,ad_select,lacp_active,primary,source},
  lanes_bond_min_links, lanes_bond_mii_monitor_interval_seconds,
  lanes_bond_arp_interval_seconds, lanes_bond_member_mii_status{state},
  lanes_bond_member_state{state}, lanes_bond_member_link_failures_total,
  802.3ad: lanes_bond_lacp_active_aggregator_id, lanes_bond_lacp_aggregator_ports,
  lanes_bond_lacp_partner_info{partner_mac,partner_key,actor_key},
  lanes_bond_lacp_partner_partial, lanes_bond_member_lacp_aggregator_id,
  lanes_bond_member_lacp_actor_port_state{bit}, lanes_bond_member_lacp_partner_port_state{bit},
  lanes_bond_member_lacp_churn_state{side,state}, lanes_bond_member_lacp_churned_total{side},
  lanes_bond_member_lacp_partner_info{partner_system};
  derived 0/1 checks: lanes_bond_member_lacp_outside_active_aggregator,
  lanes_bond_member_lacp_sync_missing, lanes_bond_member_lacp_timeout_mismatch,
  lanes_bond_lacp_no_partner, lanes_bond_lacp_members_on_different_partners,
  lanes_bond_mixed_member_speeds, lanes_bond_no_link_monitoring;
  and the lanes group model (kind="bond") with member bytes and speed from the link table.

Platforms: Linux.

By hand: ``ip -d link show`` (bond and bond_slave details), ``cat /proc/net/bonding/bond0``,
``grep . /sys/class/net/bond0/bonding/* /sys/class/net/*/bonding_slave/*``.
"""

from __future__ import annotations

from collectors import _facts
from collectors._link_common import LinkFilter
from collectors.bond_linux.checks import (
    bond_different_partners,
    bond_mixed_speeds,
    bond_no_link_monitoring,
    bond_no_partner,
    member_outside_active_aggregator,
    member_sync_missing,
    member_timeout_mismatch,
)
from collectors.bond_linux.families import bond_families
from collectors.bond_linux.groups import member_up, to_groups
from collectors.bond_linux.model import AdInfo, Bond, BondMember
from collectors.bond_linux.netlink import bonds_from_netlink, decode_bond_info, decode_bond_slave
from collectors.bond_linux.procfs import merge_proc, parse_proc_bonding, proc_member_state
from collectors.bond_linux.read import read_bonds
from collectors.bond_linux.sysfs import MASTER_FILES, SLAVE_FILES, parse_bond_sysfs, parse_slave_sysfs
from exporter.api import Collected, Collector, Family

#: the package's layers: model (Bond, BondMember, AdInfo), netlink, sysfs, procfs (the three
#: sources), read (which source for which bond), checks (derived 802.3ad checks), groups
#: (kind="bond" and the member-up rule), families (lanes_bond_* series)
__all__ = [
    "MASTER_FILES",
    "SLAVE_FILES",
    "AdInfo",
    "Bond",
    "BondLinux",
    "BondMember",
    "bond_different_partners",
    "bond_families",
    "bond_mixed_speeds",
    "bond_no_link_monitoring",
    "bond_no_partner",
    "bonds_from_netlink",
    "decode_bond_info",
    "decode_bond_slave",
    "member_outside_active_aggregator",
    "member_sync_missing",
    "member_timeout_mismatch",
    "member_up",
    "merge_proc",
    "parse_bond_sysfs",
    "parse_proc_bonding",
    "parse_slave_sysfs",
    "proc_member_state",
    "read_bonds",
    "to_groups",
]


class BondLinux(Collector):
    name = "bond"
    platforms = frozenset({"linux"})
    OPTIONS = {"include": "regex", "exclude": "regex"}
    description = "Linux bonding: mode, members, 802.3ad/LACP state and derived checks"

    def __init__(self, host, ctx):
        super().__init__(host, ctx)
        self.filter = LinkFilter(ctx.option("include"), ctx.option("exclude"))

    def collect(self) -> Collected | list[Family]:
        # the link table first: reading it while the link collector does would make both
        # compete for the interpreter; then this scrape's netlink dump, shared with it
        links = _facts.links(self.host, self.ctx)
        dump = _facts.netlink(self.host, self.ctx)
        bonds = [b for b in read_bonds(self.host, dump, links) if self.filter(b.name)]
        if not bonds:
            return []
        return Collected(bond_families(bonds, links), to_groups(bonds, links))
