"""open-iscsi sessions as the Linux kernel shows them (the source layer of collector
``iscsi``; collector ``multipath`` reads the same sessions to name the session of each path).
Sources and why identity is read once per login: collectors/iscsi_linux.py."""

from __future__ import annotations

import dataclasses
import errno
import re
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Mapping

from collectors import _diskstats
from collectors._routes import RouteTable, route_iface
from exporter.api import SAMPLE_READERS, Host, record

# kernel scsi_transport_iscsi.c iscsi_session_state_names[] and iscsi_conn_state_names[]
SESSION_STATES = ("LOGGED_IN", "FAILED", "FREE", "unknown")
CONN_STATES = ("up", "down", "failed", "bound", "unknown")
NODE_DIRS = ("/etc/iscsi/nodes", "/var/lib/iscsi/nodes")
#: seconds after which the disks of each session are listed again though nothing said they
#: changed (the /sys/block listing, the sessions, their class links and kernel uevents do)
TOPOLOGY_REFRESH = 60.0
# reading address/port/ipaddress of a connection that is down gives ENOTCONN
# (scsi_transport_iscsi.c, iscsi_tcp.c): "no value now", like the host's absent errnos
_NO_VALUE_ERRNOS = frozenset({errno.ENOTCONN, errno.ESHUTDOWN, errno.EIO})
_UNSET = frozenset({"", "<empty>", "default", "(null)"})


# ------------------------------------------------------------------ models


@record
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
    # 4,000 sessions asks for them several times each; plain fields, not cached_property,
    # whose per-instance __dict__ cost 3 MB on a 4,000-session host
    portal: str = dataclasses.field(init=False, repr=False, compare=False)
    member: str = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        portal = format_portal(self.persistent_address or self.address, self.persistent_port or self.port)
        object.__setattr__(self, "portal", portal)
        object.__setattr__(self, "member", f"{portal}@{self.iface or 'default'}")


@record
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


@record
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
    # interned: 4,000 sessions share one initiator name, a target per 4 sessions, a few
    # ports, ifaces and local addresses (memory of a large storage host, SPEC §9)
    return None if v in _UNSET else sys.intern(v)


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
    if len(parts) == 3 and (parts[1].isascii() and parts[1].isdigit()) and (parts[2].lstrip("-").isascii() and parts[2].lstrip("-").isdigit()):
        addr, port, tpgt = parts
    else:
        parts = portal_dir.rsplit(",", 1)
        if len(parts) != 2 or not (parts[1].isascii() and parts[1].isdigit()):
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
    listed it already: ``collectors._facts.sys_block``) and one readlink per SCSI disk
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


class SessionReader:
    """Reads iSCSI sessions; identity attributes once per session lifetime."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], SessionIdentity] = {}
        self._lock = threading.Lock()
        self._disks_key: tuple | None = None
        self._disks_at = 0.0
        self._disks_map: dict[str, tuple[str, ...]] = {}

    @staticmethod
    def _identity_files(name: str, host_name: str) -> list[str]:
        s = f"/sys/class/iscsi_session/{name}"
        c = f"/sys/class/iscsi_connection/connection{name[len('session') :]}:0"
        h = f"/sys/class/iscsi_host/{host_name}"
        return [f"{s}/targetname", f"{s}/tpgt", f"{s}/ifacename", f"{s}/initiatorname", f"{c}/persistent_address",
                f"{c}/persistent_port", f"{c}/address", f"{c}/port", f"{h}/netdev", f"{h}/ipaddress", f"{s}/recovery_tmo"]  # fmt: skip

    def _identities(self, host: Host, wanted: list[tuple[str, str]]) -> list[SessionIdentity]:
        """Identities of the (session, SCSI host) pairs, their 11 attributes each in one
        ``read_many`` for all (the first scrape of a 4,000-session host reads 44,000)."""
        files = [f for name, h in wanted for f in self._identity_files(name, h)]
        try:
            values = host.read_many(files)
        except PermissionError:
            raise
        except OSError:
            values = [_attr(host, f) for f in files]  # ENOTCONN and friends: no value, per file
        out = []
        for k, (name, host_name) in enumerate(wanted):
            v = [parse_value(x) for x in values[11 * k : 11 * k + 10]]
            out.append(
                SessionIdentity(
                    session=name,
                    host=host_name,
                    target=v[0] or "",
                    tpgt=v[1] or "",
                    iface=v[2] or "default",
                    initiator=v[3] or "",
                    persistent_address=v[4],
                    persistent_port=v[5],
                    address=v[6],
                    port=v[7],
                    bound_netdev=v[8],
                    local_address=v[9],
                    recovery_tmo=parse_recovery_tmo(values[11 * k + 10]),
                )
            )
        return out

    def _identity(self, host: Host, name: str, host_name: str) -> SessionIdentity:
        return self._identities(host, [(name, host_name)])[0]

    def _disks(self, host: Host, block: list[str] | None, key: tuple) -> dict[str, tuple[str, ...]]:
        """``disks_by_session``, kept while the /sys/block listing, the sessions and their
        class links stay (and no uevent came, and for at most ``TOPOLOGY_REFRESH``): 4,000
        readlinks a scrape saved on a 4,000-path host."""
        now = time.monotonic()
        if self._disks_key != key or now - self._disks_at > TOPOLOGY_REFRESH:
            self._disks_map = disks_by_session(host, block)
            self._disks_key, self._disks_at = key, now
        return self._disks_map

    def _states(self, host: Host, names: list[str]) -> list[str | None]:
        """Session state and connection state of each session, in one ``read_many``."""
        files = [f for n in names for f in (f"/sys/class/iscsi_session/{n}/state", f"/sys/class/iscsi_connection/connection{n[7:]}:0/state")]
        try:
            return host.read_many(files)
        except PermissionError:
            raise
        except OSError:
            return [_attr(host, f) for f in files]  # ENOTCONN and friends: no value, per file

    def read(self, host: Host, routes: RouteTable, block: list[str] | None = None, generation: int = 0) -> dict[str, Session]:
        out: dict[str, Session] = {}
        seen = set()
        names = []
        links = []
        for name in host.list_optional("/sys/class/iscsi_session"):
            if not name.startswith("session"):
                continue
            try:
                # the class link -> ../../devices/platform/hostH/sessionN/iscsi_session/sessionN:
                # the SCSI host names the login (a relogin gets a new one): the lifetime key
                link = host.readlink(f"/sys/class/iscsi_session/{name}")
            except FileNotFoundError:
                continue  # logged out mid-scrape
            except OSError as e:
                if e.errno != errno.EINVAL:  # EINVAL: not a symlink (a copied tree)
                    raise
                link = ""
            names.append(name)
            links.append(link)
        if block is None and names:
            block = host.list_optional("/sys/block")
        disks = self._disks(host, block, (generation, tuple(block or ()), tuple(names), tuple(links))) if names else {}
        states = self._states(host, names)
        # identities to read: new logins, and (an address that could not be read while the
        # session was down is read again once it is logged in) everything else stays
        # cached for the session's life
        with self._lock:
            cache = dict(self._cache)
        todo = []
        for k, (name, link) in enumerate(zip(names, links)):
            state = states[2 * k]
            ident = cache.get((name, link))
            if state is not None and (ident is None or (state.strip() == "LOGGED_IN" and (ident.local_address is None or ident.address is None))):
                m = HOST_IN_PATH.search(link)
                todo.append((name, link, m.group(1) if m else ""))
        if todo:
            for (name, link, _), ident in zip(todo, self._identities(host, [(n, h) for n, _, h in todo])):
                cache[(name, link)] = ident
            with self._lock:
                self._cache.update({(n, lk): cache[(n, lk)] for n, lk, _ in todo})
        for k, (name, link) in enumerate(zip(names, links)):
            state = states[2 * k]
            if state is None:
                continue  # vanished between listing and reading
            state = state.strip() or None
            key = (name, link)
            seen.add(key)
            ident = cache[key]
            conn_state = states[2 * k + 1]
            netdev = ident.bound_netdev or route_iface(routes.routes, ident.address or ident.persistent_address)
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


_SHARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


def shared_reader(host: Host) -> SessionReader:
    """One SessionReader per host for collectors ``iscsi`` and ``multipath``: whichever
    asks first each scrape reads the sessions (``collectors._facts.iscsi_sessions``), and
    both find the identities and disks the other one's scrapes kept."""
    with _SHARED_LOCK:
        reader = _SHARED.get(host)
        if reader is None:
            reader = _SHARED[host] = SessionReader()
        return reader


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


def read_disk_set_bytes(host: Host, wanted: frozenset[str] | None = None) -> dict[str, tuple[int, int]]:
    with _disk_sets_lock:
        keys = [k for k in _disk_sets if wanted is None or k in wanted]
    if not keys:
        return {}
    disks = _diskstats.parse_disk_bytes(host.read_text("/proc/diskstats"), {d for k in keys for d in k.split("+")})
    out = {}
    for key in keys:
        members = [disks.get(d) for d in key.split("+")]
        if all(members):
            out[key] = (sum(m[0] for m in members), sum(m[1] for m in members))
    return out


SAMPLE_READERS[(DISK_SET_SOURCE, "linux")] = read_disk_set_bytes


def session_sample(disks: tuple[str, ...]) -> tuple[str, str] | None:
    """Sampler key of a session: its disk, or the set of its disks."""
    if not disks:
        return None
    if len(disks) == 1:
        return (_diskstats.SAMPLE_SOURCE, disks[0])
    return (DISK_SET_SOURCE, "+".join(disks))


