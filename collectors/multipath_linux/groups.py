"""The lanes group model of dm-multipath (kind="multipath")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from collectors._link_common import Link, nic_speed
from collectors.multipath_linux.model import MapView
from exporter.api import Group, Member, expected_members

#: ALUA access states (drivers/scsi/scsi_sysfs.c scsi_access_state_name) in the order the
#: host should use them (SPC-4 5.16.2.4; scsi_dh_alua.c sends I/O to active/optimized ports
#: and takes non-optimized ones only when no optimized one is left)
ALUA_PREFERENCE = ("active/optimized", "active/non-optimized")


def preferred_paths(m: MapView) -> frozenset[str] | None:
    """The paths (sdX) of a multipath map that the array and dm-multipath mean to carry its
    I/O now, from each source's own truth, best first:

    - ALUA (sysfs ``device/access_state``): the active/optimized paths; if the map has none,
      its active/non-optimized ones (the array offers nothing better);
    - else the path groups (multipathd or the dm status line): the paths of the
      highest-priority group that has a usable path (``group_by_prio`` puts the
      optimized/preferred paths there, libmultipath/pgpolicies.c), else of the active group;
    - None when neither is known: every usable path is equal.
    """
    states = {p.dev: p.access_state for p in m.paths if p.access_state in ALUA_PREFERENCE}
    if states:
        for wanted in ALUA_PREFERENCE:
            devs = frozenset(d for d, st in states.items() if st == wanted)
            if devs:
                return devs
    by_group: dict[int, list] = {}
    for p in m.paths:
        if p.group is not None:
            by_group.setdefault(p.group, []).append(p)
    if not by_group:
        return None
    prio = {g.index: g.priority for g in m.state.groups} if m.state is not None else {}
    usable = [g for g, ps in by_group.items() if any(p.up for p in ps)]
    if usable and len({prio.get(g) for g in by_group}) > 1 and all(prio.get(g) is not None for g in usable):
        best = max(usable, key=lambda g: (prio[g], -g))
        return frozenset(p.dev for p in by_group[best])
    return frozenset(p.dev for p in m.paths if p.group_active)


def path_roles(groups: Sequence[Group]) -> dict[str, tuple[bool, str]]:
    """sdX -> (preferred, balancing of its map): what an iSCSI session learns from the maps
    that ride it (collectors/_path_roles.py)."""
    return {mb.name: (mb.is_preferred, g.balancing) for g in groups for mb in g.members}


def to_groups(maps: Sequence[MapView], links: Mapping[str, Link], config=None) -> list[Group]:
    """kind="multipath": group = map (alias or WWID), member = path device (sdX), up as
    ``PathView.up`` says.  policy = the active group's selector name and the grouping it
    shows (``round-robin/multibus``, ``service-time/failover``); balancing ``load`` when more
    than one path shares the active path group (dm-mpath.c choose_pgpath only balances
    inside the current group), ``failover`` otherwise.  Without multipathd or the dm status
    line the groups are unknown: every path is taken to share the load.  Bytes are the
    path's own /proc/diskstats (never the map's), speed is its NIC's.  Preferred paths:
    ``preferred_paths``."""
    out = []
    for m in maps:
        preferred = preferred_paths(m)
        members = tuple(
            Member(
                name=p.dev,
                up=p.up,
                rx_bytes=p.read_bytes,
                tx_bytes=p.written_bytes,
                speed_bytes=nic_speed(links, p.netdev),
                sample=("disk", p.dev),
                preferred=None if preferred is None else p.dev in preferred,
            )
            for p in sorted(m.paths, key=lambda p: p.dev)
        )
        if m.state is not None:
            active = [g for g in m.state.groups if g.state == "active"]
            sharing = len(active[0].paths) if active else max((len(g.paths) for g in m.state.groups), default=0)
        else:
            sharing = len(members)
        selector = (m.selector.split() or ["unknown"])[0] if m.selector else "unknown"
        out.append(
            Group(
                kind="multipath",
                name=m.name,
                policy=f"{selector}/{m.policy}",
                balancing="load" if sharing > 1 else "failover",
                members=members,
                expected=max(expected_members(config, "multipath", m.name), expected_members(config, "multipath", m.wwid)),
            )
        )
    return out
