"""Collector ``iscsi`` (Linux open-iscsi initiator): sessions, the NIC and portal each uses.

Sources (no root, no daemon, no command):
  /sys/class/iscsi_session/sessionN/{targetname,tpgt,ifacename,initiatorname,state,
      recovery_tmo}                         kernel drivers/scsi/scsi_transport_iscsi.c
  /sys/class/iscsi_connection/connectionN:0/{persistent_address,persistent_port,address,
      port,state}                           same file (iscsi_conn_attr_show)
  /sys/class/iscsi_host/hostH/{netdev,ipaddress}
                                            same file; iscsi_tcp.c iscsi_sw_tcp_host_get_param
                                            (ipaddress is the local socket address)
  /sys/block/sdX -> ../devices/platform/hostH/sessionN/targetH:C:T/H:C:T:L/block/sdX
                                            the disks of the session (one readlink per disk;
                                            software iSCSI has one SCSI host per session,
                                            open-iscsi README 5.1.1)
  /proc/diskstats                           bytes of those disks (collectors/_diskstats.py)
  /proc/net/route, /proc/net/ipv6_route     the NIC a session leaves by when its iface is not
                                            bound to a netdev (net/ipv4/fib_trie.c
                                            fib_route_seq_show, net/ipv6/route.c)
  /etc/iscsi/nodes, /var/lib/iscsi/nodes    node records <target>/<addr>,<port>,<tpgt>/<iface>
                                            (open-iscsi usr/idbm.c): sessions that should exist

Identity attributes (target, portal, iface, addresses, netdev) are read once per session
lifetime, keyed by the session name and its SCSI host (a new login gets a new SID and a new
host), because reading ``ipaddress``/``address`` during logout tripped kernel bugs
(iscsi_tcp NULL deref and use-after-free fixes, 2023 stable); ``recovery_tmo`` is set at
login from node.session.timeo.replacement_timeout and read with them.  ``state``, the
connection state and the disk counters are read every scrape.  CHAP attributes are never
read.

Metrics: lanes_iscsi_session_info, lanes_iscsi_session_state{state}, lanes_iscsi_connection_state,
lanes_iscsi_session_recovery_timeout_seconds, lanes_iscsi_session_disks,
lanes_iscsi_node_records_privilege_missing, and the group model
kind="iscsi" (group = target IQN, member = ``<portal>@<iface>``; bytes = Σ of its disks).

Platform: Linux.  By hand: ``iscsiadm -m session -P 3``;
``grep . /sys/class/iscsi_session/session*/{targetname,state} /sys/class/iscsi_host/host*/{netdev,ipaddress}``.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import ipaddress
import re
import threading
from collections.abc import Iterable, Mapping

from collectors import _diskstats, _link_common, _path_roles, groups
from collectors._base import SAMPLE_READERS, Collector, ParseError
from exporter.host import Host
from exporter.metrics import Family, gauge, info

# kernel scsi_transport_iscsi.c iscsi_session_state_names[] and iscsi_conn_state_names[]
SESSION_STATES = ("LOGGED_IN", "FAILED", "FREE", "unknown")
CONN_STATES = ("up", "down", "failed", "bound", "unknown")
NODE_DIRS = ("/etc/iscsi/nodes", "/var/lib/iscsi/nodes")
# reading address/port/ipaddress of a connection that is down gives ENOTCONN
# (scsi_transport_iscsi.c, iscsi_tcp.c): "no value now", like the host's absent errnos
_NO_VALUE_ERRNOS = frozenset({errno.ENOTCONN, errno.ESHUTDOWN, errno.EIO})
_UNSET = frozenset({"", "<empty>", "default", "(null)"})


class Stateset:
    """``add_stateset`` for hot paths, same series and values.  The 0/1 samples of one
    series set (label values, current state) are built once and reused while they come
    back scrape after scrape: a scrape appends them without building a tuple.  One instance
    per collector (a collector never runs twice at once); ``roll()`` at the end of each
    collect keeps what that scrape used and drops the rest.  Label values must be str."""

    __slots__ = ("states", "rows", "other", "_memo", "_used")

    def __init__(self, states: tuple[str, ...]):
        self.states = states
        self.rows = {c: tuple((s, 1 if s == c else 0) for s in states) for c in states}
        # a state outside the set: unknown where the set has it, else every state 0
        self.other = self.rows["unknown"] if "unknown" in states else tuple((s, 0) for s in states)
        self._memo: dict[tuple, tuple] = {}
        self._used: dict[tuple, tuple] = {}

    def add(self, fam: Family, lv: tuple[str, ...], current: str | None) -> None:
        if current is None:
            return
        key = (lv, current)
        samples = self._memo.get(key)
        if samples is None:
            samples = tuple([((*lv, s), v) for s, v in self.rows.get(current, self.other)])
        self._used[key] = samples
        fam.samples.extend(samples)

    def roll(self) -> None:
        self._memo, self._used = self._used, {}


# ------------------------------------------------------------------ models


@dataclasses.dataclass(frozen=True)
class SessionIdentity:
    """What does not change during one login (read once)."""

    session: str  # session1
    host: str  # host3
    target: str
    tpgt: str
    iface: str
    initiator: str
    persistent_address: str | None
    persistent_port: str | None
    address: str | None  # current peer (can differ from persistent after a redirect)
    port: str | None
    bound_netdev: str | None  # iface.net_ifacename pushed to iscsi_host/netdev, None if unbound
    local_address: str | None
    recovery_tmo: int | None = None  # set at login from node.session.timeo.replacement_timeout

    # computed once per identity (the identity lives as long as the session): a scrape of
    # 4,000 sessions asks for them several times each
    @functools.cached_property
    def portal(self) -> str:
        return format_portal(self.persistent_address or self.address, self.persistent_port or self.port)

    @functools.cached_property
    def member(self) -> str:
        return f"{self.portal}@{self.iface or 'default'}"


@dataclasses.dataclass(frozen=True)
class Session:
    identity: SessionIdentity
    state: str | None
    conn_state: str | None
    recovery_tmo: int | None
    disks: tuple[str, ...]
    netdev: str | None  # bound netdev, else the route to the portal

    @property
    def sample(self) -> tuple[str, str] | None:
        return session_sample(self.disks)


@dataclasses.dataclass(frozen=True)
class Route:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    metric: int
    iface: str


@dataclasses.dataclass(frozen=True)
class NodeRecord:
    target: str
    address: str
    port: str
    tpgt: str | None
    iface: str
    startup: str | None = None  # node.startup: automatic | onboot | manual

    @property
    def member(self) -> str:
        return f"{format_portal(self.address, self.port)}@{self.iface}"


# ------------------------------------------------------------------ pure parsers


def parse_value(text: str | None) -> str | None:
    """A sysfs value or None: ``<empty>``, ``default``, an empty file all mean unset
    (open-iscsi usr/iscsi_settings.h DEFAULT_NETDEV; real-captures.md L-8/L-9)."""
    if text is None:
        return None
    v = text.strip()
    return None if v in _UNSET else v


def parse_recovery_tmo(text: str | None) -> int | None:
    """``recovery_tmo``: integer seconds; ``off`` (no timeout) and garbage give None."""
    v = (text or "").strip()
    if not v or not re.fullmatch(r"-?[0-9]{1,10}", v):
        return None
    n = int(v)
    return n if n >= 0 else None


def format_portal(address: str | None, port: str | None) -> str:
    """``addr:port``; IPv6 in brackets as iscsiadm prints it."""
    a = (address or "").strip() or "unknown"
    if ":" in a and not a.startswith("["):
        a = f"[{a}]"
    p = (port or "").strip()
    return f"{a}:{p}" if p else a


def parse_proc_net_route(text: str) -> list[Route]:
    """/proc/net/route (net/ipv4/fib_trie.c fib_route_seq_show): header, then TAB-separated
    ``Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT``.  Addresses are
    the __be32 printed with %08X, i.e. byte-reversed on little-endian hosts (all the hosts
    lanes targets; a big-endian snapshot would read wrong)."""
    routes = []
    for lineno, line in enumerate(text.splitlines(), 1):
        f = line.split()
        if not f or (lineno == 1 and f[0] == "Iface"):
            continue
        if len(f) < 8:
            raise ParseError("/proc/net/route", lineno, f"{len(f)} fields, expected 11")
        try:
            dest, flags, metric, mask = int(f[1], 16), int(f[3], 16), int(f[6]), int(f[7], 16)
        except ValueError:
            raise ParseError("/proc/net/route", lineno, "non-hex field") from None
        if not flags & 0x1:  # RTF_UP
            continue
        try:
            d = ipaddress.IPv4Address(dest.to_bytes(4, "little"))
            m = ipaddress.IPv4Address(mask.to_bytes(4, "little"))
            net = ipaddress.IPv4Network(f"{d}/{m}", strict=False)
        except (ValueError, OverflowError):
            raise ParseError("/proc/net/route", lineno, "bad destination or mask") from None
        routes.append(Route(net, metric, f[0]))
    return routes


def parse_ipv6_route(text: str) -> list[Route]:
    """/proc/net/ipv6_route (net/ipv6/route.c rt6_info_seq_show): dest plen src splen
    nexthop metric refcnt use flags iface; hex, network byte order."""
    routes = []
    for lineno, line in enumerate(text.splitlines(), 1):
        f = line.split()
        if not f:
            continue
        if len(f) != 10 or len(f[0]) != 32:
            raise ParseError("/proc/net/ipv6_route", lineno, "expected 10 fields")
        try:
            dest = ipaddress.IPv6Address(bytes.fromhex(f[0]))
            plen, metric, flags = int(f[1], 16), int(f[5], 16), int(f[8], 16)
            net = ipaddress.IPv6Network(f"{dest}/{plen}", strict=False)
        except ValueError:
            raise ParseError("/proc/net/ipv6_route", lineno, "bad field") from None
        if not flags & 0x1 or f[9] == "lo":  # RTF_UP; local and unreachable routes sit on lo
            continue
        routes.append(Route(net, metric, f[9]))
    return routes


def route_iface(routes: Iterable[Route], address: str | None) -> str | None:
    """The interface of the longest matching prefix (lowest metric on a tie), as the kernel
    would choose without policy rules; None for a hostname or no route."""
    if not address:
        return None
    host_part = address.strip().strip("[]")
    if "%" in host_part:  # IPv6 link-local with a zone: the zone is the interface (RFC 4007)
        return host_part.rsplit("%", 1)[1] or None
    try:
        ip = ipaddress.ip_address(host_part)
    except ValueError:
        return None
    best: Route | None = None
    for r in routes:
        if r.network.version != ip.version or ip not in r.network:
            continue
        if best is None or (r.network.prefixlen, -r.metric) > (best.network.prefixlen, -best.metric):
            best = r
    return best.iface if best else None


def parse_node_startup(text: str) -> str | None:
    """``node.startup = automatic`` from a node record (open-iscsi usr/idbm.c idbm_print:
    ``name = value`` lines, ``#`` comments); None when absent."""
    for line in text.splitlines():
        key, eq, value = line.partition("=")
        if eq and key.strip() == "node.startup":
            return value.strip() or None
    return None


def parse_node_entry(target: str, portal_dir: str, iface: str | None) -> NodeRecord | None:
    """One node record path (open-iscsi usr/idbm.c): ``<addr>,<port>,<tpgt>/<iface>``, or the
    old style ``<addr>,<port>`` file (iface default).  None if the name does not fit."""
    parts = portal_dir.rsplit(",", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].lstrip("-").isdigit():
        addr, port, tpgt = parts
    else:
        parts = portal_dir.rsplit(",", 1)
        if len(parts) != 2 or not parts[1].isdigit():
            return None
        (addr, port), tpgt = parts, None
    if not addr or not target:
        return None
    return NodeRecord(target, addr, port, tpgt, iface or "default")


# ------------------------------------------------------------------ reading


def _attr(host: Host, path: str) -> str | None:
    try:
        return host.read_optional(path)
    except PermissionError:
        raise
    except OSError as e:
        if e.errno in _NO_VALUE_ERRNOS:
            return None
        raise


def disks_by_session(host: Host, block: list[str] | None = None) -> dict[str, tuple[str, ...]]:
    """sessionN -> its disks, from one listing of /sys/block (``block`` when the scrape
    listed it already: ``shared_block``) and one readlink per SCSI disk
    (``/sys/block/sdc -> ../devices/platform/host3/session1/target3:0:0/3:0:0:1/block/sdc``):
    cheaper than walking every session's target directories."""
    out: dict[str, list[str]] = {}
    search = SESSION_IN_PATH.search
    for name in host.list_optional("/sys/block") if block is None else block:
        if not name.startswith(("sd", "sr")):
            continue  # iSCSI LUNs are SCSI disks (sd) or CD-ROMs (sr)
        try:
            link = host.readlink(f"/sys/block/{name}")
        except FileNotFoundError:
            continue  # removed mid-scrape
        except OSError as e:
            if e.errno != errno.EINVAL:  # EINVAL: not a symlink (a copied tree)
                raise
            continue
        m = search(link)
        if m:
            out.setdefault(m.group(1), []).append(name)
    return {k: tuple(sorted(v)) for k, v in out.items()}


SESSION_IN_PATH = re.compile(r"/(session\d+)/target\d+:")
HOST_IN_PATH = re.compile(r"(host\d+)/session\d+/")


def shared_block(host: Host, ctx) -> list[str]:
    """The /sys/block listing, once per scrape (multipath and iscsi both walk it)."""
    return ctx.shared.get("sys_block", lambda: host.list_optional("/sys/block"))


def read_routes(host: Host) -> list[Route]:
    routes = []
    text = host.read_optional("/proc/net/route")
    if text is not None:
        routes += parse_proc_net_route(text)
    text6 = host.read_optional("/proc/net/ipv6_route")
    if text6 is not None:
        routes += parse_ipv6_route(text6)
    return routes


def shared_routes(host: Host, ctx) -> list[Route]:
    return ctx.shared.get("routes", lambda: read_routes(host))


class SessionReader:
    """Reads iSCSI sessions; identity attributes once per session lifetime."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], SessionIdentity] = {}
        self._lock = threading.Lock()

    def _identity(self, host: Host, name: str, host_name: str) -> SessionIdentity:
        s = f"/sys/class/iscsi_session/{name}"
        sid = name[len("session") :]
        c = f"/sys/class/iscsi_connection/connection{sid}:0"
        h = f"/sys/class/iscsi_host/{host_name}"
        return SessionIdentity(
            session=name,
            host=host_name,
            target=parse_value(_attr(host, f"{s}/targetname")) or "",
            tpgt=parse_value(_attr(host, f"{s}/tpgt")) or "",
            iface=parse_value(_attr(host, f"{s}/ifacename")) or "default",
            initiator=parse_value(_attr(host, f"{s}/initiatorname")) or "",
            persistent_address=parse_value(_attr(host, f"{c}/persistent_address")),
            persistent_port=parse_value(_attr(host, f"{c}/persistent_port")),
            address=parse_value(_attr(host, f"{c}/address")),
            port=parse_value(_attr(host, f"{c}/port")),
            bound_netdev=parse_value(_attr(host, f"{h}/netdev")),
            local_address=parse_value(_attr(host, f"{h}/ipaddress")),
            recovery_tmo=parse_recovery_tmo(_attr(host, f"{s}/recovery_tmo")),
        )

    def read(self, host: Host, routes: list[Route], block: list[str] | None = None) -> dict[str, Session]:
        out: dict[str, Session] = {}
        seen = set()
        names = [n for n in host.list_optional("/sys/class/iscsi_session") if n.startswith("session")]
        disks = disks_by_session(host, block) if names else {}
        for name in names:
            base = f"/sys/class/iscsi_session/{name}"
            try:
                # the class link -> ../../devices/platform/hostH/sessionN/iscsi_session/sessionN:
                # the SCSI host names the login (a relogin gets a new one): the lifetime key
                link = host.readlink(base)
            except FileNotFoundError:
                continue  # logged out mid-scrape
            except OSError as e:
                if e.errno != errno.EINVAL:  # EINVAL: not a symlink (a copied tree)
                    raise
                link = ""
            state = _attr(host, f"{base}/state")
            if state is None:
                continue  # vanished between listing and reading
            state = state.strip() or None
            key = (name, link)
            seen.add(key)
            with self._lock:
                ident = self._cache.get(key)
            # an address that could not be read while the session was down is read again
            # once it is logged in; everything else stays cached for the session's life
            if ident is None or (state == "LOGGED_IN" and (ident.local_address is None or ident.address is None)):
                m = HOST_IN_PATH.search(link)
                ident = self._identity(host, name, m.group(1) if m else "")
                with self._lock:
                    self._cache[key] = ident
            conn_state = _attr(host, f"/sys/class/iscsi_connection/connection{name[7:]}:0/state")
            netdev = ident.bound_netdev or route_iface(routes, ident.address or ident.persistent_address)
            out[name] = Session(
                identity=ident,
                state=state,
                conn_state=conn_state.strip() if conn_state else None,
                recovery_tmo=ident.recovery_tmo,
                disks=disks.get(name, ()),
                netdev=netdev,
            )
        with self._lock:
            for key in [k for k in self._cache if k not in seen]:
                del self._cache[key]
        return disambiguate(out)


def disambiguate(sessions: dict[str, Session]) -> dict[str, Session]:
    """Several sessions of one node record (``node.session.nr_sessions`` > 1) share target,
    portal and iface: the second and later, in SID order, get ``#2``, ``#3`` on their iface
    so that their series and member names stay apart."""
    seen: dict[tuple[str, str, str], int] = {}
    out = {}
    for name in sorted(sessions, key=lambda n: (len(n), n)):
        s = sessions[name]
        i = s.identity
        key = (i.target, i.portal, i.iface)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            s = dataclasses.replace(s, identity=dataclasses.replace(i, iface=f"{i.iface}#{seen[key]}"))
        out[name] = s
    return out


def read_node_records(host: Host) -> list[NodeRecord]:
    """Node records of every target, with their ``node.startup``; PermissionError propagates
    (the directories are root-only on most distributions)."""
    out = []
    for d in NODE_DIRS:
        for target in host.list_optional(d):
            for portal in host.list_optional(f"{d}/{target}"):
                path = f"{d}/{target}/{portal}"
                entries = [(f"{path}/{i}", i) for i in host.list_optional(path)] if host.is_dir(path) else [(path, None)]
                for file, iface in entries:
                    rec = parse_node_entry(target, portal, iface)
                    if rec is None:
                        continue
                    text = host.read_optional(file)
                    if text is None:
                        continue  # deleted between listing and reading
                    out.append(dataclasses.replace(rec, startup=parse_node_startup(text)))
    return out


def wanted_records(records: Iterable[NodeRecord], mode: str) -> list[NodeRecord]:
    """Records that say a session should exist: ``automatic`` (default) keeps the records
    logged in at boot (node.startup automatic or onboot), since discovery creates a record
    for every portal the target offers, used or not; ``all`` keeps every record; ``off``
    none."""
    if mode == "all":
        return list(records)
    if mode == "off":
        return []
    return [r for r in records if r.startup in ("automatic", "onboot")]


def shared_sessions(host: Host, ctx, reader: SessionReader) -> dict[str, Session]:
    """Sessions read once per scrape (iscsi and multipath both need them)."""
    return ctx.shared.get("iscsi_sessions", lambda: reader.read(host, shared_routes(host, ctx), shared_block(host, ctx)))


def disk_session_map(sessions: Mapping[str, Session]) -> dict[str, Session]:
    """sdX -> the session it is reached through."""
    return {d: s for s in sessions.values() for d in s.disks}


# ------------------------------------------------------------------ peak sampling

#: sampler source for a session with several disks: key = the disks joined by "+"
#: ("sdc+sde"), value = their summed bytes from one /proc/diskstats read.  The reader has no
#: way to learn the wanted keys, so the collector registers the sets it uses each scrape.
DISK_SET_SOURCE = "disk_set"
_disk_sets: set[str] = set()
_disk_sets_lock = threading.Lock()


def register_disk_sets(keys: Iterable[str]) -> None:
    with _disk_sets_lock:
        _disk_sets.clear()
        _disk_sets.update(keys)


def read_disk_set_bytes(host: Host) -> dict[str, tuple[int, int]]:
    with _disk_sets_lock:
        keys = list(_disk_sets)
    if not keys:
        return {}
    disks = _diskstats.read_diskstats(host)
    out = {}
    for key in keys:
        members = [disks.get(d) for d in key.split("+")]
        if all(members):
            out[key] = (sum(m.read_bytes for m in members), sum(m.write_bytes for m in members))
    return out


SAMPLE_READERS[(DISK_SET_SOURCE, "linux")] = read_disk_set_bytes


def session_sample(disks: tuple[str, ...]) -> tuple[str, str] | None:
    """Sampler key of a session: its disk, or the set of its disks."""
    if not disks:
        return None
    if len(disks) == 1:
        return (_diskstats.SAMPLE_SOURCE, disks[0])
    return (DISK_SET_SOURCE, "+".join(disks))


# ------------------------------------------------------------------ collector

SRC_SESSION = "/sys/class/iscsi_session/<session>"


class IscsiLinux(Collector):
    name = "iscsi"
    platforms = frozenset({"linux"})
    OPTIONS = {"node_records": "enum:automatic,all,off"}
    description = "open-iscsi initiator sessions from sysfs: state, portal, iface, NIC, bytes"

    def __init__(self, host, ctx):
        super().__init__(host, ctx)
        self.reader = SessionReader()
        self.memory = groups.MemberMemory()
        self.session_states, self.conn_states = Stateset(SESSION_STATES), Stateset(CONN_STATES)

    def collect(self) -> list[Family]:
        sessions = shared_sessions(self.host, self.ctx, self.reader)
        records: list[NodeRecord] = []
        denied = None
        mode = self.ctx.option("node_records", "automatic")  # validated by the config loader
        if mode != "off":
            try:
                records = wanted_records(read_node_records(self.host), mode)
                denied = 0
            except PermissionError:
                denied = 1  # root-only on most distros: say so, keep the sysfs data
        if not sessions and not records:
            return [] if not denied else self._denied_family(denied)
        disks = _diskstats.shared_diskstats(self.host, self.ctx) if any(s.disks for s in sessions.values()) else {}
        links = _link_common.shared_links(self.host, self.ctx)
        fams = self._session_families(sessions)
        register_disk_sets("+".join(s.disks) for s in sessions.values() if len(s.disks) > 1)
        fams += groups.group_families(
            self.memory.apply(groups.iscsi_groups(sessions, records, disks, links, self.ctx.config, self._path_roles(sessions))), self.ctx.sampler
        )
        if denied is not None:
            fams += self._denied_family(denied)
        return fams

    def _path_roles(self, sessions: Mapping[str, Session]) -> dict[str, tuple[bool, str]]:
        """Preference and balancing of the multipath paths behind the sessions (SPEC §12)."""
        if not any(s.disks for s in sessions.values()):
            return {}
        return _path_roles.roles_for(self.host, self.ctx, min(1.0, 0.25 * float(self.ctx.option("timeout", 8.0))))

    def _denied_family(self, denied: int) -> list[Family]:
        f = gauge(
            "iscsi_node_records_privilege_missing",
            "1 if the open-iscsi node records (/etc/iscsi/nodes, /var/lib/iscsi/nodes) could not be read (root only): "
            "logged-out sessions are then known only from earlier scrapes and expect:.",
        )
        f.add((), denied)
        return [f]

    def _session_families(self, sessions: Mapping[str, Session]) -> list[Family]:
        L = ("target", "portal", "iface")
        si = info(
            "iscsi_session_info",
            f"iSCSI session identity; value 1. From {SRC_SESSION}/{{targetname,tpgt,ifacename,initiatorname}}, "
            "/sys/class/iscsi_connection/connection<sid>:0/{persistent_address,address}, /sys/class/iscsi_host/<host>/{netdev,ipaddress} "
            "and /proc/net/route when the iface is not bound to a netdev.",
            (*L, "session", "scsi_host", "tpgt", "address", "netdev", "local_address", "initiator"),
        )
        st = gauge("iscsi_session_state", f"iSCSI session state, one series per state. From {SRC_SESSION}/state.", (*L, "state"))
        cs = gauge(
            "iscsi_connection_state",
            "iSCSI connection state, one series per state. From /sys/class/iscsi_connection/connection<sid>:0/state (newer kernels).",
            (*L, "state"),
        )
        rt = gauge("iscsi_session_recovery_timeout_seconds", f"Seconds a failed session waits before failing I/O (replacement_timeout). From {SRC_SESSION}/recovery_tmo.", L)
        nd = gauge("iscsi_session_disks", "Block devices (sdX) behind the session. From the /sys/block/<disk> links into .../session<sid>/target*.", L)
        # label values are str (sysfs text through parse_value, names): add_str
        for lv, s in sorted([((s.identity.target, s.identity.portal, s.identity.iface), s) for s in sessions.values()], key=lambda t: t[0]):
            i = s.identity
            addr = format_portal(i.address, i.port) if i.address else ""
            si.add_str((*lv, i.session, i.host, i.tpgt, addr, s.netdev or "", i.local_address or "", i.initiator), 1)
            self.session_states.add(st, lv, s.state)
            self.conn_states.add(cs, lv, s.conn_state)
            rt.add_str(lv, s.recovery_tmo)
            nd.add_str(lv, len(s.disks))
        self.session_states.roll()
        self.conn_states.roll()
        return [si, st, cs, rt, nd]
