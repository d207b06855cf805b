"""Collector ``flows`` (illumos): every storage TCP connection, the IP interface it uses
and the aggregation it rides (SPEC §13), for COMSTAR targets and iSCSI initiators alike.

Sources (illumos-gate man pages; formats in research/illumos.md):

* ``connstat -P -e -o laddr,lport,raddr,rport,inbytes,outbytes`` (connstat(8), illumos
  2016+): established TCP connections, one per line, fields separated by commas in the
  order asked for (``-P`` needs ``-o``); ``inbytes``/``outbytes`` are the connection's
  byte counters.  Connections whose local or remote port is a storage port are kept.
* ``ipadm show-addr -p -o addrobj,addr`` (ipadm(8), parseable: ``:`` separated, ``\\:``
  escaped): which IP interface holds the connection's local address (``aggr0/v4`` ->
  ``aggr0``; a VNIC ``stor0``; an IPMP interface ``ipmp0``).
* ``dladm show-link -p -o link,class,mtu,state,over`` (the link collector's own command:
  one recording serves both): the interface's class, and what a VNIC or VLAN is over, so
  ``stor0`` over ``aggr0`` rides ``aggr0``.

The group: a declared group's NIC; an aggregation (``kind="aggr"``, member empty: the
aggregation's L2/L3/L4 hash is not recomputed); an IPMP interface (``kind="ipmp"``, the
group named as the interface).  Reproduce by hand with the three commands above.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

from collectors import _facts
from collectors._flows import (
    DEFAULT_MAX_FLOWS,
    SAMPLE_SOURCE,
    STORAGE_PORTS,
    Flow,
    Sock,
    busiest,
    configured_ports,
    flow_families,
    flow_key,
    format_endpoint,
    protocol_of,
)
from collectors._parse import parse_int, split_parseable
from exporter.api import SAMPLE_READERS, Collector, CommandNotFound, Family, Host, ParseError

CONNSTAT_FIELDS = ("laddr", "lport", "raddr", "rport", "inbytes", "outbytes")
CONNSTAT_ARGS = ("-P", "-e", "-o", ",".join(CONNSTAT_FIELDS))
IPADM_ARGS = ("show-addr", "-p", "-o", "addrobj,addr")
SHOW_LINK_ARGS = ("show-link", "-p", "-o", "link,class,mtu,state,over")


def parse_connstat(text: str, source: str = "connstat -P") -> list[Sock]:
    """One socket per line, the fields of CONNSTAT_FIELDS; ``=`` lines (``-T``
    timestamps) are skipped.  A line with another field count means connstat printed a
    field lanes does not know: ParseError."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("="):
            continue
        f = line.strip().split(",")
        if len(f) != len(CONNSTAT_FIELDS):
            raise ParseError(source, n, f"{len(f)} fields where lanes asked for {len(CONNSTAT_FIELDS)} ({','.join(CONNSTAT_FIELDS)}): a connstat field lanes does not know")
        laddr, lport, raddr, rport, inb, outb = f
        # an IPv4 peer of an IPv6 socket may print as ::ffff:a.b.c.d: its packets are IPv4
        laddr, raddr = (a[7:] if a.startswith("::ffff:") and "." in a else a for a in (laddr, raddr))
        for a in (laddr, raddr):
            try:
                ipaddress.ip_address(a)
            except ValueError:
                raise ParseError(source, n, f"not an address: {a!r}") from None
        ports = [parse_int(p, source, n) for p in (lport, rport)]
        if not all(0 < p < 65536 for p in ports):
            raise ParseError(source, n, f"port out of range in {line.strip()[:120]!r}")
        inbytes, outbytes = parse_int(inb, source, n), parse_int(outb, source, n)
        if not (0 <= inbytes < 2**64 and 0 <= outbytes < 2**64):
            raise ParseError(source, n, "byte counter outside 0..2^64")
        out.append(Sock(format_endpoint(laddr, ports[0]), format_endpoint(raddr, ports[1]), "", outbytes, inbytes, laddr, ports[0], raddr, ports[1]))
    return out


def parse_addresses(text: str, source: str = "ipadm show-addr") -> dict[str, str]:
    """{address: IP interface} from ``ipadm show-addr -p -o addrobj,addr``."""
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        f = split_parseable(line, source, n)
        if len(f) != 2:
            raise ParseError(source, n, f"expected addrobj:addr, got {line[:120]!r}")
        addrobj, addr = f
        addr = addr.split("/", 1)[0].split("%", 1)[0]
        try:
            ipaddress.ip_address(addr)
        except ValueError:
            continue  # "?" (DHCP not yet bound) and the like hold no address
        out[addr] = addrobj.split("/", 1)[0]
    return out


def parse_show_link(text: str, source: str = "dladm show-link") -> dict[str, tuple[str, str]]:
    """{link: (class, over)} from ``dladm show-link -p -o link,class,mtu,state,over``."""
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        f = split_parseable(line, source, n)
        if len(f) != 5:
            raise ParseError(source, n, f"expected 5 fields, got {len(f)}")
        out[f[0]] = (f[1], f[4])
    return out


def _run(host: Host, tool: str, args, timeout: float) -> str | None:
    """stdout, None when the tool is not there; a failing tool is a ParseError."""
    try:
        res = host.run(tool, list(args), timeout=timeout)
    except CommandNotFound:
        return None
    if not res.ok:
        raise ParseError(f"{tool} {' '.join(args)}", None, f"exit {res.returncode}: {res.stderr.strip()[:200]}")
    return res.stdout


def group_of(netdev: str, classes: Mapping[str, tuple[str, str]], declared: Mapping) -> tuple[str, str, str]:
    """(kind, group, member) for an IP interface."""
    for gname, spec in sorted(declared.items()):
        if netdev in spec.members:
            return "declared", gname, netdev
    klass, over = classes.get(netdev, ("", ""))
    if klass in ("vnic", "vlan") and over:
        netdev = over
        klass = classes.get(over, ("", ""))[0]
    if klass == "aggr":
        return "aggr", netdev, ""
    if klass == "ipmp":
        return "ipmp", netdev, ""
    return "", "", ""


SOURCES = {
    "src": "From connstat -P -e (established TCP connections on storage ports)",
    "tx": "outbytes",
    "rx": "inbytes",
    "route": "netdev is the IP interface holding the local address (ipadm show-addr), the group the aggregation or IPMP group under it (dladm show-link OVER).",
}

_SAMPLER_PORTS: dict[str, frozenset[int]] = {"ports": frozenset(STORAGE_PORTS)}


def read_flow_bytes(host: Host, keys: frozenset[str] | None = None) -> dict[str, tuple[int, int]]:
    """Peak sampler reader: {"local remote": (inbytes, outbytes)} from one connstat run."""
    text = _run(host, "connstat", CONNSTAT_ARGS, 5.0) or ""
    ports = _SAMPLER_PORTS["ports"]
    out = {}
    for s in parse_connstat(text):
        if s.local_port in ports or s.remote_port in ports:
            key = flow_key(s)
            if keys is None or key in keys:
                out[key] = (s.bytes_received, s.bytes_acked)
    return out


SAMPLE_READERS[(SAMPLE_SOURCE, "illumos")] = read_flow_bytes


class FlowsIllumos(Collector):
    name = "flows"
    platforms = frozenset({"illumos"})
    OPTIONS = {"ports": "ports", "max_flows": "int", "route_cache": "duration"}
    description = "Storage TCP connections (iSCSI, NVMe/TCP, NFS, SMB): the NIC and lane each rides, bytes"

    def __init__(self, host, ctx):
        super().__init__(host, ctx)
        self.ports = configured_ports(ctx.option("ports"))
        self.max_flows = ctx.option("max_flows", DEFAULT_MAX_FLOWS)
        _SAMPLER_PORTS["ports"] = frozenset(self.ports)

    def collect(self) -> Iterable[Family]:
        timeout = float(self.ctx.option("timeout", 5.0))
        text = _run(self.host, "connstat", CONNSTAT_ARGS, timeout)
        if text is None:  # no connstat (Oracle Solaris, or a snapshot without it): no flows
            return flow_families([], None, None, SOURCES)
        tagged = [(p, s) for s in parse_connstat(text) if (p := protocol_of(s, self.ports))]
        kept, dropped = busiest(tagged, self.max_flows)
        addrs = parse_addresses(_run(self.host, "ipadm", IPADM_ARGS, timeout) or "") if kept else {}
        classes = parse_show_link(_run(self.host, "dladm", SHOW_LINK_ARGS, timeout) or "") if kept else {}
        declared = getattr(self.ctx.config, "groups", None) or {}
        flows = []
        for p, s in kept:
            netdev = addrs.get(s.local_addr, "")
            kind, group, member = group_of(netdev, classes, declared) if netdev else ("", "", "")
            flows.append(Flow(p, s, netdev, kind, group, member))
        links = _facts.links(self.host, self.ctx) if flows else {}

        def members_up(f: Flow) -> dict[str, int | None]:
            if f.kind == "declared":
                spec = declared.get(f.group)
                names = spec.members if spec else ()
                override = getattr(spec, "speed_bytes", None)
            else:
                names = [n for n, link in links.items() if link.master == f.group]
                override = None
            return {n: override or links[n].speed_bytes for n in names if n in links and links[n].up}

        return flow_families(flows, dropped, members_up, SOURCES, (), self.ctx.sampler)
