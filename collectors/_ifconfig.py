"""FreeBSD ``ifconfig`` output, parsed once for the ``link`` and ``lagg`` collectors.

Pure: text in, frozen dataclasses out, ``ParseError`` on anything else.  The format
follows FreeBSD's sources (mirror fel1x-developer/freebsd-src at 2d614aa2fe3e, the
FreeBSD 15 tree):

* sbin/ifconfig/ifconfig.c status(): the header ``<name>: flags=<hex><NAMES> metric <n>
  mtu <n>`` at column 0, then one TAB-indented line per property; ``printb()`` prints a
  bit field as ``name=<hex>`` followed by ``<NAME,NAME>`` (lower-case hex, base 16 for
  every bit string used here);
* sbin/ifconfig/af_link.c: ``ether <mac>`` (and ``hwaddr <mac>``, the factory address);
* sbin/ifconfig/ifmedia.c media_status(): ``media: <type> <current>`` with `` (<active>)``
  appended when the active media differs from the configured one (``autoselect``), then
  ``status: active`` / ``status: no carrier``;
* sbin/ifconfig/ifgroup.c: ``groups: lagg``;
* sbin/ifconfig/iflagg.c lagg_status(): ``laggproto <proto>[ lagghash l2,l3,l4]``; with
  ``-v`` ``lagg options:`` (``flags=<hex><...>``, ``flowid_shift: n``, ``rr_limit: n``),
  ``lagg statistics:`` (``active ports: n``, ``flapping: n``), for LACP ``lag id:`` and
  the peer tuples; then one ``laggport: <port> flags=<hex><MASTER,...>`` per port, with
  `` state=<hex><ACTIVITY,...>`` (the actor's LACP state octet, sys/net/ieee8023ad_lacp.h
  LACP_STATE_BITS: the IEEE 802.1AX bits of collectors/_lacp.py) and the tuple
  ``[(prio,MAC,key,portprio,portno),\\n\\t\\t (prio,MAC,key,portprio,portno)]`` (actor,
  partner; iflagg.c lacp_format_peer, upper-case hex, MAC with dashes) under ``-v``.
  Older releases (FreeBSD 7-12) print ``laggproto`` without ``lagghash`` and before or
  after ``media:``; the order of the property lines is not relied on.

Real captures: the FreeBSD Handbook's ``ifconfig lagg0`` (``laggproto lacp`` without
hash, ports ``flags=1c<ACTIVE,COLLECTING,DISTRIBUTING>``) and a blog copy whose HTML
rendering dropped every ``<...>`` (``flags=8843 metric 0``, ``laggport: ixl0 flags=1c``):
the hex value is what is parsed, the names are not needed.  Published copies often carry
blanks instead of TABs: any leading whitespace marks a property line.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Iterable, Mapping

from exporter.api import ParseError

SOURCE = "ifconfig"

# sys/net/if.h
IFF_UP = 0x1
IFF_LOOPBACK = 0x8
IFF_RUNNING = 0x40

# sys/net/if_lagg.h LAGG_PORT_BITS
LAGG_PORT_FLAGS = {"MASTER": 0x1, "STACK": 0x2, "ACTIVE": 0x4, "COLLECTING": 0x8, "DISTRIBUTING": 0x10}
# sys/net/if_lagg.h LAGG_PROTOS (``<unknown>`` when the kernel has a newer one)
LAGG_PROTOCOLS = ("failover", "lacp", "loadbalance", "roundrobin", "broadcast", "none")


@dataclasses.dataclass(frozen=True)
class LacpPeer:
    """One ``(prio,MAC,key,portprio,portno)`` tuple of iflagg.c lacp_format_peer."""

    system_priority: int
    system: str  # the MAC, written like every MAC of lanes: lower-case, colon-separated
    key: int
    port_priority: int
    port: int

    @property
    def present(self) -> bool:
        """The partner tuple is all zero until a LACPDU was received."""
        return self.system.replace(":", "").strip("0") != ""


@dataclasses.dataclass(frozen=True)
class LaggPort:
    name: str
    flags: int  # LAGG_PORT_* bits
    actor_state: int | None = None  # -v with laggproto lacp
    actor: LacpPeer | None = None
    partner: LacpPeer | None = None

    def flag(self, name: str) -> bool:
        return bool(self.flags & LAGG_PORT_FLAGS[name])


@dataclasses.dataclass(frozen=True)
class Lagg:
    proto: str
    hash: str  # "l2,l3,l4" or "" (not printed by old releases, or no hash protocol)
    ports: tuple[LaggPort, ...]
    options: int | None = None  # -v: LAGG_OPT_* bits
    active_ports: int | None = None  # -v: lagg statistics
    flapping: int | None = None  # -v: link flaps counted by the lagg
    lag_actor: LacpPeer | None = None  # -v, LACP: the active aggregator's lag id
    lag_partner: LacpPeer | None = None


@dataclasses.dataclass(frozen=True)
class Interface:
    name: str
    flags: int
    mtu: int | None
    mac: str = ""
    media: str = ""  # the configured media word(s) after the type, e.g. "autoselect"
    active_media: str = ""  # the active media, e.g. "10Gbase-SR <full-duplex>"
    status: str | None = None  # "active", "no carrier", ...; None where not printed
    groups: tuple[str, ...] = ()
    lagg: Lagg | None = None
    #: the interface's IP networks, ``10.20.1.10/24``, ``fd00::10/64`` (af_inet.c: ``inet <addr>
    #: netmask 0x<hex>``; af_inet6.c: ``inet6 <addr>[%scope] prefixlen <n>``)
    addresses: tuple[str, ...] = ()

    @property
    def admin_up(self) -> bool:
        return bool(self.flags & IFF_UP)


_HEADER = re.compile(r"^(\S+): flags=([0-9a-fA-F]+)(?:<[^>]*>)?(.*)$")
_MTU = re.compile(r"\bmtu (\d+)\b")
_BITS = re.compile(r"^([0-9a-fA-F]+)(?:<[^>]*>)?$")
_PEER = re.compile(
    r"^\(([0-9A-Fa-f]{1,4}),([0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}),([0-9A-Fa-f]{1,4}),([0-9A-Fa-f]{1,4}),([0-9A-Fa-f]{1,4})\)$"
)
_MAC = re.compile(r"^[0-9a-fA-F]{1,2}(?::[0-9a-fA-F]{1,2}){5}$")
MAX_NUMBER = 1 << 64


def _hex(text: str, what: str, lineno: int) -> int:
    m = _BITS.match(text)
    if not m:
        raise ParseError(SOURCE, lineno, f"{what} is {text[:40]!r}, not <hex><NAMES>")
    return int(m.group(1), 16)


def _int(text: str, what: str, lineno: int) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or int(text) >= MAX_NUMBER:
        raise ParseError(SOURCE, lineno, f"{what} is {text[:40]!r}, not a number")
    return int(text)


def parse_peers(text: str, lineno: int) -> tuple[LacpPeer, LacpPeer]:
    """``[(8000,00-1B-21-AA-BB-10,0111,8000,0001),(007F,...)]`` (whitespace removed)."""
    if not (text.startswith("[") and text.endswith("]")):
        raise ParseError(SOURCE, lineno, f"LACP peers not in brackets: {text[:80]!r}")
    parts = text[1:-1].split("),(")
    if len(parts) != 2:
        raise ParseError(SOURCE, lineno, f"expected actor and partner tuples: {text[:80]!r}")
    peers = []
    for i, part in enumerate(parts):
        part = ("(" if i else "") + part + (")" if i == 0 else "")
        m = _PEER.match(part)
        if not m:
            raise ParseError(SOURCE, lineno, f"bad LACP tuple {part[:60]!r}")
        prio, mac, key, pprio, pno = m.groups()
        peers.append(LacpPeer(int(prio, 16), mac.lower().replace("-", ":"), int(key, 16), int(pprio, 16), int(pno, 16)))
    return peers[0], peers[1]


class _Builder:
    def __init__(self, name: str, flags: int, mtu: int | None):
        self.fields: dict = {"name": name, "flags": flags, "mtu": mtu}
        self.lagg: dict | None = None
        self.ports: list[dict] = []
        self.section = ""  # "options" / "statistics" inside lagg -v output
        self.peers_for: dict | None = None  # where a bracketed tuple belongs
        self.peers_text = ""
        self.peers_line = 0

    def build(self) -> Interface:
        if self.peers_for is not None:
            raise ParseError(SOURCE, self.peers_line, "LACP peer tuple not closed")
        lagg = None
        if self.lagg is not None:
            lagg = Lagg(ports=tuple(LaggPort(**p) for p in self.ports), **self.lagg)
        elif self.ports:
            raise ParseError(SOURCE, None, f"{self.fields['name']}: laggport lines without laggproto")
        return Interface(lagg=lagg, **self.fields)


def _lagg_line(b: _Builder, line: str, lineno: int) -> bool:
    """Lines of iflagg.c lagg_status(); True when consumed."""
    if line.startswith("laggproto "):
        words = line.split()
        proto = words[1] if len(words) > 1 else ""
        hash_ = ""
        if len(words) >= 4 and words[2] == "lagghash":
            hash_ = words[3]
        elif len(words) not in (2, 4):
            raise ParseError(SOURCE, lineno, f"bad laggproto line {line[:60]!r}")
        if not proto:
            raise ParseError(SOURCE, lineno, "laggproto without a protocol")
        b.lagg = {"proto": proto, "hash": hash_}
        b.section = ""
        return True
    if b.lagg is None:
        return False
    if line == "lagg options:":
        b.section = "options"
        return True
    if line == "lagg statistics:":
        b.section = "statistics"
        return True
    if b.section == "options" and line.startswith("flags="):
        b.lagg["options"] = _hex(line[6:], "lagg options flags", lineno)
        return True
    if b.section == "options" and line.startswith(("flowid_shift:", "rr_limit:")):
        _int(line.partition(":")[2], line.partition(":")[0], lineno)
        return True
    if b.section == "statistics" and line.startswith("active ports:"):
        b.lagg["active_ports"] = _int(line.partition(":")[2], "active ports", lineno)
        return True
    if b.section == "statistics" and line.startswith("flapping:"):
        b.lagg["flapping"] = _int(line.partition(":")[2], "flapping", lineno)
        return True
    if line.startswith("lag id:"):
        b.section = ""
        b.peers_for = b.lagg
        b.peers_text = line[7:].strip()
        b.peers_line = lineno
        return True
    if line.startswith("laggport:"):
        b.section = ""
        words = line[9:].split()
        if not words or not words[1:] or not words[1].startswith("flags="):
            raise ParseError(SOURCE, lineno, f"bad laggport line {line[:80]!r}")
        port = {"name": words[0], "flags": _hex(words[1][6:], "laggport flags", lineno)}
        for extra in words[2:]:
            if extra.startswith("state="):
                port["actor_state"] = _hex(extra[6:], "laggport state", lineno)
            else:
                raise ParseError(SOURCE, lineno, f"unexpected {extra[:40]!r} on a laggport line")
        if any(p["name"] == port["name"] for p in b.ports):
            raise ParseError(SOURCE, lineno, f"laggport {port['name']} listed twice")
        b.ports.append(port)
        return True
    if line.startswith("["):
        if not b.ports:
            raise ParseError(SOURCE, lineno, "LACP peer tuple before any laggport")
        b.peers_for = b.ports[-1]
        b.peers_text = line.strip()
        b.peers_line = lineno
        return True
    return False


def _finish_peers(b: _Builder) -> None:
    actor, partner = parse_peers(b.peers_text.replace(" ", "").replace("\t", ""), b.peers_line)
    target = b.peers_for
    if target is b.lagg:
        target["lag_actor"], target["lag_partner"] = actor, partner  # type: ignore[index]
    else:
        target["actor"], target["partner"] = actor, partner  # type: ignore[index]
    b.peers_for = None


def parse_ifconfig(text: str) -> dict[str, Interface]:
    """``ifconfig -a`` or ``ifconfig -v <lagg>``: {name: Interface}."""
    out: dict[str, Interface] = {}
    cur: _Builder | None = None
    for lineno, raw in enumerate(text.split("\n"), 1):
        raw = raw.rstrip("\r")
        if not raw.strip():
            continue
        if not raw[0].isspace():
            if cur is not None:
                iface = cur.build()
                out[iface.name] = iface
            m = _HEADER.match(raw)
            if not m:
                raise ParseError(SOURCE, lineno, f"interface header expected: {raw[:80]!r}")
            name = m.group(1)
            if name in out:
                raise ParseError(SOURCE, lineno, f"interface {name} listed twice")
            mtu = _MTU.search(m.group(3))
            cur = _Builder(name, int(m.group(2), 16), _int(mtu.group(1), "mtu", lineno) if mtu else None)
            continue
        if cur is None:
            raise ParseError(SOURCE, lineno, "property line before any interface header")
        line = raw.strip()
        if cur.peers_for is not None:  # continuation of a bracketed tuple
            cur.peers_text += line
            if line.endswith("]"):
                _finish_peers(cur)
            continue
        if _lagg_line(cur, line, lineno):
            if cur.peers_for is not None and cur.peers_text.endswith("]"):
                _finish_peers(cur)
            continue
        key, _, value = line.partition(" ")
        if key == "ether":
            mac = value.split()[0] if value.split() else ""
            if not _MAC.match(mac):
                raise ParseError(SOURCE, lineno, f"bad MAC {mac[:40]!r}")
            cur.fields["mac"] = mac.lower()
        elif key == "media:":
            words = value.split(None, 1)  # "<type> <current> (<active>)"
            rest = words[1] if len(words) > 1 else ""
            current, paren, active = rest.partition(" (")
            cur.fields["media"] = current.strip()
            cur.fields["active_media"] = active.rstrip(")").strip() if paren else current.strip()
        elif key == "status:":
            cur.fields["status"] = value.strip()
        elif key == "groups:":
            cur.fields["groups"] = tuple(value.split())
        elif key in ("inet", "inet6"):
            cur.fields["addresses"] = (*cur.fields.get("addresses", ()), _address(key, value, lineno))
    if cur is not None:
        iface = cur.build()
        out[iface.name] = iface
    return out


def _address(family: str, value: str, lineno: int) -> str:
    words = value.split()
    try:
        if family == "inet":
            mask = words[words.index("netmask") + 1]
            prefix = bin(int(mask, 16)).count("1") if mask.startswith("0x") else ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen
            iface = ipaddress.IPv4Interface(f"{words[0]}/{prefix}")
        else:
            prefix = int(words[words.index("prefixlen") + 1])
            iface = ipaddress.IPv6Interface(f"{words[0].partition('%')[0]}/{prefix}")
    except (ValueError, IndexError):
        raise ParseError(SOURCE, lineno, f"bad {family} line {value[:60]!r}") from None
    return str(iface)


def interface_for(address: str, interfaces: Iterable[Interface]) -> str:
    """The interface whose network holds ``address`` (longest prefix wins; loopback and
    link-local networks are left out): the NIC a peer on that network is reached by,
    without a routing-table lookup.  ``""`` when none (routed peer) or not an address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ""
    best, best_len = "", -1
    for iface in interfaces:
        if iface.flags & IFF_LOOPBACK:
            continue
        for a in iface.addresses:
            net = ipaddress.ip_interface(a).network
            if net.version == ip.version and ip in net and not net.is_link_local and net.prefixlen > best_len:
                best, best_len = iface.name, net.prefixlen
    return best


_SPEED = re.compile(r"^(\d+(?:\.\d+)?)(G?)base", re.IGNORECASE)


def media_speed_bytes(active_media: str) -> int | None:
    """Bytes/s of an active media word of sys/net/if_media.h IFM_SUBTYPE_ETHERNET_
    DESCRIPTIONS: ``1000baseT`` (Mb/s), ``10Gbase-SR``, ``25GBase-CR``, ``2500Base-T``;
    ``autoselect``, ``none`` and unknown words give None."""
    m = _SPEED.match(active_media.strip())
    if not m:
        return None
    mbit = float(m.group(1)) * (1000 if m.group(2) else 1)
    return int(mbit * 125_000) or None


def media_duplex(active_media: str) -> str | None:
    """``<full-duplex>`` / ``<half-duplex>`` among the media options."""
    opts = active_media.partition("<")[2]
    if "full-duplex" in opts:
        return "full"
    if "half-duplex" in opts:
        return "half"
    return None


def lagg_masters(interfaces: Mapping[str, Interface]) -> dict[str, str]:
    """port -> lagg, from the laggport lines."""
    out = {}
    for iface in interfaces.values():
        if iface.lagg is not None:
            for p in iface.lagg.ports:
                out[p.name] = iface.name
    return out
