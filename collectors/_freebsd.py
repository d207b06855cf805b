"""FreeBSD interface facts shared by the ``link``, ``lagg``, ``ctl`` and ``iscsi`` collectors:
the scrape's one ``ifconfig -a`` (parsed by collectors/_ifconfig.py), the if_data counters
of ``netstat -i -b -n --libxo json``, the link table built from both (registered as the
FreeBSD link reader, so declared groups and storage collectors share it) and the
sampler's counter read.  See collectors/link_freebsd.py for the sources and their choice.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping

from collectors import _facts, _ifconfig, _iscsictl, _link_common
from collectors._link_common import Link
from exporter.api import SAMPLE_READERS, Context, Host, ParseError

DEFAULT_COMMAND_TIMEOUT = 5.0
IFCONFIG_ARGS = ("-a",)
NETSTAT_ARGS = ("-i", "-b", "-n", "--libxo", "json")
NETSTAT_SOURCE = "netstat -i -b -n --libxo json"
MAX_COUNTER = 1 << 64


@dataclasses.dataclass(frozen=True)
class IfCounters:
    """The ``<Link#n>`` entry of one interface in netstat's JSON."""

    mtu: int | None
    rx_packets: int | None
    rx_errors: int | None
    rx_dropped: int | None
    rx_bytes: int | None
    tx_packets: int | None
    tx_errors: int | None
    tx_bytes: int | None


_COUNTER_KEYS = {
    "rx_packets": "received-packets",
    "rx_errors": "received-errors",
    "rx_dropped": "dropped-packets",
    "rx_bytes": "received-bytes",
    "tx_packets": "sent-packets",
    "tx_errors": "send-errors",
    "tx_bytes": "sent-bytes",
}


def _counter(entry: Mapping, key: str, name: str) -> int | None:
    if key not in entry:
        return None
    v = entry[key]
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < MAX_COUNTER:
        raise ParseError(NETSTAT_SOURCE, None, f"{name}: {key} is {str(v)[:40]!r}, not a counter")
    return v


def parse_netstat_json(text: str) -> dict[str, IfCounters]:
    """``{"statistics": {"interface": [{"name": ..., "network": "<Link#1>", ...}]}}``;
    entries of other address families carry no error counters and are skipped."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ParseError(NETSTAT_SOURCE, None, f"not JSON: {str(e)[:80]}") from None
    stats = doc.get("statistics") if isinstance(doc, dict) else None
    entries = stats.get("interface", []) if isinstance(stats, dict) else None
    if not isinstance(entries, list):
        raise ParseError(NETSTAT_SOURCE, None, "no statistics.interface list")
    out: dict[str, IfCounters] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise ParseError(NETSTAT_SOURCE, None, "interface entry is not an object")
        name, network = entry.get("name"), entry.get("network")
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise ParseError(NETSTAT_SOURCE, None, f"bad interface name {str(name)[:40]!r}")
        if not isinstance(network, str) or not network.startswith("<Link#"):
            continue
        values = {attr: _counter(entry, key, name) for attr, key in _COUNTER_KEYS.items()}
        mtu = _counter(entry, "mtu", name)
        out[name] = IfCounters(mtu=mtu, **values)
    return out


# ------------------------------------------------------------------ reading


def run(host: Host, tool: str, args: Iterable[str], timeout: float = DEFAULT_COMMAND_TIMEOUT) -> str:
    args = list(args)
    r = host.run(tool, args, timeout=timeout)
    if r.returncode != 0:
        why = (r.stderr.strip().splitlines() or ["no message"])[0][:200]
        raise RuntimeError(f"{tool} {' '.join(args)}: exit {r.returncode}: {why}")
    return r.stdout


def read_interfaces(host: Host) -> dict[str, _ifconfig.Interface]:
    return _ifconfig.parse_ifconfig(run(host, "ifconfig", IFCONFIG_ARGS))


def interfaces(host: Host, ctx: Context) -> Mapping[str, _ifconfig.Interface]:
    """Fact: this scrape's one ``ifconfig -a``, shared by the link table and ``lagg``."""
    return ctx.facts.once(interfaces, lambda: read_interfaces(host))


def iscsi_sessions(host: Host, ctx: Context) -> list[_iscsictl.Session] | None:
    """Fact: this scrape's one ``iscsictl -L`` (None: no initiator on this host)."""
    return ctx.facts.once(iscsi_sessions, lambda: _iscsictl.read_sessions(host))


def nic_table(host: Host, ctx: Context) -> tuple[Mapping[str, _ifconfig.Interface], Mapping[str, Link]]:
    """Interfaces and links for storage collectors that map a peer address to the NIC it is
    reached by; empty (and logged) when ifconfig or netstat cannot be read, so a storage
    collector does not fail with the link table."""
    try:
        return interfaces(host, ctx), _facts.links(host, ctx)
    except Exception as e:  # noqa: BLE001 - the link collector reports the failure itself
        ctx.log.debug("no link table for NIC mapping: %s", e)
        return {}, {}


def read_counters_table(host: Host) -> dict[str, IfCounters]:
    return parse_netstat_json(run(host, "netstat", NETSTAT_ARGS))


def _kind(iface: _ifconfig.Interface) -> str:
    if iface.flags & _ifconfig.IFF_LOOPBACK:
        return "loopback"  # the word Linux uses (its group is "lo")
    if iface.groups:
        return iface.groups[0]  # the clone group: lagg, vlan, bridge, epair, tap, ...
    return "device"


def _driver(name: str, kind: str) -> str:
    if kind != "device":
        return ""
    return name.rstrip("0123456789")


def build_links(interfaces: Mapping[str, _ifconfig.Interface], counters: Mapping[str, IfCounters]) -> dict[str, Link]:
    masters = _ifconfig.lagg_masters(interfaces)
    out = {}
    for name, iface in sorted(interfaces.items()):
        c = counters.get(name)
        if iface.status == "active":
            operstate, carrier = "up", True
        elif iface.status == "no carrier":
            operstate, carrier = "down", False
        elif not iface.admin_up:
            operstate, carrier = "down", None
        else:  # no media (lo0, tun, gif): RUNNING is all there is
            operstate, carrier = "unknown", bool(iface.flags & _ifconfig.IFF_RUNNING)
        kind = _kind(iface)
        speed = _ifconfig.media_speed_bytes(iface.active_media) if carrier else None
        out[name] = Link(
            name=name,
            kind=kind,
            mac=iface.mac,
            driver=_driver(name, kind),
            master=masters.get(name, ""),
            operstate=operstate,
            admin_up=iface.admin_up,
            carrier=carrier,
            speed_bytes=speed,
            mtu=iface.mtu if iface.mtu is not None else (c.mtu if c else None),
            duplex=_ifconfig.media_duplex(iface.active_media),
            rx_bytes=c.rx_bytes if c else None,
            tx_bytes=c.tx_bytes if c else None,
            rx_packets=c.rx_packets if c else None,
            tx_packets=c.tx_packets if c else None,
            rx_errors=c.rx_errors if c else None,
            tx_errors=c.tx_errors if c else None,
            rx_dropped=c.rx_dropped if c else None,
        )
    return out


def read_links(host: Host, ctx: Context) -> dict[str, Link]:
    return build_links(interfaces(host, ctx), read_counters_table(host))


def read_counters(host: Host) -> dict[str, tuple[int, int]]:
    """The sampler's read: byte counters of every interface, one netstat."""
    return {
        n: (c.rx_bytes, c.tx_bytes)
        for n, c in read_counters_table(host).items()
        if c.rx_bytes is not None and c.tx_bytes is not None
    }


_link_common.LINK_READERS["freebsd"] = read_links
SAMPLE_READERS[(_link_common.SAMPLE_SOURCE, "freebsd")] = read_counters
