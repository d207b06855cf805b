"""The per-link model shared by link_linux and link_illumos, and its exposition (SPEC §6.3).

Both platforms fill the same ``Link`` so the metric names are identical everywhere
(node_exporter's netdev_common.go + netdev_<os>.go pattern).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from exporter.api import Context, Family, Host, Member, counter, gauge, info, record

#: name of the sampler source that serves link counters: key = link name, (rx, tx) bytes
SAMPLE_SOURCE = "link"


@record
class Link:
    name: str
    kind: str = ""  # "device", "bond", "veth", "vlan", "loopback", "aggr", "phys", ...
    mac: str = ""
    driver: str = ""
    master: str = ""  # bond/team/bridge master, illumos aggregation
    operstate: str = "unknown"  # Linux IF_OPER_* name; illumos: up|down|unknown
    admin_up: bool | None = None
    carrier: bool | None = None
    speed_bytes: int | None = None  # bytes per second
    mtu: int | None = None
    duplex: str | None = None
    rx_bytes: int | None = None
    tx_bytes: int | None = None
    rx_packets: int | None = None
    tx_packets: int | None = None
    rx_errors: int | None = None
    tx_errors: int | None = None
    rx_dropped: int | None = None
    tx_dropped: int | None = None
    carrier_changes: int | None = None

    @property
    def up(self) -> bool:
        """Able to carry traffic.  operstate "up"; "unknown" counts as up when the
        carrier is present and the link is administratively up (loopback, some tunnel and
        illumos drivers never report more than "unknown")."""
        if self.operstate == "up":
            return True
        if self.operstate == "unknown":
            return bool(self.carrier) and self.admin_up is not False
        return False


class LinkFilter:
    """include/exclude regexes from the config (``collectors: {link: {include, exclude}}``)."""

    def __init__(self, include: str | None = None, exclude: str | None = None):
        self.include = re.compile(include) if include else None
        self.exclude = re.compile(exclude) if exclude else None

    def __call__(self, name: str) -> bool:
        if self.include and not self.include.search(name):
            return False
        if self.exclude and self.exclude.search(name):
            return False
        return True


#: platform -> reader(host, ctx) -> {name: Link}; filled by link_linux and link_illumos so
#: that declared groups and storage paths share the link table without knowing the platform
#: (collectors._facts.links reads it once per scrape).
LINK_READERS: dict[str, Callable[[Host, Context], Mapping[str, Link]]] = {}


def link_member(name: str, link: Link | None, speed_bytes: int | None = None) -> Member:
    """A group member that is a link of this host, with the link's counters and speed;
    ``speed_bytes`` (config ``groups.<g>.speed_bytes``) overrides the link's own speed.
    A link that is not there is a member that is down."""
    if link is None:
        return Member(name=name, up=False, speed_bytes=speed_bytes)
    return Member(
        name=name,
        up=link.up,
        rx_bytes=link.rx_bytes,
        tx_bytes=link.tx_bytes,
        speed_bytes=speed_bytes or link.speed_bytes,
        sample=(SAMPLE_SOURCE, name),
    )


def nic_speed(links: Mapping[str, Link], netdev: str | None) -> int | None:
    """The speed of the NIC a storage path goes over, None when unknown."""
    link = links.get(netdev) if netdev else None
    return link.speed_bytes if link else None


def link_families(links: Iterable[Link], sources: Mapping[str, str]) -> list[Family]:
    """Families of SPEC §6.3.  ``sources`` gives the HELP wording per platform:
    keys state, speed, mtu, counters (with ``{stat}`` placeholder), carrier."""
    L = ("link",)
    fi = info("link_info", f"Link identity; value 1. {sources['info']}", ("link", "kind", "mac", "driver", "master"))
    up = gauge("link_up", f"1 if the link can carry traffic (operstate up, or unknown with carrier). {sources['state']}", L)
    admin = gauge("link_admin_up", f"1 if the link is administratively up. {sources['admin']}", L)
    speed = gauge("link_speed_bytes", f"Link speed in bytes per second. {sources['speed']}", L)
    mtu = gauge("link_mtu_bytes", f"Link MTU in bytes. {sources['mtu']}", L)
    c = sources["counters"]
    stats = [
        ("rx_bytes", counter("link_receive_bytes_total", "Bytes received. " + c.format(stat="rx_bytes"), L)),
        ("tx_bytes", counter("link_transmit_bytes_total", "Bytes transmitted. " + c.format(stat="tx_bytes"), L)),
        ("rx_packets", counter("link_receive_packets_total", "Packets received. " + c.format(stat="rx_packets"), L)),
        ("tx_packets", counter("link_transmit_packets_total", "Packets transmitted. " + c.format(stat="tx_packets"), L)),
        ("rx_errors", counter("link_receive_errors_total", "Receive errors. " + c.format(stat="rx_errors"), L)),
        ("tx_errors", counter("link_transmit_errors_total", "Transmit errors. " + c.format(stat="tx_errors"), L)),
        ("rx_dropped", counter("link_receive_dropped_total", "Received packets dropped. " + c.format(stat="rx_dropped"), L)),
        ("tx_dropped", counter("link_transmit_dropped_total", "Transmitted packets dropped. " + c.format(stat="tx_dropped"), L)),
    ]
    changes = counter("link_carrier_changes_total", f"Carrier up/down changes. {sources['carrier']}", L)
    for link in links:
        lv = (link.name,)
        fi.add((link.name, link.kind, link.mac, link.driver, link.master), 1)
        up.add(lv, link.up)
        admin.add(lv, link.admin_up)
        speed.add(lv, link.speed_bytes)
        mtu.add(lv, link.mtu)
        for attr, fam in stats:
            fam.add(lv, getattr(link, attr))
        changes.add(lv, link.carrier_changes)
    return [fi, up, admin, speed, mtu, *(f for _, f in stats), changes]
