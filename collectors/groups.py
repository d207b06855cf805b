"""Collector ``groups``: the declared groups of the config file
(``groups: {name: {members: [...], balancing: load|failover}}``), ``kind="declared"``, whose
members are links of this host read through the scrape's shared link table.  The group
series themselves are rendered by the scrape runner (exporter.model).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

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


def mark_absent(groups: Sequence[Group], links: Mapping[str, Link]) -> list[Group]:
    """Declared groups none of whose links exists now are exported only if they belong to
    this host: seen here earlier (the member memory, kept across restarts).  A group none of
    whose links was ever here is another host's (a config shared by a fleet, the example
    config copied as is): left out, not reported down (SPEC §12); --check-config and the
    log name its members."""
    return [g if any(m.name in links for m in g.members) else dataclasses.replace(g, only_if_known=True) for g in groups]


class DeclaredGroups(Collector):
    name = "groups"
    platforms = frozenset({"linux", "illumos", "freebsd"})
    description = "Groups of links declared in the config file (kind=declared)"

    def __init__(self, host, ctx):
        super().__init__(host, ctx)
        self._told: set[tuple[str, str]] = set()

    def collect(self) -> Collected | list[Family]:
        declared = getattr(self.ctx.config, "groups", None) or {}
        if not declared:
            return []
        links = _facts.links(self.host, self.ctx)
        self._tell_missing(declared, links)
        return Collected([], mark_absent(declared_groups(declared, links), links))

    def _tell_missing(self, declared: Mapping[str, object], links: Mapping[str, Link]) -> None:
        """Log each declared member that does not exist, once per (re)load of the config."""
        for name, spec in sorted(declared.items()):
            for m in spec.members:
                if m not in links and (name, m) not in self._told:
                    self._told.add((name, m))
                    self.ctx.log.warning(
                        "declared member does not exist on this host: it counts as down once its group has had a member here; "
                        "a group none of whose members was ever here is not exported",
                        extra={"group": name, "member": m},
                    )
