"""Which bonds exist and from which source each is read (netlink, else sysfs, else procfs)."""

from __future__ import annotations

from collections.abc import Mapping

from collectors.bond_linux.model import Bond
from collectors.bond_linux.netlink import bonds_from_netlink
from collectors.bond_linux.procfs import PROC_SRC, merge_proc, needs_proc, parse_proc_bonding
from collectors.bond_linux.sysfs import read_bond_sysfs
from exporter.api import Host


def discover_sysfs(host: Host, links: Mapping | None = None) -> list[str]:
    """Bond names: ``bonding_masters`` may miss bonds of a second module load, so also every
    link whose kind is bond (the master's uevent says DEVTYPE=bond, or it has a
    ``bonding/`` directory: collectors.link_linux), or without a link table every
    /sys/class/net/<if> with a ``bonding/`` directory."""
    names = set((host.read_optional("/sys/class/net/bonding_masters") or "").split())
    if links is not None:
        names.update(n for n, link in links.items() if link.kind == "bond")
        return sorted(names)
    for n in host.list_optional("/sys/class/net"):
        if n not in names and host.exists(f"/sys/class/net/{n}/bonding"):
            names.add(n)
    return sorted(names)


_ASK = object()


def read_bonds(host: Host, dump=_ASK, links: Mapping | None = None) -> list[Bond]:
    """``dump``: the scrape's netlink dump if already taken; ``links``: the link table, for
    discovery without one existence check per interface."""
    if dump is _ASK:
        dump = host.netlink_links()
    if dump is not None:
        bonds = bonds_from_netlink(dump)
    else:
        bonds = []
        seen = set()
        for name in discover_sysfs(host, links):
            b = read_bond_sysfs(host, name)
            if b is not None:
                bonds.append(b)
                seen.add(name)
        # bonds only /proc/net/bonding knows (no sysfs bonding directory)
        for name in host.list_optional(PROC_SRC):
            if name not in seen and host.exists(f"/sys/class/net/{name}"):
                text = host.read_optional(f"{PROC_SRC}/{name}")
                if text is not None:
                    bonds.append(merge_proc(None, parse_proc_bonding(text, name), name))
    out = []
    for b in bonds:
        if b.source != "procfs" and needs_proc(b):
            text = host.read_optional(f"{PROC_SRC}/{b.name}")
            if text is not None:
                b = merge_proc(b, parse_proc_bonding(text, b.name), b.name)
        out.append(b)
    return sorted(out, key=lambda b: b.name)
