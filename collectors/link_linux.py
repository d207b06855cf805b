"""Collector ``link`` (Linux): every network interface (SPEC §6.3).

Sources
  live host   one RTM_GETLINK netlink dump per scrape (``exporter.netlink``: name, kind,
              master, operstate, carrier, flags, MTU, MAC, stats64, carrier changes) plus
              ``/sys/class/net/<link>/speed`` (not in netlink) and the driver symlink
              ``/sys/class/net/<link>/device/driver`` (read once per device).
  snapshots,  ``/sys/class/net/<link>/{operstate,carrier,flags,mtu,address,speed,
  --path.*    carrier_changes,uevent,master,device/driver}`` and ``/proc/net/dev`` for the
              counters (one file for all links instead of 24 per link).

Counters match /proc/net/dev: received dropped = rx_dropped + rx_missed_errors, as the
kernel prints it (net/core/net-procfs.c dev_seq_printf_stats), on both paths.

By hand: ``ip -s -d link show``; ``cat /proc/net/dev``; ``cat /sys/class/net/eth0/speed``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence

from collectors import _facts, _link_common
from collectors._link_collector import LinkCollector
from collectors._link_common import Link
from collectors._parse import int_or_none
from exporter.api import SAMPLE_READERS, Host, ParseError

IFF_UP = 0x1
IFF_LOOPBACK = 0x8
SPEED_MBIT_TO_BYTES = 125_000  # sysfs speed is Mb/s (Documentation/ABI/testing/sysfs-class-net)


@dataclasses.dataclass(frozen=True)
class NetDevCounters:
    """One row of /proc/net/dev."""

    rx_bytes: int
    rx_packets: int
    rx_errors: int
    rx_dropped: int  # rx_dropped + rx_missed_errors
    tx_bytes: int
    tx_packets: int
    tx_errors: int
    tx_dropped: int


def parse_proc_net_dev(text: str) -> dict[str, NetDevCounters]:
    """Parse /proc/net/dev: two header lines, then ``name: 8 rx columns 8 tx columns``.
    A large first counter can touch the colon (``eth0:123``), so split on the colon."""
    out: dict[str, NetDevCounters] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        name, colon, rest = line.partition(":")
        if not colon or "|" in line:
            if lineno > 2 and line.strip():
                raise ParseError("/proc/net/dev", lineno, "no interface name")
            continue
        fields = rest.split()
        if len(fields) != 16:
            raise ParseError("/proc/net/dev", lineno, f"{len(fields)} columns, expected 16")
        try:
            v = [int(x) for x in fields]
        except ValueError:
            raise ParseError("/proc/net/dev", lineno, "non-numeric counter") from None
        out[name.strip()] = NetDevCounters(v[0], v[1], v[2], v[3], v[8], v[9], v[10], v[11])
    return out


def parse_uevent(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        k, eq, v = line.partition("=")
        if eq:
            out[k.strip()] = v.strip()
    return out


def _speed(text: str | None) -> int | None:
    mbit = int_or_none(text)
    if mbit is None or mbit <= 0 or mbit >= 0xFFFFFFFF:  # -1 / SPEED_UNKNOWN
        return None
    return mbit * SPEED_MBIT_TO_BYTES


# driver of a device, by (ifindex, name): it never changes over the device's lifetime
_DRIVER_CACHE: dict[tuple[int, str], str] = {}


def read_netdev_counters(host: Host) -> dict[str, NetDevCounters]:
    return parse_proc_net_dev(host.read_text("/proc/net/dev"))


def _basename_link(host: Host, path: str) -> str:
    try:
        return os.path.basename(host.readlink(path).rstrip("/"))
    except OSError:
        return ""


_ASK_SPEED = "\0ask"  # link_from_netlink reads the speed itself

#: the attributes of /sys/class/net/<if> read every scrape, in this order.  ``flags`` and
#: ``carrier`` only where operstate leaves them open: operstate "up" means administratively
#: up (the kernel sets IF_OPER_UP only on an IFF_UP device, net/core/link_watch.c
#: rfc2863_policy) and not loopback (lo says "unknown"), and the carrier decides the
#: verdict (Link.up) only for "unknown": two reads less per NIC that is up
LINK_ATTRS = ("operstate", "uevent", "address", "speed", "mtu", "carrier_changes")


def read_link_sysfs(
    host: Host, name: str, counters: NetDevCounters | None, values: Sequence[str | None], flags_t: str | None, carrier: str | None
) -> Link | None:
    """``values``: the ``LINK_ATTRS`` of the link (one ``read_many`` for every link of the
    host); ``flags_t`` read where its operstate is not "up", ``carrier`` where it is
    "unknown" (None: not read, or absent)."""
    base = f"/sys/class/net/{name}"
    operstate, uevent_t, address, speed, mtu, carrier_changes = values
    if operstate is None:  # vanished mid-scrape, or not an interface (bonding_masters)
        return None
    operstate = operstate.strip() or "unknown"
    flags = IFF_UP if operstate == "up" else int_or_none(flags_t)
    carrier_n = int_or_none(carrier)
    uevent = parse_uevent(uevent_t or "")
    # the driver never changes over a device's life: (name, ifindex) identifies that life
    key = (int_or_none(uevent.get("IFINDEX")) or -1, name)
    driver = _DRIVER_CACHE.get(key) if key[0] >= 0 else None
    if driver is None:
        driver = _basename_link(host, f"{base}/device/driver")
        if key[0] >= 0:
            _DRIVER_CACHE[key] = driver
    kind = uevent.get("DEVTYPE", "")
    if not kind:
        # a device with a driver is hardware, never a bond: the bonding/ check (one lstat
        # per NIC per scrape) is left for the virtual ones
        if flags is not None and flags & IFF_LOOPBACK:
            kind = "loopback"
        elif driver:
            kind = "device"
        elif host.exists(f"{base}/bonding"):
            kind = "bond"
    return Link(
        name=name,
        kind=kind,
        mac=(address or "").strip(),
        driver=driver,
        master=_basename_link(host, f"{base}/master"),
        operstate=operstate,
        admin_up=None if flags is None else bool(flags & IFF_UP),
        carrier=None if carrier_n is None else bool(carrier_n),
        speed_bytes=_speed(speed),
        mtu=int_or_none(mtu),
        rx_bytes=counters.rx_bytes if counters else None,
        tx_bytes=counters.tx_bytes if counters else None,
        rx_packets=counters.rx_packets if counters else None,
        tx_packets=counters.tx_packets if counters else None,
        rx_errors=counters.rx_errors if counters else None,
        tx_errors=counters.tx_errors if counters else None,
        rx_dropped=counters.rx_dropped if counters else None,
        tx_dropped=counters.tx_dropped if counters else None,
        carrier_changes=int_or_none(carrier_changes),
    )


def read_links_sysfs(host: Host) -> dict[str, Link]:
    counters = read_netdev_counters(host)
    if len(_DRIVER_CACHE) > 4 * len(counters) + 64:  # devices come and go: forget old ones
        _DRIVER_CACHE.clear()
    links = {}
    names = host.list_optional("/sys/class/net")
    n = len(LINK_ATTRS)
    values = host.read_many([f"/sys/class/net/{name}/{a}" for name in names for a in LINK_ATTRS])
    # flags where operstate is not "up", carrier where it is "unknown" (LINK_ATTRS)
    states = [(values[i * n] or "").strip() or "unknown" for i in range(len(names))]
    not_up = [name for name, st in zip(names, states) if st != "up"]  # noqa: B905
    unknown = [name for name, st in zip(names, states) if st == "unknown"]  # noqa: B905
    flags = dict(zip(not_up, host.read_many([f"/sys/class/net/{name}/flags" for name in not_up])))  # noqa: B905
    carriers = dict(zip(unknown, host.read_many([f"/sys/class/net/{name}/carrier" for name in unknown])))  # noqa: B905
    for i, name in enumerate(names):
        link = read_link_sysfs(host, name, counters.get(name), values[i * n : (i + 1) * n], flags.get(name), carriers.get(name))
        if link is not None:
            links[name] = link
    return links


def link_from_netlink(host: Host, msg: Mapping, names: Mapping[int, str], speed: str | None = _ASK_SPEED) -> Link:
    """``speed``: the link's /sys/class/net/<if>/speed when the caller read it already."""
    name = msg["name"]
    key = (msg["index"], name)
    driver = _DRIVER_CACHE.get(key)
    if driver is None:
        driver = _DRIVER_CACHE[key] = _basename_link(host, f"/sys/class/net/{name}/device/driver")
    kind = msg.get("kind") or ("loopback" if msg["flags"] & IFF_LOOPBACK else ("device" if driver else ""))
    st = msg.get("stats") or {}
    return Link(
        name=name,
        kind=kind,
        mac=msg.get("mac", ""),
        driver=driver,
        master=names.get(msg.get("master", 0), ""),
        operstate=msg.get("operstate", "unknown"),
        admin_up=msg["admin_up"],
        carrier=None if "carrier" not in msg else bool(msg["carrier"]),
        speed_bytes=_speed(host.read_optional(f"/sys/class/net/{name}/speed") if speed is _ASK_SPEED else speed),
        mtu=msg.get("mtu"),
        rx_bytes=st.get("rx_bytes"),
        tx_bytes=st.get("tx_bytes"),
        rx_packets=st.get("rx_packets"),
        tx_packets=st.get("tx_packets"),
        rx_errors=st.get("rx_errors"),
        tx_errors=st.get("tx_errors"),
        rx_dropped=None if not st else st["rx_dropped"] + st.get("rx_missed_errors", 0),
        tx_dropped=st.get("tx_dropped"),
        carrier_changes=msg.get("carrier_changes"),
    )


_ASK = object()


def read_links(host: Host, dump=_ASK) -> dict[str, Link]:
    """Every link: from a netlink dump (``dump``, or one asked for now) or from sysfs."""
    if dump is _ASK:
        dump = host.netlink_links()
    if dump is None:
        return read_links_sysfs(host)
    names = {m["index"]: m["name"] for m in dump}
    if len(_DRIVER_CACHE) > 4 * len(names) + 64:  # forget devices that are gone
        live = {(m["index"], m["name"]) for m in dump}
        for k in [k for k in _DRIVER_CACHE if k not in live]:
            _DRIVER_CACHE.pop(k, None)
    links = {}
    speeds = host.read_many([f"/sys/class/net/{msg['name']}/speed" for msg in dump])  # netlink has no speed
    for msg, speed in zip(dump, speeds):
        links[msg["name"]] = link_from_netlink(host, msg, names, speed)
    return links


def read_counters(host: Host, keys: frozenset[str] | None = None) -> dict[str, tuple[int, int]]:
    """The sampler's cheap read: one file for every link's byte counters; with ``keys``
    only the lines of those links are parsed (``<name>: rx_bytes ... tx_bytes ...``,
    net/core/net-procfs.c dev_seq_printf_stats: tx_bytes is the 9th number)."""
    if keys is None:
        return {n: (c.rx_bytes, c.tx_bytes) for n, c in read_netdev_counters(host).items()}
    out = {}
    for line in host.read_text("/proc/net/dev").splitlines()[2:]:
        name, colon, rest = line.partition(":")
        name = name.strip()
        if not colon or name not in keys:
            continue
        f = rest.split()
        if len(f) >= 16:
            try:
                out[name] = (int(f[0]), int(f[8]))
            except ValueError:
                continue
    return out


_link_common.LINK_READERS["linux"] = lambda host, ctx: read_links(host, _facts.netlink(host, ctx))
SAMPLE_READERS[(_link_common.SAMPLE_SOURCE, "linux")] = read_counters

SOURCES = {
    "info": "From netlink IFLA_INFO_KIND/IFLA_ADDRESS/IFLA_MASTER or /sys/class/net/<link>/{uevent,address,master}, driver from /sys/class/net/<link>/device/driver.",
    "state": "From netlink IFLA_OPERSTATE/IFLA_CARRIER or /sys/class/net/<link>/{operstate,carrier}.",
    "admin": "From IFF_UP in netlink ifi_flags or /sys/class/net/<link>/flags.",
    "speed": "From /sys/class/net/<link>/speed (Mb/s x 125000); absent when unknown.",
    "mtu": "From netlink IFLA_MTU or /sys/class/net/<link>/mtu.",
    "counters": "From netlink IFLA_STATS64 {stat} or /proc/net/dev (dropped includes rx_missed_errors, as /proc/net/dev).",
    "carrier": "From netlink IFLA_CARRIER_CHANGES or /sys/class/net/<link>/carrier_changes.",
}


class LinkLinux(LinkCollector):
    platforms = frozenset({"linux"})
    SOURCES = SOURCES
