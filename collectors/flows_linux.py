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
import ipaddress
import time
from collections.abc import Iterable, Mapping, Sequence

from collectors import _bond_hash, _link_common
from collectors._base import SAMPLE_READERS, Collector, ParseError
from exporter.host import CommandNotFound, Host
from exporter.metrics import Family, counter, gauge, info

#: storage port -> protocol label (SPEC §13)
STORAGE_PORTS: Mapping[int, str] = {3260: "iscsi", 4420: "nvme-tcp", 8009: "nvme-tcp", 2049: "nfs", 445: "smb"}
DEFAULT_MAX_FLOWS = 256
DEFAULT_ROUTE_CACHE = 60.0
SAMPLE_SOURCE = "flows"
AGGREGATE_KINDS = ("bond", "team", "aggr", "ipmp")
#: sampler key of a flow: "local remote"


@dataclasses.dataclass(frozen=True)
class Sock:
    local: str  # addr:port, IPv6 in brackets
    remote: str
    dev: str  # bound device, "" when not bound
    bytes_acked: int
    bytes_received: int
    local_addr: str = ""
    local_port: int = 0
    remote_addr: str = ""
    remote_port: int = 0

    def __post_init__(self):
        if not self.local_addr:  # built by hand (tests): split once here
            la, lp = _split(self.local)
            ra, rp = _split(self.remote)
            object.__setattr__(self, "local_addr", la)
            object.__setattr__(self, "local_port", lp)
            object.__setattr__(self, "remote_addr", ra)
            object.__setattr__(self, "remote_port", rp)


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


@dataclasses.dataclass(frozen=True)
class Flow:
    protocol: str
    sock: Sock
    netdev: str
    kind: str = ""
    group: str = ""
    member: str = ""


# ------------------------------------------------------------------ parsers (pure)


def _split(endpoint: str) -> tuple[str, int]:
    addr, sep, port = endpoint.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(endpoint)
    return addr.strip("[]"), int(port)


def _endpoint(text: str, source: str, lineno: int) -> tuple[str, int]:
    try:
        addr, port = _split(text)
        ipaddress.ip_address(addr)
    except ValueError:
        raise ParseError(source, lineno, f"not an address:port: {text!r}") from None
    if not 0 < port < 65536:
        raise ParseError(source, lineno, f"port out of range: {text!r}")
    return addr, port


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
        la, lp = _endpoint(words[0], source, n)
        ra, rp = _endpoint(words[1], source, n)
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
    for line in text.splitlines()[1:]:
        w = line.split()
        if len(w) >= 6 and int(w[2], 16) & 0x2:
            out[w[0]] = w[3].lower()
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


def protocol_of(sock: Sock, ports: Mapping[int, str]) -> str | None:
    for port in (sock.remote_port, sock.local_port):
        if port in ports:
            return ports[port]
    return None


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
        for ``ttl`` seconds (a route lookup costs about 0.3-0.9 ms through pyroute2)."""
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
            return Flow(protocol, sock, netdev, "bond", dev, self.bond_member(bond, sock, route))
        if link is not None and link.kind == "team":
            return Flow(protocol, sock, netdev, "team", dev, "")
        return Flow(protocol, sock, netdev)

    def bond_member(self, bond: Bond, sock: Sock, route: Route | None) -> str:
        if bond.mode == "active-backup":
            return bond.active
        if bond.mode not in ("802.3ad", "balance-xor") or not bond.usable:
            return ""  # round-robin, broadcast, tlb/alb: no one lane per flow lanes can compute
        if len(bond.usable) == 1:
            return bond.usable[0]
        src_mac = dst_mac = None
        if bond.policy in ("layer2", "layer2+3", "encap2+3", "vlan+srcmac"):
            link = self.links.get(bond.name)
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
            )
        except ValueError:
            return ""  # a policy newer than lanes: the group is known, the member is not
        return "" if i is None else bond.usable[i]


# ------------------------------------------------------------------ families


def flow_key(sock: Sock) -> str:
    return f"{sock.local} {sock.remote}"


def busiest(socks: Sequence[tuple[str, Sock]], max_flows: int) -> tuple[list[tuple[str, Sock]], int]:
    ranked = sorted(socks, key=lambda ps: (-(ps[1].bytes_acked + ps[1].bytes_received), ps[1].local, ps[1].remote))
    return ranked[:max_flows], max(0, len(ranked) - max_flows)


def reachable(members_up: Mapping[str, int | None], used: Sequence[str], flows: int) -> int | None:
    """What a group can move with the flows it has: the members the flows ride when every
    flow's member is known, else min(flows, members up) of the fastest up members."""
    speeds = {m: s for m, s in members_up.items() if s}
    if used and all(used):
        return sum(speeds.get(m, 0) for m in set(used)) or None
    k = min(flows, len(members_up))
    top = sorted(speeds.values(), reverse=True)[:k]
    return sum(top) or None


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


SRC = "From sock_diag (tcp_info) of established TCP connections on storage ports"


def flow_families(flows: Sequence[Flow], dropped: int | None, resolver: Resolver | None, mounts: Sequence[NfsMount], sampler=None) -> list[Family]:
    FL = ("protocol", "local", "remote")
    fi = info("flow_info", f"A storage TCP connection (a car) and the lane it rides; value 1. {SRC}; netdev from the bound device or the kernel's route (ip route get), the member from the group (a bond: bond_xmit_hash() of its xmit_hash_policy).", (*FL, "netdev", "kind", "group", "member"))
    tx = counter("flow_transmit_bytes_total", f"Bytes sent on the connection and acknowledged by the peer. {SRC}: tcpi_bytes_acked.", FL)
    rx = counter("flow_receive_bytes_total", f"Bytes received on the connection. {SRC}: tcpi_bytes_received.", FL)
    ptx = gauge("flow_transmit_peak_bytes_per_second", "Highest transmit rate of the connection over any sampling interval since the previous scrape, from the background sampler (tcpi_bytes_acked).", FL)
    prx = gauge("flow_receive_peak_bytes_per_second", "Highest receive rate of the connection over any sampling interval since the previous scrape, from the background sampler (tcpi_bytes_received).", FL)
    dr = gauge("flows_dropped", f"Storage connections not exported because max_flows was reached (the busiest by bytes are kept). {SRC}.")
    gf = gauge("group_flows", f"Storage connections riding the group. {SRC}.", ("kind", "group"))
    gr = gauge("group_reachable_speed_bytes", "What the group can move with the flows it has, in bytes/s: the speed of the members its flows ride (min(flows, members up) x member speed where the member of a flow is not known). From sock_diag, the route and the link speeds.", ("kind", "group"))
    nm = gauge("nfs_mount_transports", "Transports (TCP connections; nconnect) of an NFS mount, with the group its connections ride. From /proc/self/mountstats xprt: lines.", ("mount", "export", "kind", "group"))
    wanted = []
    by_group: dict[tuple[str, str], list[Flow]] = {}
    for f in flows:
        lv = (f.protocol, f.sock.local, f.sock.remote)
        fi.add_str((*lv, f.netdev, f.kind, f.group, f.member), 1)
        tx.add_str(lv, f.sock.bytes_acked)
        rx.add_str(lv, f.sock.bytes_received)
        key = flow_key(f.sock)
        wanted.append(key)
        if sampler is not None:
            peak = sampler.peak(SAMPLE_SOURCE, key)
            if peak is not None:
                prx.add_str(lv, peak[0])
                ptx.add_str(lv, peak[1])
        if f.group:
            by_group.setdefault((f.kind, f.group), []).append(f)
    dr.add((), dropped)  # None: no socket source at all (a snapshot recorded without it)
    for gk, gflows in sorted(by_group.items()):
        gf.add_str(gk, len(gflows))
        if resolver is not None:
            gr.add_str(gk, reachable(group_members_up(gflows[0], resolver), [f.member for f in gflows], len(gflows)))
    by_local_port = {(f.sock.local_port, f.sock.remote_port): f for f in flows}
    for m in mounts:
        groups = {(f.kind, f.group) for t in m.transports if (f := by_local_port.get((t.srcport, 2049)))}
        kind, group = sorted(groups)[0] if len(groups) == 1 else ("", "")
        nm.add((m.mountpoint, m.device, kind, group), len(m.transports))
    if sampler is not None:
        sampler.want(SAMPLE_SOURCE, wanted, replace=True)
    return [fi, tx, rx, ptx, prx, dr, gf, gr, nm]


# ------------------------------------------------------------------ sampler and collector

#: ports the sampler asks sock_diag for (set by the collector from its config)
_SAMPLER_PORTS: dict[str, frozenset[int]] = {"ports": frozenset(STORAGE_PORTS)}


def read_flow_bytes(host: Host) -> dict[str, tuple[int, int]]:
    """Peak sampler reader: {"local remote": (bytes_received, bytes_acked)}."""
    res = host.tcp_sockets(sorted(_SAMPLER_PORTS["ports"]), timeout=2.0)
    return {flow_key(s): (s.bytes_received, s.bytes_acked) for s in parse_sockets(res.stdout)}


SAMPLE_READERS[(SAMPLE_SOURCE, "linux")] = read_flow_bytes


class FlowsLinux(Collector):
    name = "flows"
    platforms = frozenset({"linux"})
    OPTIONS = {"ports": "list", "max_flows": "int", "route_cache": "duration"}
    description = "Storage TCP connections (iSCSI, NVMe/TCP, NFS, SMB): the NIC and lane each rides, bytes, NFS transports"

    def __init__(self, host, ctx):
        super().__init__(host, ctx)
        self.ports = dict(STORAGE_PORTS)
        self.bad_ports = [p for p in ctx.option("ports") or () if not str(p).isdigit() or not 0 < int(p) < 65536]
        for p in ctx.option("ports") or ():
            if p not in self.bad_ports:
                self.ports.setdefault(int(p), "other")
        self.max_flows = ctx.option("max_flows", DEFAULT_MAX_FLOWS)
        #: how long a route answer is reused (0: ask the kernel for every flow every scrape)
        self.route_ttl = float(ctx.option("route_cache", DEFAULT_ROUTE_CACHE))
        self._route_cache: dict = {}
        _SAMPLER_PORTS["ports"] = frozenset(self.ports)

    def read(self) -> tuple[list[Flow], int | None, Resolver, list[NfsMount]]:
        if self.bad_ports:
            raise ParseError("config collectors.flows.ports", None, f"not a TCP port: {self.bad_ports[0]!r}")
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
        links = _link_common.shared_links(self.host, self.ctx)
        declared = getattr(self.ctx.config, "groups", None) or {}
        resolver = Resolver(self.host, links, declared, timeout, self._route_cache, self.route_ttl, time.monotonic())
        flows = [resolver.flow(p, s) for p, s in kept]
        resolver.prune()
        text = self.host.read_optional("/proc/self/mountstats")
        mounts = parse_mountstats(text) if text else []
        return flows, dropped, resolver, mounts

    def collect(self) -> Iterable[Family]:
        flows, dropped, resolver, mounts = self.read()
        return flow_families(flows, dropped, resolver, mounts, self.ctx.sampler)
