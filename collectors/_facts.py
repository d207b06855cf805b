"""Typed, lazy per-scrape facts shared by collectors: each is read at most once per scrape,
by whichever collector asks first, through ``ctx.facts`` (exporter.api.Facts) keyed by the
provider function itself.  A provider's return type is the fact's type.

Linux: ``netlink`` (the RTM_GETLINK dump), ``links``, ``diskstats``, ``sys_block``,
``routes`` and ``iscsi_sessions`` (collectors._iscsi_linux); illumos: ``links``.
"""

from __future__ import annotations

from collections.abc import Mapping

from collectors import _diskstats, _iscsi_linux, _link_common, _routes
from collectors._link_common import Link
from exporter.api import Context, Host


def netlink(host: Host, ctx: Context) -> list[dict] | None:
    """The scrape's one netlink link dump (None where the host has no live kernel), shared
    by the link table and the bond collector."""
    return ctx.facts.once(netlink, host.netlink_links)


def links(host: Host, ctx: Context) -> Mapping[str, Link]:
    """All links of the host, whatever the platform ({} where no link reader is known)."""
    reader = _link_common.LINK_READERS.get(host.platform)
    if reader is None:
        return {}
    return ctx.facts.once(links, lambda: reader(host, ctx))


def diskstats(host: Host, ctx: Context) -> dict[str, _diskstats.DiskStats]:
    """/proc/diskstats by device name."""
    return ctx.facts.once(diskstats, lambda: _diskstats.read_diskstats(host))


def sys_block(host: Host, ctx: Context) -> list[str]:
    """The /sys/block listing (every block device of the host)."""
    return ctx.facts.once(sys_block, lambda: host.list_optional("/sys/block"))


def routes(host: Host, ctx: Context) -> _routes.RouteTable:
    """The IPv4 and IPv6 routing tables and the IPv6 addresses (collectors._routes)."""
    return ctx.facts.once(routes, lambda: _routes.read_route_table(host))


def iscsi_sessions(host: Host, ctx: Context, reader: _iscsi_linux.SessionReader) -> dict[str, _iscsi_linux.Session]:
    """open-iscsi sessions by session name, with their disks and NIC."""
    return ctx.facts.once(iscsi_sessions, lambda: reader.read(host, routes(host, ctx), sys_block(host, ctx)))
