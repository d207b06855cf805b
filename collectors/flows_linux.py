"""Collector ``flows`` (Linux): every storage TCP connection, the NIC it leaves by and the
lane (group member) it rides (SPEC §13).

Sources:

* sock_diag (sock_diag(7)): established TCP sockets whose local or remote port is a
  storage port (iSCSI 3260, NVMe/TCP 4420 and 8009, NFS 2049, SMB 445, more in
  ``collectors: {flows: {ports: [...]}}``); bytes from ``struct tcp_info``
  (``tcpi_bytes_acked`` = transmitted and acknowledged, ``tcpi_bytes_received``).  Read by
  ``exporter.sockdiag`` and recorded as the pseudo command ``sock_diag tcp``.
* the NIC: the socket's bound device (``idiag_if``), else the kernel's own route for
  that source and destination (``ip route get DST from SRC``: RTM_GETROUTE, so policy
  routing is right), recorded as that command.  A VLAN is followed to its lower device.
* the member: a declared group's NIC; for a bond, the member ``bond_xmit_hash()`` picks
  (collectors/_bond_hash.py) among the usable members (``/sys/class/net/<bond>/bonding/
  {mode,xmit_hash_policy,slaves,active_slave,ad_aggregator}``,
  ``/sys/class/net/<member>/bonding_slave/{mii_status,ad_aggregator_id}``, neighbour MACs
  from ``/proc/net/arp`` for the layer-2 policies); team: the group only (teamd's hash is
  a BPF program lanes does not run).
* NFS: ``/proc/self/mountstats`` (fs/nfs/super.c ``nfs_show_stats``,
  net/sunrpc/xprtsock.c ``xs_tcp_print_stats``): each mount's transports (``xprt:`` lines,
  one per ``nconnect`` connection) and their source ports.

Reproduce by hand: ``ss -tinH state established '( sport = :3260 or dport = :3260 )'``,
``ip route get 10.0.0.2 from 10.0.0.1``, ``cat /proc/self/mountstats``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence

from collectors import _bond_hash, _facts
from collectors._flows import (
    DEFAULT_MAX_FLOWS,
    SAMPLE_SOURCE,
    STORAGE_PORTS,
    Flow,
    MountTransports,
    Sock,
    busiest,
    configured_ports,
    endpoint,
    flow_families,
    protocol_of,
)
from exporter.api import SAMPLE_READERS, Collector, CommandNotFound, Family, Host, ParseError

#: seconds a route answer is reused (config collectors.flows.route_cache)
DEFAULT_ROUTE_CACHE = 60.0


@dataclasses.dataclass(frozen=True)
class Route:
    dev: str
    via: str = ""


@dataclasses.dataclass(frozen=True)
class Transport:
    proto: str  # tcp, rdma, udp
    srcport: int | None


@dataclasses.dataclass(frozen=True)
class NfsMount:
    device: str  # server:/export
    mountpoint: str
    fstype: str
    nconnect: int | None
    transports: tuple[Transport, ...]

    @property
    def server(self) -> str:
        host, _, _ = self.device.rpartition(":")
        return host.strip("[]")


@dataclasses.dataclass(frozen=True)
class Bond:
    name: str
    mode: str
    policy: str
    members: tuple[str, ...]  # in the bond's order
    usable: tuple[str, ...]  # the kernel's usable_slaves: up, in the active aggregator
    active: str  # active-backup


# ------------------------------------------------------------------ parsers (pure)


def parse_sockets(text: str, source: str = "sock_diag tcp") -> list[Sock]:
    """The rendering of ``exporter.sockdiag``: ``LOCAL REMOTE dev=X bytes_acked=N
    bytes_received=N`` per line; ``#`` lines are comments."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        words = line.split()
        if len(words) < 5:
            raise ParseError(source, n, f"expected LOCAL REMOTE dev= bytes_acked= bytes_received=, got {line[:120]!r}")
        kv = {}
        for w in words[2:]:
            k, sep, v = w.partition("=")
            if not sep:
                raise ParseError(source, n, f"expected key=value, got {w!r}")
            kv[k] = v
        try:
            acked, received = int(kv["bytes_acked"]), int(kv["bytes_received"])
        except KeyError as e:
            raise ParseError(source, n, f"missing {e.args[0]}") from None
        except ValueError:
            raise ParseError(source, n, "byte counters must be whole numbers") from None
        if not (0 <= acked < 2**64 and 0 <= received < 2**64):
            raise ParseError(source, n, "byte counter outside 0..2^64")
        dev = kv.get("dev", "-")
        la, lp = endpoint(words[0], source, n)
        ra, rp = endpoint(words[1], source, n)
        out.append(Sock(words[0], words[1], "" if dev == "-" else dev, acked, received, la, lp, ra, rp))
    return out


def parse_route(text: str, source: str = "ip route get") -> Route:
    """``ip route get`` output: ``DST [from SRC] [via GW] dev IFNAME ...``."""
    words = text.split()
    dev = via = ""
    for i, w in enumerate(words[:-1]):
        if w == "dev" and not dev:
            dev = words[i + 1]
        elif w == "via" and not via:
            via = words[i + 1]
    if not dev:
        if words[:1] in (["unreachable"], ["prohibit"], ["blackhole"]) or not words:
            return Route("")
        raise ParseError(source, 1, f"no 'dev' in route answer {text.strip()[:120]!r}")
    return Route(dev, via)


def parse_arp(text: str) -> dict[str, str]:
    """/proc/net/arp: ``IP address HW type Flags HW address Mask Device``; complete
    entries (flag 0x2) only."""
    out = {}
    for n, line in enumerate(text.splitlines()[1:], 2):
        w = line.split()
        if len(w) < 6:
            continue
        try:
            flags = int(w[2], 16)
        except ValueError:
            raise ParseError("/proc/net/arp", n, f"flags not hexadecimal: {w[2][:20]!r}") from None
        if flags & 0x2:
            out[w[0]] = w[3].lower()
    return out


def parse_vlan_config(text: str) -> dict[str, int]:
    """/proc/net/vlan/config (net/8021q/vlanproc.c): ``DEV | VID | REAL_DEV`` after two
    header lines."""
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3 or n <= 1:
            continue
        if not parts[1].isdigit():
            raise ParseError("/proc/net/vlan/config", n, f"VLAN id not a number: {parts[1][:20]!r}")
        out[parts[0]] = int(parts[1])
    return out


#: statvers lanes knows (fs/nfs/super.c NFS_IOSTAT_VERS "1.1"; 1.0 before Linux 2.6.23)
STATVERS = ("1.0", "1.1")
#: fields after "xprt: tcp" (xs_tcp_print_stats): srcport bind_count connect_count
#: connect_time idle_time sends recvs bad_xids req_u bklog_u [max_slots sending_u pending_u]
XPRT_FIELDS = {"tcp": (10, 13), "udp": (7, 10), "rdma": (11, 30)}


def parse_mountstats(text: str, source: str = "/proc/self/mountstats") -> list[NfsMount]:
    """NFS mounts and their transports.  Unknown ``statvers`` or an ``xprt:`` line with
    a field count lanes does not know is a ParseError (the format changed)."""
    mounts: list[NfsMount] = []
    cur: dict | None = None

    def flush():
        if cur is not None:
            mounts.append(NfsMount(cur["device"], cur["mnt"], cur["fstype"], cur["nconnect"], tuple(cur["xprt"])))

    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("device "):
            flush()
            cur = None
            w = line.split()
            # device SRC mounted on DIR with fstype TYPE [statvers=X]
            if len(w) < 8 or w[2:4] != ["mounted", "on"] or w[-3 if "statvers=" in line else -2] != "fstype":
                raise ParseError(source, n, f"unexpected device line {line[:120]!r}")
            fstype = w[w.index("fstype", 4) + 1]
            if not fstype.startswith("nfs"):
                continue
            statvers = next((x.split("=", 1)[1] for x in w if x.startswith("statvers=")), None)
            if statvers not in STATVERS:
                raise ParseError(source, n, f"statvers={statvers} (lanes knows {', '.join(STATVERS)}): mountstats format from a newer kernel")
            cur = {"device": w[1], "mnt": " ".join(w[4 : w.index("with", 4)]), "fstype": fstype, "nconnect": None, "xprt": []}
        elif cur is None:
            continue
        else:
            s = line.strip()
            if s.startswith("opts:"):
                for opt in s[5:].strip().split(","):
                    if opt.startswith("nconnect="):
                        try:
                            cur["nconnect"] = int(opt[9:])
                        except ValueError:
                            raise ParseError(source, n, f"bad nconnect option {opt!r}") from None
            elif s.startswith("xprt:"):
                w = s[5:].split()
                if not w:
                    raise ParseError(source, n, "empty xprt line")
                proto = w[0]
                known = XPRT_FIELDS.get(proto)
                if known is None:
                    raise ParseError(source, n, f"unknown transport {proto!r} in {s[:120]!r}")
                count = len(w) - 1
                if not known[0] <= count <= known[1]:
                    raise ParseError(source, n, f"xprt {proto} with {count} fields (lanes knows {known[0]}..{known[1]}): mountstats format from a newer kernel")
                srcport = None
                if proto in ("tcp", "udp"):
                    if not w[1].isdigit():
                        raise ParseError(source, n, f"bad source port {w[1]!r}")
                    srcport = int(w[1])
                cur["xprt"].append(Transport(proto, srcport))
    flush()
    return mounts


# ------------------------------------------------------------------ reading (I/O through host)


def _first(host: Host, path: str) -> str:
    text = host.read_optional(path)
    return text.split()[0] if text and text.split() else ""


def read_bond(host: Host, name: str) -> Bond | None:
    base = f"/sys/class/net/{name}/bonding"
    mode_text = host.read_optional(f"{base}/mode")
    if mode_text is None:
        return None
    mode = mode_text.split()[0] if mode_text.split() else ""
    policy = _first(host, f"{base}/xmit_hash_policy")
    members = tuple((host.read_optional(f"{base}/slaves") or "").split())
    aggregator = _first(host, f"{base}/ad_aggregator")
    usable = []
    for m in members:
        if _first(host, f"/sys/class/net/{m}/bonding_slave/mii_status") != "up":
            continue
        if mode == "802.3ad" and aggregator and _first(host, f"/sys/class/net/{m}/bonding_slave/ad_aggregator_id") != aggregator:
            continue
        usable.append(m)
    return Bond(name, mode, policy, members, tuple(usable), _first(host, f"{base}/active_slave"))


def lower_device(host: Host, dev: str) -> str:
    """A VLAN's (or macvlan's) lower device, one level: /sys/class/net/<dev>/lower_*."""
    lowers = [n[6:] for n in host.list_optional(f"/sys/class/net/{dev}") if n.startswith("lower_")]
    return lowers[0] if len(lowers) == 1 else dev


class Resolver:
    """NIC, group and member of each flow, with one route lookup per (src, dst) pair."""

    def __init__(self, host: Host, links: Mapping, declared: Mapping, timeout: float, cache: dict | None = None, ttl: float = 0.0, now: float = 0.0):
        """``cache``: route answers of earlier scrapes, {(dst, src): (Route, when)}, reused
        for ``ttl`` seconds (a route lookup is one rtnetlink request, about 30 µs)."""
        self.host = host
        self.links = links
        self.declared = declared
        self.timeout = timeout
        self.cache = cache if cache is not None else {}
        self.ttl = ttl
        self.now = now
        self._routes: dict[tuple[str, str], Route] = {}
        self._bonds: dict[str, Bond | None] = {}
        self._arp: dict[str, str] | None = None
        self._lower: dict[str, str] = {}
        self._vlans: dict[str, int] | None = None

    def route(self, sock: Sock) -> Route:
        key = (sock.remote_addr, sock.local_addr)
        r = self._routes.get(key)
        if r is None:
            hit = self.cache.get(key)
            if hit is not None and self.now - hit[1] < self.ttl:
                self._routes[key] = hit[0]
                return hit[0]
        if r is None:
            try:
                res = self.host.route_get(*key, timeout=self.timeout)
            except CommandNotFound:
                r = Route("")
            else:
                r = parse_route(res.stdout, f"ip route get {key[0]} from {key[1]}") if res.ok else Route("")
            self._routes[key] = r
            self.cache[key] = (r, self.now)
        return r

    def prune(self) -> None:
        """Forget route answers of flows that are gone: the cache never outgrows the flows."""
        for key in [k for k in self.cache if k not in self._routes]:
            del self.cache[key]

    def bond(self, name: str) -> Bond | None:
        if name not in self._bonds:
            self._bonds[name] = read_bond(self.host, name)
        return self._bonds[name]

    def neighbour_mac(self, ip: str) -> str | None:
        if self._arp is None:
            self._arp = parse_arp(self.host.read_optional("/proc/net/arp") or "")
        return self._arp.get(ip)

    def flow(self, protocol: str, sock: Sock) -> Flow:
        route = None
        netdev = sock.dev
        if not netdev:
            route = self.route(sock)
            netdev = route.dev
        if not netdev:
            return Flow(protocol, sock, "")
        for gname, spec in sorted(self.declared.items()):
            if netdev in spec.members:
                return Flow(protocol, sock, netdev, "declared", gname, netdev)
        dev = netdev
        link = self.links.get(dev)
        if link is not None and link.kind not in ("bond", "team"):
            if dev not in self._lower:
                self._lower[dev] = lower_device(self.host, dev)
            dev = self._lower[dev]
            link = self.links.get(dev)
        bond = self.bond(dev)
        if bond is not None:
            return Flow(protocol, sock, netdev, "bond", dev, self.bond_member(bond, sock, route, netdev))
        if link is not None and link.kind == "team":
            return Flow(protocol, sock, netdev, "team", dev, "")
        return Flow(protocol, sock, netdev)

    def vlan_id(self, dev: str) -> int:
        """The VLAN id of a VLAN device (/proc/net/vlan/config), 0 for anything else."""
        if self._vlans is None:
            self._vlans = parse_vlan_config(self.host.read_optional("/proc/net/vlan/config") or "")
        return self._vlans.get(dev, 0)

    def bond_member(self, bond: Bond, sock: Sock, route: Route | None, netdev: str = "") -> str:
        if bond.mode == "active-backup":
            return bond.active
        if bond.mode not in ("802.3ad", "balance-xor") or not bond.usable:
            return ""  # round-robin, broadcast, tlb/alb: no one lane per flow lanes can compute
        if len(bond.usable) == 1:
            return bond.usable[0]
        src_mac = dst_mac = None
        vlan = self.vlan_id(netdev) if netdev and netdev != bond.name else 0
        if bond.policy in ("layer2", "layer2+3", "encap2+3", "vlan+srcmac"):
            # the frame's source MAC is the sending device's: a VLAN over the bond has its own
            link = self.links.get(netdev) or self.links.get(bond.name)
            src_mac = link.mac.lower() if link is not None and link.mac else None
            if route is None:
                route = self.route(sock)
            dst_mac = self.neighbour_mac(route.via or sock.remote_addr)
        try:
            i = _bond_hash.member_index(
                bond.policy,
                len(bond.usable),
                src=sock.local_addr,
                dst=sock.remote_addr,
                sport=sock.local_port,
                dport=sock.remote_port,
                src_mac=src_mac,
                dst_mac=dst_mac,
                vlan=vlan,
            )
        except ValueError:
            return ""  # a policy newer than lanes: the group is known, the member is not
        return "" if i is None else bond.usable[i]


# ------------------------------------------------------------------ families


SOURCES = {
    "src": "From sock_diag (tcp_info) of established TCP connections on storage ports",
    "tx": "tcpi_bytes_acked (sent and acknowledged)",
    "rx": "tcpi_bytes_received",
    "route": "netdev from the bound device or the kernel's route (ip route get), the member from the group (a bond: bond_xmit_hash() of its xmit_hash_policy).",
}


def group_members_up(flow: Flow, resolver: Resolver) -> dict[str, int | None]:
    """Up members of the group a flow rides -> speed in bytes/s."""
    names: Sequence[str] = ()
    if flow.kind == "declared":
        spec = resolver.declared.get(flow.group)
        names = spec.members if spec else ()
        override = getattr(spec, "speed_bytes", None)
    elif flow.kind == "bond":
        bond = resolver.bond(flow.group)
        names = bond.usable if bond else ()
        override = None
    else:
        names = [n for n, link in resolver.links.items() if link.master == flow.group]
        override = None
    out = {}
    for n in names:
        link = resolver.links.get(n)
        if link is not None and link.up:
            out[n] = override or link.speed_bytes
    return out


# ------------------------------------------------------------------ sampler and collector

#: ports the sampler asks sock_diag for (set by the collector from its config)
_SAMPLER_PORTS: dict[str, frozenset[int]] = {"ports": frozenset(STORAGE_PORTS)}


def read_flow_bytes(host: Host, keys: frozenset[str] | None = None) -> dict[str, tuple[int, int]]:
    """Peak sampler reader: {"local remote": (bytes_received, bytes_acked)}."""
    res = host.tcp_sockets(sorted(_SAMPLER_PORTS["ports"]), timeout=2.0)
    # every second, so lighter than parse_sockets: the scrape validates the same text; a
    # line this cannot read raises and the sampler skips one interval
    out = {}
    for line in res.stdout.splitlines():
        if not line or line[0] == "#":
            continue
        w = line.split()
        key = f"{w[0]} {w[1]}"
        if keys is None or key in keys:
            out[key] = (int(w[4].partition("=")[2]), int(w[3].partition("=")[2]))
    return out


SAMPLE_READERS[(SAMPLE_SOURCE, "linux")] = read_flow_bytes


class FlowsLinux(Collector):
    name = "flows"
    platforms = frozenset({"linux"})
    OPTIONS = {"ports": "ports", "max_flows": "int", "route_cache": "duration"}
    description = "Storage TCP connections (iSCSI, NVMe/TCP, NFS, SMB): the NIC and lane each rides, bytes, NFS transports"

    def __init__(self, host, ctx):
        super().__init__(host, ctx)
        self.ports = configured_ports(ctx.option("ports"))
        self.max_flows = ctx.option("max_flows", DEFAULT_MAX_FLOWS)
        #: how long a route answer is reused (0: ask the kernel for every flow every scrape)
        self.route_ttl = float(ctx.option("route_cache", DEFAULT_ROUTE_CACHE))
        self._route_cache: dict = {}
        _SAMPLER_PORTS["ports"] = frozenset(self.ports)

    def read(self) -> tuple[list[Flow], int | None, Resolver, list[NfsMount]]:
        timeout = float(self.ctx.option("timeout", 5.0))
        try:
            res = self.host.tcp_sockets(sorted(self.ports), timeout=timeout)
        except CommandNotFound:
            socks = None  # no live kernel and no recording (older snapshots): no flows
        else:
            socks = parse_sockets(res.stdout)
        tagged = [(p, s) for s in socks or () if (p := protocol_of(s, self.ports))]
        kept, dropped = busiest(tagged, self.max_flows)
        if socks is None:
            dropped = None
        links = _facts.links(self.host, self.ctx)
        declared = getattr(self.ctx.config, "groups", None) or {}
        resolver = Resolver(self.host, links, declared, timeout, self._route_cache, self.route_ttl, time.monotonic())
        flows = [resolver.flow(p, s) for p, s in kept]
        resolver.prune()
        text = self.host.read_optional("/proc/self/mountstats")
        mounts = parse_mountstats(text) if text else []
        return flows, dropped, resolver, mounts

    def collect(self) -> Iterable[Family]:
        flows, dropped, resolver, mounts = self.read()
        transports = [MountTransports(m.mountpoint, m.device, tuple(t.srcport for t in m.transports)) for m in mounts]
        return flow_families(flows, dropped, lambda f: group_members_up(f, resolver), SOURCES, transports, self.ctx.sampler)
