"""Collector ``groups``: the declared groups of the config file
(``groups: {name: {members: [...], balancing: load|failover}}``), ``kind="declared"``, whose
members are links of this host read through the scrape's shared link table.  The group
series themselves are rendered by the scrape runner (exporter.model).
"""

from __future__ import annotations

from collections.abc import Mapping

from collectors import _facts
from collectors._link_common import Link, link_member
from exporter.api import Collected, Collector, Family, Group


def declared_groups(declared: Mapping[str, object], links: Mapping[str, Link]) -> list[Group]:
    """Map ``groups:`` of the config onto the link table: kind="declared"; a member is up
    when its link is (a member that is not there is down)."""
    groups = []
    for name, spec in sorted(declared.items()):
        members = tuple(link_member(m, links.get(m), getattr(spec, "speed_bytes", None)) for m in spec.members)
        groups.append(
            Group(
                kind="declared",
                name=name,
                policy=spec.policy,
                balancing=spec.balancing,
                members=members,
                expected=len(members),
            )
        )
    return groups


class DeclaredGroups(Collector):
    name = "groups"
    platforms = frozenset({"linux", "illumos"})
    description = "Groups of links declared in the config file (kind=declared)"

    def collect(self) -> Collected | list[Family]:
        declared = getattr(self.ctx.config, "groups", None) or {}
        if not declared:
            return []
        links = _facts.links(self.host, self.ctx)
        return Collected([], declared_groups(declared, links))
