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

Metrics: lanes_iscsi_session_info (one series per session, SPEC §9: identity plus the
current state, connection_state and recovery_timeout_seconds as labels; a state change
starts a new series), lanes_iscsi_node_records_privilege_missing, and the group model
kind="iscsi" (group = target IQN, member = ``<portal>@<iface>``; bytes = Σ of its disks).

Platform: Linux.  By hand: ``iscsiadm -m session -P 3``;
``grep . /sys/class/iscsi_session/session*/{targetname,state} /sys/class/iscsi_host/host*/{netdev,ipaddress}``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from collectors import _facts, _path_roles
from collectors._iscsi_linux import (
    CONN_STATES,
    SESSION_STATES,
    NodeRecord,
    Session,
    SessionIdentity,
    disambiguate,
    format_portal,
    parse_node_entry,
    parse_node_startup,
    parse_recovery_tmo,
    parse_value,
    read_disk_set_bytes,
    read_node_records,
    register_disk_sets,
    session_sample,
    shared_reader,
    wanted_records,
)
from collectors._link_common import Link, nic_speed
from collectors._routes import parse_ipv6_route, parse_proc_net_route, route_iface
from exporter.api import Collected, Collector, Family, Group, Member, expected_members, gauge, info

__all__ = [
    "IscsiLinux",
    "NodeRecord",
    "Session",
    "SessionIdentity",
    "disambiguate",
    "format_portal",
    "parse_ipv6_route",
    "parse_node_entry",
    "parse_node_startup",
    "parse_proc_net_route",
    "parse_recovery_tmo",
    "parse_value",
    "read_disk_set_bytes",
    "register_disk_sets",
    "route_iface",
    "session_sample",
    "to_groups",
    "wanted_records",
]

# ------------------------------------------------------------------ groups


def member_up(session: Session) -> bool:
    """A session carries traffic when it is logged in (scsi_transport_iscsi.c
    ISCSI_SESSION_LOGGED_IN); a node record with no session is a member that is down."""
    return session.state == "LOGGED_IN"


def session_judgement(disks_by_member: Mapping[str, Sequence[str]], roles: Mapping[str, tuple[bool, str]]) -> tuple[dict[str, bool], str | None]:
    """An iSCSI target's sessions take preference and balancing from the multipath maps that
    ride them (SPEC §12): a session is preferred when one of its disks is a preferred path
    of its map; the target's sessions share the load only when every map riding them
    balances its load and every session is preferred in all of its maps or in none (else
    each LUN uses its own subset of sessions: imbalance between sessions says nothing).
    Returns ({member: preferred}, balancing); ({}, None) when no disk is a path of a map."""
    preferred: dict[str, bool] = {}
    uniform, all_load = True, True
    for member, disks in disks_by_member.items():
        known = [roles[d] for d in disks if d in roles]
        if not known:
            continue
        prefs = {p for p, _ in known}
        preferred[member] = True in prefs
        uniform = uniform and len(prefs) == 1
        all_load = all_load and all(b == "load" for _, b in known)
    if not preferred:
        return {}, None
    return preferred, "load" if all_load and uniform else "failover"


def to_groups(
    sessions: Mapping[str, Session], records: Iterable[NodeRecord], disks: Mapping, links: Mapping[str, Link], config=None, roles: Mapping[str, tuple[bool, str]] | None = None
) -> list[Group]:
    """kind="iscsi" (Linux): group = target IQN, member = session named ``<portal>@<iface>``
    (stable across relogins, unlike the session number).  ``records`` are the node records:
    a record with no session is a member that is down (logged out, or never logged in).
    Bytes are the sum of the session's disks; speed is its NIC's.  ``roles`` (sdX ->
    (preferred, balancing) of the multipath maps) give preference and balancing
    (``session_judgement``); without maps the sessions share the load."""
    by_target: dict[str, dict[str, Member]] = {}
    disks_of: dict[str, dict[str, Sequence[str]]] = {}
    for s in sessions.values():
        i = s.identity
        disks_of.setdefault(i.target, {})[i.member] = s.disks
        d = [disks[x] for x in s.disks if x in disks]
        by_target.setdefault(i.target, {})[i.member] = Member(
            name=i.member,
            up=member_up(s),
            rx_bytes=sum(x.read_bytes for x in d) if d else (0 if not s.disks else None),
            tx_bytes=sum(x.write_bytes for x in d) if d else (0 if not s.disks else None),
            speed_bytes=nic_speed(links, s.netdev),
            sample=s.sample,
        )
    for r in records:
        members = by_target.setdefault(r.target, {})
        if r.member not in members:
            members[r.member] = Member(name=r.member, up=False)
    out = []
    for target, members in sorted(by_target.items()):
        preferred, balancing = session_judgement(disks_of.get(target, {}), roles or {})
        out.append(
            Group(
                kind="iscsi",
                name=target,
                policy="open-iscsi",
                balancing=balancing or "load",
                members=tuple(dataclasses.replace(members[k], preferred=preferred[k]) if k in preferred else members[k] for k in sorted(members)),
                expected=expected_members(config, "iscsi", target),
            )
        )
    return out


# ------------------------------------------------------------------ collector

SRC_SESSION = "/sys/class/iscsi_session/<session>"


class IscsiLinux(Collector):
    name = "iscsi"
    platforms = frozenset({"linux"})
    OPTIONS = {"node_records": "enum:automatic,all,off"}
    description = "open-iscsi initiator sessions from sysfs: state, portal, iface, NIC, bytes"

    def __init__(self, host, ctx):
        super().__init__(host, ctx)
        self.reader = shared_reader(host)

    def collect(self) -> Collected | list[Family]:
        sessions = _facts.iscsi_sessions(self.host, self.ctx, self.reader)
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
        disks = _facts.diskstats(self.host, self.ctx) if any(s.disks for s in sessions.values()) else {}
        links = _facts.links(self.host, self.ctx)
        fams = self._session_families(sessions)
        register_disk_sets("+".join(s.disks) for s in sessions.values() if len(s.disks) > 1)
        if denied is not None:
            fams += self._denied_family(denied)
        roles = _path_roles.roles_for(self.host, self.ctx, min(1.0, 0.25 * float(self.ctx.option("timeout", 8.0)))) if disks else {}
        return Collected(fams, to_groups(sessions, records, disks, links, self.ctx.config, roles))

    def _denied_family(self, denied: int) -> list[Family]:
        f = gauge(
            "iscsi_node_records_privilege_missing",
            "1 if the open-iscsi node records (/etc/iscsi/nodes, /var/lib/iscsi/nodes) could not be read (root only): "
            "logged-out sessions are then known only from earlier scrapes and expect:.",
        )
        f.add((), denied)
        return [f]

    def _session_families(self, sessions: Mapping[str, Session]) -> list[Family]:
        """One series per session (SPEC §9: at most 8 per session with the group model's
        7): identity, the current session and connection state and the recovery timeout,
        all as labels of ``lanes_iscsi_session_info``."""
        si = info(
            "iscsi_session_info",
            f"iSCSI session; value 1. Identity from {SRC_SESSION}/{{targetname,tpgt,ifacename,initiatorname}}, "
            "/sys/class/iscsi_connection/connection<sid>:0/{persistent_address,address}, /sys/class/iscsi_host/<host>/{netdev,ipaddress} "
            "and /proc/net/route when the iface is not bound to a netdev. "
            f"state is the current session state from {SRC_SESSION}/state (LOGGED_IN, FAILED, FREE, unknown), "
            "connection_state the current connection state from /sys/class/iscsi_connection/connection<sid>:0/state "
            "(up, down, failed, bound, unknown; empty where the kernel has no such file): both change with the session, "
            "and a change starts a new series. "
            f"recovery_timeout_seconds is replacement_timeout from {SRC_SESSION}/recovery_tmo (empty when off or unreadable).",
            ("target", "portal", "iface", "session", "scsi_host", "tpgt", "address", "netdev", "local_address", "initiator",
             "state", "connection_state", "recovery_timeout_seconds"),
        )  # fmt: skip
        for lv, s in sorted([((s.identity.target, s.identity.portal, s.identity.iface), s) for s in sessions.values()], key=lambda t: t[0]):
            i = s.identity
            addr = format_portal(i.address, i.port) if i.address else ""
            rt = "" if s.recovery_tmo is None else str(s.recovery_tmo)
            si.add((*lv, i.session, i.host, i.tpgt, addr, s.netdev or "", i.local_address or "", i.initiator,
                    current_state(s.state, SESSION_STATES), current_state(s.conn_state, CONN_STATES), rt), 1)  # fmt: skip
        return [si]


def current_state(value: str | None, states: tuple[str, ...]) -> str:
    """The state label word: the kernel's word when it is one of ``states``, ``unknown``
    for any other word, "" when the reader has no value (None: no such attribute, or an
    empty session state), where the current-state-only series of before had no series."""
    if value is None:
        return ""
    return value if value in states else "unknown"
