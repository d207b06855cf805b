"""Collector ``iscsi`` (illumos): the iSCSI initiator's sessions, their bytes and NICs.

Sources
  every scrape   ``kstat -p 'iscsi:*:/^iscsi_(hba|sess|sess_io)_[0-9_]+$/'``: the initiator
                 node name (``iscsi_hba_<oid>:_name``), per session state, target name,
                 TPGT, OID and reset count (``iscsi_sess_<hba>_<oid>``, class ``iscsi_sess``)
                 and per session bytes (``iscsi_sess_io_<hba>_<oid>``, KSTAT_TYPE_IO:
                 ``nread`` = data received from the target, ``nwritten`` = data sent).
                 illumos-gate usr/src/uts/common/io/scsi/adapters/iscsi/iscsi_stats.{c,h}.
                 Module and name are both given, so kstat(8) reads only the iscsi kstats
                 (usr/src/cmd/stat/kstat/kstat.c matches module and name before reading).
  topology       ``iscsiadm list target -v`` (one ``Target:`` block per session: TPGT,
  (slow cadence) ISID, connection count, local and peer address per connection;
                 usr/src/cmd/iscsiadm/iscsiadm_main.c listTarget/printConnectionList) and
                 ``ipadm show-addr -p -o addrobj,addr`` (local address -> IP interface, so
                 each session is mapped to the NIC it leaves by).  Default every 30 s,
                 option ``topology_interval``.

The kstat session and the iscsiadm block carry no common key (the kstat has the OID, iscsiadm
the ISID), so they are joined per target on the TPGT where it tells sessions apart (one
session per portal group: the usual MPIO set-up over SendTargets), else in order (OID order
= creation order = ISID order for configured sessions, ``iscsiadm modify target-param -c``).

Metrics: ``lanes_iscsi_session_info``, ``lanes_iscsi_session_state``,
``lanes_iscsi_session_connections``, ``lanes_iscsi_session_read_bytes_total``,
``lanes_iscsi_session_written_bytes_total``, ``lanes_iscsi_session_resets_total`` and the
group model ``kind="iscsi"`` (group = target IQN, member = session named by its portal).

Platforms: illumos (OmniOS, SmartOS, OpenIndiana, NexentaStor) and Oracle Solaris.

By hand: ``kstat -p 'iscsi:*:/^iscsi_(hba|sess|sess_io)_[0-9_]+$/'``;
``iscsiadm list target -v``; ``ipadm show-addr -p -o addrobj,addr``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import threading
from collections.abc import Iterable, Mapping

from collectors import _facts
from collectors._cadence import Cadence
from collectors._kstat import KSTAT_TIMEOUT, kstat_uint, parse_kstat_p, run_kstat
from collectors._link_common import Link
from collectors._parse import split_kv, split_parseable, uint
from exporter.api import (
    SAMPLE_READERS,
    Collected,
    Collector,
    CommandNotFound,
    CommandResult,
    CommandTimeout,
    Family,
    Group,
    Host,
    Member,
    ParseError,
    add_stateset,
    counter,
    gauge,
    info,
    load_groups,
)

__all__ = ["KSTAT_TIMEOUT", "parse_kstat_p"]

TOPOLOGY_TIMEOUT = 10.0
DEFAULT_TOPOLOGY_INTERVAL = 30.0
#: explicit module and name: kstat(8) reads only the iscsi module's session kstats
KSTAT_SELECTORS = ["iscsi:*:/^iscsi_(hba|sess|sess_io)_[0-9_]+$/"]
#: the peak sampler's read: only the session I/O kstats, only their two byte counters
#: (kstat(8) applies the statistic field when printing, after reading the matched kstats)
SAMPLE_SELECTORS = ["iscsi:*:/^iscsi_sess_io_[0-9]+_[0-9]+$/:/^(nread|nwritten)$/"]
SAMPLE_SOURCE = "iscsi_session"
LIST_TARGET_ARGS = ["list", "target", "-v"]
IPADM_ARGS = ["show-addr", "-p", "-o", "addrobj,addr"]

# ------------------------------------------------------------------ models


@dataclasses.dataclass(frozen=True)
class SessionKstat:
    """One ``iscsi_sess_<hba>_<oid>`` kstat joined to its ``iscsi_sess_io_`` twin."""

    key: str  # "<hba>_<oid>" suffix
    oid: int
    target: str
    state: str
    tpgt: int | None
    resets: int | None
    nread: int | None
    nwritten: int | None


@dataclasses.dataclass(frozen=True)
class InitiatorKstats:
    initiator: str
    sessions: tuple[SessionKstat, ...]


@dataclasses.dataclass(frozen=True)
class Connection:
    cid: int
    local: str  # "10.10.1.21:33817" or "[fe80::1]:33817"
    peer: str


@dataclasses.dataclass(frozen=True)
class TargetSession:
    """One ``Target:`` block of ``iscsiadm list target -v`` (= one session)."""

    target: str
    alias: str
    tpgt: int | None
    isid: str
    connections: int
    conns: tuple[Connection, ...] = ()


# ------------------------------------------------------------------ parsers


_SESS = re.compile(r"^iscsi_sess_(\d+_\d+)$")
_SESS_IO = re.compile(r"^iscsi_sess_io_(\d+_\d+)$")
_HBA = re.compile(r"^iscsi_hba_\d+$")
SRC_KSTAT = "kstat -p iscsi:*:iscsi_sess_*"


def parse_iscsi_kstats(text: str) -> InitiatorKstats:
    """Sessions from ``kstat -p`` of the iscsi module (iscsi_stats.c: ``_state`` is one of
    free, logged_in, failed, in_flush, flushed; iscsi_sess.c iscsi_sess_state_str)."""
    ks = parse_kstat_p(text, SRC_KSTAT)
    initiator = ""
    io: dict[str, dict[str, str]] = {}
    named: dict[str, dict[str, str]] = {}
    for (module, _inst, name), stats in ks.items():
        if module != "iscsi":
            raise ParseError(SRC_KSTAT, None, f"unexpected module {module!r}")
        if _HBA.match(name):
            initiator = initiator or stats.get("_name", "")
        elif m := _SESS_IO.match(name):
            io[m.group(1)] = stats
        elif m := _SESS.match(name):
            named[m.group(1)] = stats
    sessions = []
    for key, stats in sorted(named.items()):
        target = stats.get("_target_name", "")
        if not target:  # a discovery session or a session not yet named: not a path
            continue
        oid = kstat_uint(stats, "_oid", SRC_KSTAT)
        iod = io.get(key, {})
        sessions.append(
            SessionKstat(
                key=key,
                oid=oid if oid is not None else int(key.rpartition("_")[2]),
                target=target,
                state=stats.get("_state", "unknown") or "unknown",
                tpgt=kstat_uint(stats, "_tpgt", SRC_KSTAT),
                resets=kstat_uint(stats, "_cntr_reset", SRC_KSTAT),
                nread=kstat_uint(iod, "nread", SRC_KSTAT),
                nwritten=kstat_uint(iod, "nwritten", SRC_KSTAT),
            )
        )
    return InitiatorKstats(initiator, tuple(sessions))


SRC_LIST = "iscsiadm list target -v"
_ISID = re.compile(r"^[0-9a-fA-F]{12}$")


def parse_list_target(text: str) -> list[TargetSession]:
    """``iscsiadm list target -v`` (iscsiadm_main.c listTarget): ``Target: <name>`` at
    column 0, then TAB-indented ``Alias:``, ``TPGT:`` (only when known), ``ISID:`` (12 hex
    digits), ``Connections: N``; with -v per connection ``CID: n`` and ``IP address
    (Local|Peer): addr:port`` (IPv6 as ``[addr]:port``), then discovery method and
    negotiated login parameters, which are skipped.  ``-S`` adds LUN blocks, also skipped."""
    out: list[TargetSession] = []
    cur: dict | None = None

    def close(lineno: int) -> None:
        if cur is None:
            return
        if cur["isid"] is None or cur["connections"] is None:
            raise ParseError(SRC_LIST, lineno, f"target {cur['target']!r} without ISID or Connections")
        out.append(
            TargetSession(cur["target"], cur["alias"], cur["tpgt"], cur["isid"].lower(), cur["connections"], tuple(cur["conns"]))
        )

    conn: dict | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        key, value = split_kv(raw)
        if raw[0] not in " \t":
            if key != "Target" or not value or " " in value:
                raise ParseError(SRC_LIST, lineno, "expected 'Target: <name>'")
            close(lineno)
            cur = {"target": value, "alias": "", "tpgt": None, "isid": None, "connections": None, "conns": []}
            conn = None
            continue
        if cur is None or ":" not in raw:
            raise ParseError(SRC_LIST, lineno, "line outside a Target block or without ':'")
        if key == "Alias":
            cur["alias"] = "" if value == "-" else value
        elif key == "TPGT" and cur["isid"] is None:
            cur["tpgt"] = uint(value, SRC_LIST, lineno)
        elif key == "ISID":
            if not _ISID.match(value):
                raise ParseError(SRC_LIST, lineno, f"ISID not 12 hex digits: {value[:20]!r}")
            cur["isid"] = value
        elif key == "Connections":
            cur["connections"] = uint(value, SRC_LIST, lineno)
        elif key == "CID":
            conn = {"cid": uint(value, SRC_LIST, lineno), "local": "", "peer": ""}
            cur["conns"].append(conn)
        elif key in ("IP address (Local)", "IP address (Peer)") and conn is not None:
            conn["local" if "Local" in key else "peer"] = value
    close(0)
    return [
        dataclasses.replace(t, conns=tuple(Connection(c["cid"], c["local"], c["peer"]) for c in t.conns))  # type: ignore[index]
        for t in out
    ]


SRC_IPADM = "ipadm show-addr -p -o addrobj,addr"


def parse_ipadm_addrs(text: str) -> dict[str, str]:
    """``ipadm show-addr -p -o addrobj,addr`` -> {address: IP interface}.  Parseable output
    escapes ``:`` in IPv6 addresses (``fe80\\:\\:1/10``; ipadm(8), PSARC 2008/374), the
    interface is the address object's part before ``/`` (``ixgbe0/v4``); addresses still
    being configured print ``?`` and are skipped."""
    out: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = split_parseable(line, SRC_IPADM, lineno)
        if len(fields) != 2 or "/" not in fields[0]:
            raise ParseError(SRC_IPADM, lineno, "expected addrobj:addr")
        ifname = fields[0].partition("/")[0]
        addr = fields[1].partition("/")[0].partition("%")[0]
        try:
            out[str(ipaddress.ip_address(addr))] = ifname
        except ValueError:
            continue
    return out


def address_host(addr_port: str) -> str:
    """``10.10.1.21:33817`` -> ``10.10.1.21``; ``[fe80::1]:3260`` -> ``fe80::1``."""
    if addr_port.startswith("["):
        return addr_port[1:].partition("]")[0]
    return addr_port.rpartition(":")[0] if ":" in addr_port else addr_port


# ------------------------------------------------------------------ readers


@dataclasses.dataclass(frozen=True)
class Topology:
    blocks: tuple[TargetSession, ...]
    addrs: Mapping[str, str]  # local address -> IP interface


def read_list_target(host: Host) -> list[TargetSession] | None:
    """None when the initiator is not there (no iscsiadm, or "no initiator found":
    iscsiadm_main.c sunInitiatorFind)."""
    try:
        r = host.run("iscsiadm", LIST_TARGET_ARGS, timeout=TOPOLOGY_TIMEOUT)
    except CommandNotFound:
        return None
    if r.returncode != 0:
        if "no initiator found" in r.stderr:
            return None
        raise RuntimeError(f"{SRC_LIST}: exit {r.returncode}: {r.stderr.strip()[:200]}")
    return parse_list_target(r.stdout)


def read_ipadm_addrs(host: Host, log=None) -> dict[str, str]:
    """The address -> interface map is a help, not a source: without ipadm (zones without
    it, a failing run) sessions keep an empty ``netdev``.  A hang still fails the scrape."""
    try:
        r: CommandResult = host.run("ipadm", IPADM_ARGS, timeout=TOPOLOGY_TIMEOUT)
    except CommandNotFound:
        return {}
    if r.returncode != 0:
        if log:
            log.warning("%s: exit %s: %s", SRC_IPADM, r.returncode, r.stderr.strip()[:200])
        return {}
    return parse_ipadm_addrs(r.stdout)


def read_topology(host: Host, log=None) -> Topology | None:
    blocks = read_list_target(host)
    if blocks is None:
        return None
    return Topology(tuple(blocks), read_ipadm_addrs(host, log) if blocks else {})


def read_kstats(host: Host) -> InitiatorKstats:
    return parse_iscsi_kstats(run_kstat(host, KSTAT_SELECTORS))


def read_session_bytes(host: Host) -> dict[str, tuple[int, int]]:
    """Peak sampler reader: {``iscsi_sess_io_<hba>_<oid>``: (nread, nwritten)}."""
    out = {}
    for (_m, _i, name), stats in parse_kstat_p(run_kstat(host, SAMPLE_SELECTORS), SRC_KSTAT).items():
        rd, wr = kstat_uint(stats, "nread", SRC_KSTAT), kstat_uint(stats, "nwritten", SRC_KSTAT)
        if rd is not None and wr is not None:
            out[name] = (rd, wr)
    return out


SAMPLE_READERS[(SAMPLE_SOURCE, "illumos")] = read_session_bytes


# ------------------------------------------------------------------ join


@dataclasses.dataclass(frozen=True)
class Session:
    target: str
    tpgt: int | None
    isid: str
    oid: int | None
    kstat: str  # "<hba>_<oid>" suffix of the session's kstats, "" when only iscsiadm saw it
    state: str | None  # kstat _state; None when only iscsiadm saw the session
    connections: int | None
    local: str
    peer: str
    nread: int | None
    nwritten: int | None
    resets: int | None

    @property
    def up(self) -> bool:
        if self.state is not None:
            return self.state == "logged_in"
        return bool(self.connections)


def join_sessions(kstats: Iterable[SessionKstat], blocks: Iterable[TargetSession]) -> list[Session]:
    """Pair kstat sessions with iscsiadm blocks per target: on a TPGT both sides hold once,
    then the rest in OID / ISID order when the counts agree; leftovers stay unpaired."""
    by_target_k: dict[str, list[SessionKstat]] = {}
    by_target_b: dict[str, list[TargetSession]] = {}
    for k in kstats:
        by_target_k.setdefault(k.target.lower(), []).append(k)
    for b in blocks:
        by_target_b.setdefault(b.target.lower(), []).append(b)
    pairs: list[tuple[SessionKstat | None, TargetSession | None]] = []
    for t in sorted(set(by_target_k) | set(by_target_b)):
        ks = sorted(by_target_k.get(t, []), key=lambda k: k.oid)
        bs = sorted(by_target_b.get(t, []), key=lambda b: b.isid)
        for k in list(ks):
            if k.tpgt is None:
                continue
            same_k = [x for x in ks if x.tpgt == k.tpgt]
            same_b = [b for b in bs if b.tpgt == k.tpgt]
            if len(same_k) == 1 and len(same_b) == 1:
                pairs.append((k, same_b[0]))
                ks.remove(k)
                bs.remove(same_b[0])
        if len(ks) == len(bs):
            pairs.extend(zip(ks, bs))
        else:
            pairs.extend((k, None) for k in ks)
            pairs.extend((None, b) for b in bs)
    out = []
    for k, b in pairs:
        conn = b.conns[0] if b and b.conns else None
        out.append(
            Session(
                target=b.target if b else k.target,  # type: ignore[union-attr]
                tpgt=b.tpgt if b and b.tpgt is not None else (k.tpgt if k else None),
                isid=b.isid if b else "",
                oid=k.oid if k else None,
                kstat=k.key if k else "",
                state=k.state if k else None,
                connections=b.connections if b else None,
                local=conn.local if conn else "",
                peer=conn.peer if conn else "",
                nread=k.nread if k else None,
                nwritten=k.nwritten if k else None,
                resets=k.resets if k else None,
            )
        )
    return out


# ------------------------------------------------------------------ collector

SESSION_STATES = ("logged_in", "failed", "free", "in_flush", "flushed", "unknown")
SRC_IO = "kstat iscsi:<inst>:iscsi_sess_io_<hba>_<oid>"


def to_groups(sessions: Mapping[str, list[Member]], config=None) -> list[Group]:
    """kind="iscsi" on illumos: group = target IQN, member = session (named by portal), up
    as ``Session.up`` says.  Sessions of one target are MPxIO paths of its LUs: scsi_vhci
    balances over them (balancing load)."""
    return load_groups("iscsi", "scsi_vhci", sessions, config)


class IscsiIllumos(Collector):
    name = "iscsi"
    platforms = frozenset({"illumos"})
    OPTIONS = {"topology_interval": "duration"}
    description = "illumos iSCSI initiator: sessions from kstats and iscsiadm, bytes per session, NIC per session"

    def __init__(self, host, ctx):
        super().__init__(host, ctx)
        self._cadence: Cadence | None = None
        self._portals: dict[tuple[str, str], str] = {}  # (target, isid) -> last peer portal
        self._lock = threading.Lock()

    def _topology(self) -> tuple[Topology | None, float]:
        if self._cadence is None:
            interval = float(self.ctx.option("topology_interval", DEFAULT_TOPOLOGY_INTERVAL))
            self._cadence = Cadence(lambda: read_topology(self.host, self.ctx.log), interval)
        return self._cadence.get()

    def member_names(self, sessions: list[Session]) -> tuple[list[str], list[str]]:
        """A session is named by its target portal (SPEC §6: portal, not session numbers).
        A session whose connection is down has no peer address in iscsiadm: it keeps the
        portal it had earlier in this process's life, else its ISID names it.  Two sessions
        to one portal (configured sessions) are told apart by ISID."""
        with self._lock:
            portals = []
            for s in sessions:
                if s.peer and s.isid:
                    self._portals[(s.target, s.isid)] = s.peer
                portals.append(s.peer or self._portals.get((s.target, s.isid), ""))
        names = []
        for s, p in zip(sessions, portals):
            dup = sum(1 for t, q in zip(sessions, portals) if t.target == s.target and q == p) > 1
            if p and not dup:
                names.append(p)
            elif p and s.isid:
                names.append(f"{p},{s.isid}")
            elif s.isid:
                names.append(f"isid:{s.isid}")
            else:
                names.append(f"oid:{s.oid}")
        return names, portals

    def _links(self, addrs: Mapping[str, str]) -> Mapping[str, Link]:
        """NIC speeds from the shared illumos link table, a help only: a link table that
        cannot be read (no dladm, a failing kstat) leaves speeds empty; a hang still fails."""
        if not addrs:
            return {}
        try:
            return _facts.links(self.host, self.ctx)
        except CommandTimeout:
            raise
        except Exception as e:  # noqa: BLE001 - any failure of the link table
            self.ctx.log.info("iscsi: no NIC speeds, link table unreadable: %s", e)
            return {}

    def collect(self) -> Collected | list[Family]:
        topo, stamp = self._topology()
        if topo is None:  # no iscsiadm, or no initiator: the subsystem is absent
            return []
        kst = read_kstats(self.host)
        blocks = topo.blocks
        if not kst.sessions and not blocks:
            return []
        self.data_timestamp = stamp
        sessions = join_sessions(kst.sessions, blocks)
        names, portals = self.member_names(sessions)
        addrs = topo.addrs
        links = self._links(addrs)

        L = ("target", "member")
        fi = info("iscsi_session_info", f"iSCSI session identity; value 1. From {SRC_LIST} (portal, local address, ISID, TPGT), {SRC_IPADM} (netdev) and kstat iscsi_hba_*:_name (initiator).", ("target", "member", "portal", "local_address", "netdev", "isid", "tpgt", "initiator"))
        st = gauge("iscsi_session_state", "Session state, one series per state. From kstat iscsi:<inst>:iscsi_sess_<hba>_<oid>:_state (iSCSI initiator kstats; sessions seen only by iscsiadm are logged_in with connections, else failed).", (*L, "state"))
        cn = gauge("iscsi_session_connections", f"Connections of the session. From {SRC_LIST} Connections.", L)
        rd = counter("iscsi_session_read_bytes_total", f"Data bytes read from the target over the session. From {SRC_IO}:nread.", L)
        wr = counter("iscsi_session_written_bytes_total", f"Data bytes written to the target over the session. From {SRC_IO}:nwritten.", L)
        rs = counter("iscsi_session_resets_total", "Session resets. From kstat iscsi:<inst>:iscsi_sess_<hba>_<oid>:_cntr_reset.", L)
        groups: dict[str, list[Member]] = {}
        for s, member, portal in zip(sessions, names, portals):
            lv = (s.target, member)
            local_ip = address_host(s.local) if s.local else ""
            netdev = addrs.get(_norm_ip(local_ip), "") if local_ip else ""
            link = links.get(netdev) if netdev else None
            fi.add((*lv, portal, local_ip, netdev, s.isid, "" if s.tpgt is None else str(s.tpgt), kst.initiator), 1)
            state = s.state if s.state is not None else ("logged_in" if s.connections else "failed")
            add_stateset(st, lv, SESSION_STATES, state)
            cn.add(lv, s.connections)
            rd.add(lv, s.nread)
            wr.add(lv, s.nwritten)
            rs.add(lv, s.resets)
            groups.setdefault(s.target, []).append(
                Member(
                    name=member,
                    up=s.up,
                    rx_bytes=s.nread,
                    tx_bytes=s.nwritten,
                    speed_bytes=link.speed_bytes if link else None,
                    sample=(SAMPLE_SOURCE, f"iscsi_sess_io_{s.kstat}") if s.kstat else None,
                )
            )
        return Collected([fi, st, cn, rd, wr, rs], to_groups(groups, self.ctx.config))


def _norm_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.partition("%")[0]))
    except ValueError:
        return text
