"""Collector ``comstar``: the COMSTAR target side of an illumos storage head.

Sources
  every scrape   ``kstat -p 'stmf:0:/^stmf_(lu|tgt)(_io)?_[0-9a-f]+$/'``: per target port
                 ``stmf_tgt_<addr>`` (``target-name``, ``target-alias``, ``protocol``) and
                 ``stmf_tgt_io_<addr>`` (KSTAT_TYPE_IO), per logical unit ``stmf_lu_<addr>``
                 (``lun-guid``, ``lun-alias``) and ``stmf_lu_io_<addr>``; info and I/O
                 kstats share the hex suffix (the kernel address of the target or LU,
                 illumos-gate usr/src/uts/common/io/comstar/stmf/stmf.c
                 stmf_create_kstat_lport/stmf_create_kstat_lu).  ``nread`` counts data
                 sent to initiators (SCSI reads), ``nwritten`` data received from them.
                 Series are keyed by target name and LU GUID: the suffix changes whenever a
                 target or LU is registered again.
  topology       ``stmfadm list-target -v`` (per target: operational status, provider,
  (slow cadence) alias, protocol, and one ``Initiator:`` entry per session;
                 usr/src/cmd/stmfadm/stmfadm.c listTargetFunc/printTargetProps/
                 printSessionProps), ``itadm list-target -v`` (``tpg-tags`` per iSCSI
                 target) and ``itadm list-tpg -v`` (portals per target portal group;
                 usr/src/cmd/itadm/itadm.c list_tpg).  Default every 30 s, option
                 ``topology_interval``.

Sessions carry no addresses in stmfadm: two sessions from one initiator IQN are two paths
(MPxIO, ESXi port binding); one session means that initiator has no multipathing to this
target.  ``lanes_comstar_initiator_sessions`` makes that visible and alertable.

Metrics: ``lanes_comstar_target_info``, ``lanes_comstar_target_state``,
``lanes_comstar_target_sessions``, ``lanes_comstar_initiator_sessions``,
``lanes_comstar_target_{read,written}_bytes_total``, ``lanes_comstar_lu_info``,
``lanes_comstar_lu_{read,written}_bytes_total``, ``lanes_comstar_tpg_portals``,
``lanes_comstar_tpg_portal_info``, ``lanes_comstar_target_tpg_info`` and the group model
``kind="iscsi_target"`` (group = target, member = one session of one initiator).

Platforms: illumos (OmniOS, SmartOS, OpenIndiana, NexentaStor) and Oracle Solaris.

By hand: ``kstat -p 'stmf:0:/^stmf_(lu|tgt)(_io)?_[0-9a-f]+$/'``; ``stmfadm list-target
-v``; ``itadm list-target -v``; ``itadm list-tpg -v``.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Mapping

from collectors._cadence import Cadence
from collectors._kstat import kstat_uint, parse_kstat_p, run_kstat
from collectors._parse import split_kv
from exporter.api import (
    Collected,
    Collector,
    CommandNotFound,
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

TOPOLOGY_TIMEOUT = 10.0
DEFAULT_TOPOLOGY_INTERVAL = 30.0
KSTAT_SELECTORS = ["stmf:0:/^stmf_(lu|tgt)(_io)?_[0-9a-f]+$/"]
STMFADM_ARGS = ["list-target", "-v"]
ITADM_TARGET_ARGS = ["list-target", "-v"]
ITADM_TPG_ARGS = ["list-tpg", "-v"]

# ------------------------------------------------------------------ models


@dataclasses.dataclass(frozen=True)
class IoCounters:
    name: str  # target name or LU GUID
    alias: str
    protocol: str
    nread: int | None
    nwritten: int | None


@dataclasses.dataclass(frozen=True)
class StmfKstats:
    targets: tuple[IoCounters, ...]
    lus: tuple[IoCounters, ...]


@dataclasses.dataclass(frozen=True)
class StmfSession:
    initiator: str
    alias: str
    logged_in_since: str


@dataclasses.dataclass(frozen=True)
class StmfTarget:
    name: str
    status: str
    provider: str
    alias: str
    protocol: str
    sessions: tuple[StmfSession, ...]


@dataclasses.dataclass(frozen=True)
class ItadmTarget:
    name: str
    state: str
    sessions: int | None
    tpg_tags: tuple[tuple[str, str], ...]  # (tpg, tag); ("default", "") when on all portals


# ------------------------------------------------------------------ parsers

SRC_KSTAT = "kstat -p stmf:0:stmf_*"
_KS = re.compile(r"^stmf_(lu|tgt)(_io)?_([0-9a-f]+)$")


def parse_stmf_kstats(text: str) -> StmfKstats:
    ks = parse_kstat_p(text, SRC_KSTAT)
    named: dict[tuple[str, str], dict[str, str]] = {}
    io: dict[tuple[str, str], dict[str, str]] = {}
    for (module, _inst, name), stats in ks.items():
        m = _KS.match(name)
        if module != "stmf" or not m:
            raise ParseError(SRC_KSTAT, None, f"unexpected kstat {module}:{name}")
        (io if m.group(2) else named)[(m.group(1), m.group(3))] = stats
    targets: dict[str, IoCounters] = {}
    lus: dict[str, IoCounters] = {}
    for (kind, suffix), stats in sorted(named.items()):
        ident = stats.get("target-name" if kind == "tgt" else "lun-guid", "")
        if not ident:
            raise ParseError(SRC_KSTAT, None, f"stmf_{kind}_{suffix} without {'target-name' if kind == 'tgt' else 'lun-guid'}")
        iod = io.get((kind, suffix), {})
        c = IoCounters(
            name=ident if kind == "tgt" else ident.lower(),
            alias=stats.get("target-alias" if kind == "tgt" else "lun-alias", ""),
            protocol=stats.get("protocol", ""),
            nread=kstat_uint(iod, "nread", SRC_KSTAT),
            nwritten=kstat_uint(iod, "nwritten", SRC_KSTAT),
        )
        (targets if kind == "tgt" else lus)[c.name] = c
    return StmfKstats(tuple(targets[k] for k in sorted(targets)), tuple(lus[k] for k in sorted(lus)))


SRC_STMFADM = "stmfadm list-target -v"


def parse_stmfadm_targets(text: str) -> list[StmfTarget]:
    """``Target: <ident>`` at column 0, then property lines ``"    %-18s: "`` (Operational
    Status, Provider Name, Alias, Protocol, Sessions), then per session ``Initiator:``
    with ``Alias:`` and ``Logged in since:`` (a ctime() string, which holds colons:
    split at the first one only) indented deeper.  Session count and entries must agree."""
    out: list[StmfTarget] = []
    cur: dict | None = None

    def close(lineno: int) -> None:
        if cur is None:
            return
        if cur["count"] is not None and cur["count"] != len(cur["sessions"]):
            raise ParseError(SRC_STMFADM, lineno, f"target {cur['name']}: Sessions {cur['count']} but {len(cur['sessions'])} listed")
        out.append(
            StmfTarget(cur["name"], cur["status"], cur["provider"], cur["alias"], cur["protocol"],
                       tuple(StmfSession(**s) for s in cur["sessions"]))
        )

    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        key, value = split_kv(raw)
        if raw[0] not in " \t":
            if key != "Target" or not value:
                raise ParseError(SRC_STMFADM, lineno, "expected 'Target: <name>'")
            close(lineno)
            cur = {"name": value, "status": "", "provider": "", "alias": "", "protocol": "", "count": None, "sessions": []}
            continue
        if cur is None or ":" not in raw:
            raise ParseError(SRC_STMFADM, lineno, "line outside a Target block or without ':'")
        sess = cur["sessions"][-1] if cur["sessions"] else None
        if key == "Initiator":
            if not value:
                raise ParseError(SRC_STMFADM, lineno, "Initiator without a name")
            cur["sessions"].append({"initiator": value, "alias": "", "logged_in_since": ""})
        elif sess is not None and key == "Alias":
            sess["alias"] = "" if value == "-" else value
        elif sess is not None and key == "Logged in since":
            sess["logged_in_since"] = value
        elif key == "Operational Status":
            cur["status"] = value
        elif key == "Provider Name":
            cur["provider"] = value
        elif key == "Alias":
            cur["alias"] = "" if value == "-" else value
        elif key == "Protocol":
            cur["protocol"] = value
        elif key == "Sessions":
            if not (value.isascii() and value.isdigit()):
                raise ParseError(SRC_STMFADM, lineno, f"Sessions not a number: {value[:20]!r}")
            cur["count"] = int(value)
        else:
            raise ParseError(SRC_STMFADM, lineno, f"unknown property {key[:30]!r}")
    close(0)
    return out


SRC_TPG = "itadm list-tpg -v"


def parse_itadm_tpgs(text: str) -> dict[str, tuple[str, ...]]:
    """``itadm list-tpg -v`` (itadm.c list_tpg): header ``TARGET PORTAL GROUP  PORTAL
    COUNT``, a row ``%-30s%-9d`` per TPG (a TAB after names longer than 30), then
    ``    portals:<TAB>a:3260,b:3260`` (comma-separated, IPv6 ``[addr]:port``) or
    ``<none>``.  Whitespace splitting is wrong for the portal list (real-captures.md I-13)."""
    out: dict[str, tuple[str, ...]] = {}
    counts: dict[str, int] = {}
    last: str | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        if raw.startswith("TARGET PORTAL GROUP"):
            continue
        if raw[0] not in " \t":
            fields = raw.split()
            if len(fields) != 2 or not (fields[1].isascii() and fields[1].isdigit()):
                raise ParseError(SRC_TPG, lineno, "expected '<tpg> <portal count>'")
            last = fields[0]
            counts[last] = int(fields[1])
            out[last] = ()
            continue
        key, value = split_kv(raw)
        if key != "portals" or last is None:
            raise ParseError(SRC_TPG, lineno, "expected 'portals:' under a TPG row")
        portals = () if value in ("", "<none>") else tuple(p.strip() for p in value.split(",") if p.strip())
        out[last] = portals
    for tpg, n in counts.items():
        if out[tpg] and len(out[tpg]) != n:
            raise ParseError(SRC_TPG, None, f"{tpg}: portal count {n} but {len(out[tpg])} portals")
    return out


SRC_ITADM_TARGET = "itadm list-target -v"


def parse_itadm_targets(text: str) -> dict[str, ItadmTarget]:
    """``itadm list-target -v``: header ``TARGET NAME ... STATE SESSIONS`` (trailing
    blank), a row per target (name padded to 61, longer names push the columns right:
    split on whitespace), then ``<TAB>label:<pad><TAB>value`` lines; ``tpg-tags`` is
    ``default`` or ``name = tag`` items joined by ``,`` (real-captures.md I-13)."""
    out: dict[str, ItadmTarget] = {}
    cur: dict | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        if raw.startswith("TARGET NAME"):
            continue
        if raw[0] not in " \t":
            fields = raw.split()
            if len(fields) != 3 or not ((fields[2].isascii() and fields[2].isdigit()) or fields[2] == "-"):
                raise ParseError(SRC_ITADM_TARGET, lineno, "expected '<target> <state> <sessions>'")
            cur = {"name": fields[0], "state": fields[1], "sessions": int(fields[2]) if (fields[2].isascii() and fields[2].isdigit()) else None, "tags": ()}
            out[fields[0]] = ItadmTarget(fields[0], fields[1], cur["sessions"], ())
            continue
        if cur is None or ":" not in raw:
            raise ParseError(SRC_ITADM_TARGET, lineno, "property line outside a target row")
        key, value = split_kv(raw)
        if key == "tpg-tags":
            tags: list[tuple[str, str]] = []
            if value == "default":
                tags.append(("default", ""))
            else:
                for item in value.split(","):
                    tpg, eq, tag = item.partition("=")
                    if not eq or not tpg.strip() or not (tag.strip().isascii() and tag.strip().isdigit()):
                        raise ParseError(SRC_ITADM_TARGET, lineno, f"tpg-tags item not 'name = tag': {item[:30]!r}")
                    tags.append((tpg.strip(), tag.strip()))
            out[cur["name"]] = dataclasses.replace(out[cur["name"]], tpg_tags=tuple(tags))
    return out


# ------------------------------------------------------------------ readers


@dataclasses.dataclass(frozen=True)
class Topology:
    targets: tuple[StmfTarget, ...]
    itadm: Mapping[str, ItadmTarget]
    tpgs: Mapping[str, tuple[str, ...]]


def read_stmfadm(host: Host, log=None) -> list[StmfTarget] | None:
    """None when COMSTAR is absent: no stmfadm, or the STMF service is offline or not
    found.  With no target at all stmfadm exits 1 silently (listTargetFunc returns 1 on
    STMF_ERROR_NOT_FOUND without a message): no targets."""
    try:
        r = host.run("stmfadm", STMFADM_ARGS, timeout=TOPOLOGY_TIMEOUT)
    except CommandNotFound:
        return None
    if r.returncode != 0:
        err = r.stderr.strip()
        if not err and not r.stdout.strip():
            return []
        if "STMF service offline" in err or "STMF service not found" in err:
            if log:
                log.info("COMSTAR not running: %s", err[:200])
            return None
        raise RuntimeError(f"{SRC_STMFADM}: exit {r.returncode}: {err[:200]}")
    return parse_stmfadm_targets(r.stdout)


def _itadm(host: Host, args: list[str], log=None) -> str | None:
    """itadm needs the iSCSI target service online and the solaris.smf.read.stmf
    authorization (itadm.c ITADM_CHKAUTH): without them the portal mapping is missing,
    the sessions are still served.  A hang is a failure."""
    try:
        r = host.run("itadm", args, timeout=TOPOLOGY_TIMEOUT)
    except CommandNotFound:
        return None
    if r.returncode != 0:
        if log:
            log.warning("itadm %s: exit %s: %s", " ".join(args), r.returncode, r.stderr.strip()[:200])
        return None
    return r.stdout


def read_topology(host: Host, log=None) -> Topology | None:
    targets = read_stmfadm(host, log)
    if targets is None:
        return None
    itadm_t: dict[str, ItadmTarget] = {}
    tpgs: dict[str, tuple[str, ...]] = {}
    if any(t.protocol == "iSCSI" for t in targets):
        text = _itadm(host, ITADM_TARGET_ARGS, log)
        itadm_t = parse_itadm_targets(text) if text is not None else {}
        text = _itadm(host, ITADM_TPG_ARGS, log)
        tpgs = parse_itadm_tpgs(text) if text is not None else {}
    return Topology(tuple(targets), itadm_t, tpgs)


def read_kstats(host: Host) -> StmfKstats:
    return parse_stmf_kstats(run_kstat(host, KSTAT_SELECTORS))


# ------------------------------------------------------------------ collector

TARGET_STATES = ("online", "offline", "onlining", "offlining", "unknown")


def _login_key(s: StmfSession) -> tuple[int, str]:
    """Order sessions by login time (ctime() text, local time of the command)."""
    try:
        return (int(time.mktime(time.strptime(" ".join(s.logged_in_since.split()), "%a %b %d %H:%M:%S %Y"))), "")
    except (ValueError, OverflowError):
        return (1 << 62, s.logged_in_since)


def session_members(target: StmfTarget) -> list[tuple[str, StmfSession]]:
    """Member names ``<initiator>#<n>``: n counts an initiator's sessions in login order.
    stmfadm shows no portal or ISID for a session; the initiator and how many sessions it
    holds are what identifies paths on the target side."""
    out = []
    seen: dict[str, int] = {}
    for s in sorted(target.sessions, key=lambda s: (s.initiator, _login_key(s))):
        seen[s.initiator] = seen.get(s.initiator, 0) + 1
        out.append((f"{s.initiator}#{seen[s.initiator]}", s))
    return out


def to_groups(targets: dict[str, list[Member]], config=None) -> list[Group]:
    """kind="iscsi_target": group = COMSTAR iSCSI target, member = one initiator session
    (``stmfadm list-target -v``; the initiator IQN and its session number), up while it is
    listed.  A target nobody ever logged in to (in this process's life) is not a set of
    paths: it is left out of the group model unless expect: names it (``needs_members``)."""
    return [dataclasses.replace(g, needs_members=True) for g in load_groups("iscsi_target", "stmf", targets, config)]


class Comstar(Collector):
    name = "comstar"
    platforms = frozenset({"illumos"})
    OPTIONS = {"topology_interval": "duration"}
    description = "COMSTAR target: sessions per target and initiator, per-target and per-LU bytes, portal groups"

    def __init__(self, host, ctx):
        super().__init__(host, ctx)
        self._cadence: Cadence | None = None

    def _topology(self):
        if self._cadence is None:
            interval = float(self.ctx.option("topology_interval", DEFAULT_TOPOLOGY_INTERVAL))
            self._cadence = Cadence(lambda: read_topology(self.host, self.ctx.log), interval)
        return self._cadence.get()

    def collect(self) -> Collected | list[Family]:
        topo, stamp = self._topology()
        if topo is None:
            return []
        ks = read_kstats(self.host)
        if not topo.targets and not ks.targets and not ks.lus:
            return []
        self.data_timestamp = stamp
        T = ("target",)
        ti = info("comstar_target_info", f"COMSTAR target port; value 1. From {SRC_STMFADM} (alias, provider, protocol).", ("target", "alias", "provider", "protocol"))
        ts = gauge("comstar_target_state", f"Target operational status, one series per state. From {SRC_STMFADM} Operational Status.", ("target", "state"))
        tn = gauge("comstar_target_sessions", f"Sessions logged in to the target. From {SRC_STMFADM} Sessions.", T)
        isess = gauge("comstar_initiator_sessions", f"Sessions per initiator per target: 1 means that initiator has a single path (no MPIO) to the target. From {SRC_STMFADM} Initiator entries.", ("target", "initiator"))
        trd = counter("comstar_target_read_bytes_total", "Bytes read by initiators through the target port (sent to them). From kstat stmf:0:stmf_tgt_io_<addr>:nread, joined to stmf_tgt_<addr>:target-name.", T)
        twr = counter("comstar_target_written_bytes_total", "Bytes written by initiators through the target port (received from them). From kstat stmf:0:stmf_tgt_io_<addr>:nwritten.", T)
        li = info("comstar_lu_info", "COMSTAR logical unit; value 1. From kstat stmf:0:stmf_lu_<addr>:lun-guid and lun-alias.", ("lu", "alias"))
        lrd = counter("comstar_lu_read_bytes_total", "Bytes read from the logical unit by initiators. From kstat stmf:0:stmf_lu_io_<addr>:nread, joined to stmf_lu_<addr>:lun-guid.", ("lu",))
        lwr = counter("comstar_lu_written_bytes_total", "Bytes written to the logical unit by initiators. From kstat stmf:0:stmf_lu_io_<addr>:nwritten.", ("lu",))
        tpgp = gauge("comstar_tpg_portals", f"Portals of the iSCSI target portal group. From {SRC_TPG}.", ("tpg",))
        tpgi = info("comstar_tpg_portal_info", f"A portal (address:port) of an iSCSI target portal group; value 1. From {SRC_TPG}.", ("tpg", "portal"))
        ttpg = info("comstar_target_tpg_info", f"An iSCSI target listens on this portal group with this tag (tpg \"default\": all portals); value 1. From {SRC_ITADM_TARGET} tpg-tags.", ("target", "tpg", "tag"))

        ks_t = {t.name: t for t in ks.targets}
        groups: dict[str, list[Member]] = {}
        names = sorted({t.name for t in topo.targets} | set(ks_t))
        by_name = {t.name: t for t in topo.targets}
        for name in names:
            t = by_name.get(name)
            k = ks_t.get(name)
            ti.add((name, (t.alias if t else "") or (k.alias if k else ""), t.provider if t else "", (t.protocol if t else "") or (k.protocol if k else "")), 1)
            if k:
                trd.add((name,), k.nread)
                twr.add((name,), k.nwritten)
            if t is None:
                continue
            add_stateset(ts, (name,), TARGET_STATES, t.status.lower() or "unknown")
            tn.add((name,), len(t.sessions))
            per_init: dict[str, int] = {}
            for s in t.sessions:
                per_init[s.initiator] = per_init.get(s.initiator, 0) + 1
            for init, n in per_init.items():
                isess.add((name, init), n)
            if t.protocol == "iSCSI":  # kind iscsi_target: FC/SRP ports stay in the comstar series
                groups[name] = [Member(name=m, up=True) for m, _ in session_members(t)]
            it = topo.itadm.get(name)
            for tpg, tag in it.tpg_tags if it else ():
                ttpg.add((name, tpg, tag), 1)
        for lu in ks.lus:
            li.add((lu.name, lu.alias), 1)
            lrd.add((lu.name,), lu.nread)
            lwr.add((lu.name,), lu.nwritten)
        for tpg, portals in topo.tpgs.items():
            tpgp.add((tpg,), len(portals))
            for p in portals:
                tpgi.add((tpg, p), 1)
        fams = [ti, ts, tn, isess, trd, twr, li, lrd, lwr, tpgp, tpgi, ttpg]
        return Collected(fams, to_groups(groups, self.ctx.config))
