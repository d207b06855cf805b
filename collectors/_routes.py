"""The host's routing tables and the one route lookup of lanes: which NIC a storage path
(iSCSI session, NVMe/TCP controller) leaves by when nothing binds it to one.

Sources: /proc/net/route (net/ipv4/fib_trie.c fib_route_seq_show), /proc/net/ipv6_route
(net/ipv6/route.c ipv6_route_native_seq_show), /proc/net/if_inet6 (net/ipv6/addrconf.c
if6_seq_show).  Routes that are not up (RTF_UP) or that reject (RTF_REJECT: unreachable,
prohibit, blackhole) are left out when parsing; the lookup ignores routes over ``lo``
(local and unreachable routes sit there), as the kernel would pick them without policy
rules: longest prefix, then lowest metric, then the first listed.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import struct
from collections.abc import Iterable

from exporter.api import Host, ParseError

RTF_UP = 0x0001
RTF_GATEWAY = 0x0002
RTF_REJECT = 0x0200



@dataclasses.dataclass(frozen=True)
class Route:
    iface: str
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    gateway: bool = False  # RTF_GATEWAY: not a connected route
    metric: int = 0


@dataclasses.dataclass(frozen=True)
class RouteTable:
    """What the path -> NIC mapping needs from the network stack."""

    routes4: tuple[Route, ...] = ()
    addrs6: tuple[tuple[ipaddress.IPv6Address, str], ...] = ()
    routes6: tuple[Route, ...] = ()

    @functools.cached_property
    def routes(self) -> tuple[Route, ...]:
        """IPv4 and IPv6 routes together (for ``route_iface``)."""
        return self.routes4 + self.routes6


def _hex_le_ipv4(field: str, lineno: int) -> ipaddress.IPv4Address:
    try:
        value = int(field, 16)
        if len(field) != 8:
            raise ValueError
        # the kernel prints the __be32 as a host-order %08X (net/ipv4/fib_trie.c
        # fib_route_seq_show): little-endian hosts show 192.168.10.0 as 000AA8C0
        return ipaddress.IPv4Address(struct.pack("<I", value))
    except ValueError:
        raise ParseError("/proc/net/route", lineno, f"{field[:20]!r} is not an 8-digit hex address") from None


def parse_proc_net_route(text: str) -> tuple[Route, ...]:
    """/proc/net/route: header, then ``Iface Destination Gateway Flags RefCnt Use Metric
    Mask MTU Window IRTT``; addresses are byte-reversed on little-endian hosts (all the
    hosts lanes targets; a big-endian snapshot would read wrong)."""
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        f = line.split()
        if not f or (lineno == 1 and f[0] == "Iface"):
            continue
        if len(f) < 8:
            raise ParseError("/proc/net/route", lineno, f"{len(f)} fields, expected 11")
        dest = _hex_le_ipv4(f[1], lineno)
        mask = _hex_le_ipv4(f[7], lineno)
        try:
            flags = int(f[3], 16)
            metric = int(f[6])
            network = ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)
        except ValueError as e:
            raise ParseError("/proc/net/route", lineno, str(e)[:80]) from None
        if not flags & RTF_UP or flags & RTF_REJECT:
            continue
        out.append(Route(f[0], network, bool(flags & RTF_GATEWAY), metric))
    return tuple(out)


def _hex_ipv6(field: str, source: str, lineno: int) -> ipaddress.IPv6Address:
    if len(field) != 32:
        raise ParseError(source, lineno, f"{field[:40]!r} is not a 32-digit hex address")
    try:
        return ipaddress.IPv6Address(bytes.fromhex(field))
    except ValueError:
        raise ParseError(source, lineno, f"{field[:40]!r} is not hex") from None


def parse_if_inet6(text: str) -> tuple[tuple[ipaddress.IPv6Address, str], ...]:
    """/proc/net/if_inet6: ``address ifindex prefixlen scope flags name``, numbers in hex."""
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        f = line.split()
        if not f:
            continue
        if len(f) != 6:
            raise ParseError("/proc/net/if_inet6", lineno, f"{len(f)} fields, expected 6")
        out.append((_hex_ipv6(f[0], "/proc/net/if_inet6", lineno), f[5]))
    return tuple(out)


def parse_ipv6_route(text: str) -> tuple[Route, ...]:
    """/proc/net/ipv6_route: ``dest plen src splen nexthop metric refcnt use flags dev``,
    numbers in hex, addresses in network byte order."""
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        f = line.split()
        if not f:
            continue
        if len(f) != 10:
            raise ParseError("/proc/net/ipv6_route", lineno, f"{len(f)} fields, expected 10")
        dest = _hex_ipv6(f[0], "/proc/net/ipv6_route", lineno)
        try:
            plen, metric, flags = int(f[1], 16), int(f[5], 16), int(f[8], 16)
            network = ipaddress.IPv6Network(f"{dest}/{plen}", strict=False)
        except ValueError as e:
            raise ParseError("/proc/net/ipv6_route", lineno, str(e)[:80]) from None
        if not flags & RTF_UP or flags & RTF_REJECT:
            continue
        out.append(Route(f[9], network, bool(flags & RTF_GATEWAY), metric))
    return tuple(out)


def read_route_table(host: Host) -> RouteTable:
    """Each file is optional (no IPv6, no IPv4)."""
    r4 = host.read_optional("/proc/net/route")
    a6 = host.read_optional("/proc/net/if_inet6")
    r6 = host.read_optional("/proc/net/ipv6_route")
    return RouteTable(
        routes4=parse_proc_net_route(r4) if r4 else (),
        addrs6=parse_if_inet6(a6) if a6 else (),
        routes6=parse_ipv6_route(r6) if r6 else (),
    )


def best_route(routes: Iterable[Route], addr, connected_only: bool = False) -> str:
    """The interface the kernel would pick for ``addr`` (an ip_address) among ``routes``;
    ``connected_only``: only routes without a gateway (the subnet a local address is in).
    "" when no route matches."""
    best = None
    for r in routes:
        if r.network.version != addr.version or addr not in r.network:
            continue
        if connected_only and r.gateway:
            continue
        if r.iface == "lo" and not connected_only:
            continue
        key = (-r.network.prefixlen, r.metric)
        if best is None or key < best[0]:
            best = (key, r.iface)
    return best[1] if best else ""


def route_iface(routes: Iterable[Route], address: str | None) -> str | None:
    """The NIC a connection to ``address`` (an IP, IPv6 maybe in brackets or with a zone)
    leaves by; None for a host name or no route.  A zone names the NIC (RFC 4007)."""
    if not address:
        return None
    host_part = address.strip().strip("[]")
    if "%" in host_part:
        return host_part.rsplit("%", 1)[1] or None
    try:
        ip = ipaddress.ip_address(host_part)
    except ValueError:
        return None
    return best_route(routes, ip) or None
