"""Collector ``link`` (FreeBSD): every network interface (SPEC §6.3, §14).

Sources, both read every scrape (two commands, no privilege needed):
  state       ``ifconfig -a`` (collectors/_ifconfig.py): IFF_UP (admin state), ``status:``
              (carrier: ``active`` / ``no carrier``), the active media word (speed and
              duplex, sbin/ifconfig/ifmedia.c), ``ether`` (MAC), ``mtu``, ``groups:``
              (kind: lagg, vlan, bridge, lo, ...), and the lagg ports (master).
  counters    ``netstat -i -b -n --libxo json`` (usr.bin/netstat/if.c intpr(): one entry
              per address; the ``<Link#n>`` entry carries the interface's if_data counters:
              ``received-packets``, ``received-errors``, ``dropped-packets`` (input queue
              drops, ifi_iqdrops), ``received-bytes``, ``sent-packets``, ``send-errors``,
              ``sent-bytes``; u_long, so 64-bit on every 64-bit platform).  Without ``-d``
              there is one ``dropped-packets`` key (with ``-d`` a second one would repeat the
              key for output drops), so transmit drops are not exported.

Why netstat and not psutil.net_io_counters(pernic=True): psutil reads the same if_data
counters through sysctl NET_RT_IFLIST (no fork), but a command goes through the host
layer and is recorded in ``--record`` bundles, so a FreeBSD snapshot replays to the same
series anywhere; psutil's read would not be in the bundle.  The cost is one fork per scrape
(and one per sampler tick for the peak rates).  ifconfig has no counters and netstat has no
carrier or media: both are needed.

Not available: carrier changes (FreeBSD counts none per interface), transmit drops (see
above), the driver (the interface name without its unit number is used: ``ix0`` -> ``ix``,
for interfaces without a ``groups:`` line only).

Platforms: FreeBSD (TrueNAS CORE, pfSense/OPNsense use the same tools).

By hand: ``ifconfig -a``; ``netstat -i -b -n --libxo json``.
"""

from __future__ import annotations

from collectors import _freebsd
from collectors._link_collector import LinkCollector

# importing collectors._freebsd registers the FreeBSD link reader and sampler source
LINK_READER = _freebsd.read_links

SOURCES = {
    "info": "From ifconfig -a (ether, groups: the first group is the kind; master from the lagg's laggport lines; driver: the name without its unit, physical interfaces only).",
    "state": "From ifconfig -a status: (active / no carrier; interfaces without media: IFF_RUNNING).",
    "admin": "From IFF_UP in the flags of ifconfig -a.",
    "speed": "From the active media of ifconfig -a (media: ... (10Gbase-SR <full-duplex>)), bytes/s; absent without carrier or for autoselect-only media.",
    "mtu": "From ifconfig -a mtu.",
    "counters": "From netstat -i -b -n --libxo json, the interface's <Link#n> entry (if_data; dropped: input queue drops only).",
    "carrier": "Not available on FreeBSD.",
}


class LinkFreebsd(LinkCollector):
    platforms = frozenset({"freebsd"})
    SOURCES = SOURCES
