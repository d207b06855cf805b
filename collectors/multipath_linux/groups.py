"""The lanes group model of dm-multipath (kind="multipath")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from collectors._link_common import Link, nic_speed
from collectors.multipath_linux.model import MapView
from exporter.api import Group, Member, expected_members


def to_groups(maps: Sequence[MapView], links: Mapping[str, Link], config=None) -> list[Group]:
    """kind="multipath": group = map (alias or WWID), member = path device (sdX), up as
    ``PathView.up`` says.  policy = the active group's selector name and the grouping it
    shows (``round-robin/multibus``, ``service-time/failover``); balancing ``load`` when more
    than one path shares the active path group (dm-mpath.c choose_pgpath only balances
    inside the current group), ``failover`` otherwise.  Without multipathd or the dm status
    line the groups are unknown: every path is taken to share the load.  Bytes are the
    path's own /proc/diskstats (never the map's), speed is its NIC's."""
    out = []
    for m in maps:
        members = tuple(
            Member(
                name=p.dev,
                up=p.up,
                rx_bytes=p.read_bytes,
                tx_bytes=p.written_bytes,
                speed_bytes=nic_speed(links, p.netdev),
                sample=("disk", p.dev),
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
