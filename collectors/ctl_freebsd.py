"""Collector ``ctl`` (FreeBSD): the ctld(8)/CTL iSCSI target (kind=iscsi_target).

Sources (every scrape; both read /dev/cam/ctl, which is root:operator 0600, so ``ctladm``
runs as root or through a ``commands:`` prefix such as ``[/usr/local/bin/sudo, -n,
/usr/sbin/ctladm]``):
  ``ctladm islist -v``      one block per iSCSI session (usr.sbin/ctladm/ctladm.c
                            cctl_islist: ``printf("%-25s %s\\n", label, value)`` for
                            ``Session ID:``, ``Initiator name:``, ``Initiator portal:``
                            (the initiator's address), ``Initiator alias:``, ``Target
                            name:``, ``Target alias:``, ``Header digest:``, ``Data
                            digest:``, the negotiated lengths, ``ImmediateData:``, ``iSER
                            (RDMA):``, ``Offload driver:``; a blank line after each).
                            Older releases print fewer labels: only Session ID, Initiator
                            name and Target name are required.
  ``ctladm portlist -i -v`` the CTL ports (ctladm.c cctl_portlist): a row ``<id> <YES|NO>
                            <frontend> <name> <pp> <vp> [<port name>]``, then indented
                            ``Target:``, ``Initiator <n>: <iqn>,i,0x<isid>``, ``LUN <n>:
                            <lun>`` / ``All LUNs mapped`` and the port options
                            ``key=value`` that ctld sets (usr.sbin/ctld/kernel.c:
                            ``cfiscsi_target``, ``ctld_portal_group_name``,
                            ``cfiscsi_portal_group_tag``).  Real capture: a FreeNAS
                            ``ctladm portlist -i -v`` from a public blog post (stored in
                            tests/captures/freebsd/).  Optional: without it the portal
                            groups are missing, the sessions are still served.

  ``ctlstat -j -t -n 4096 -c 1``  cumulative I/O per CTL port (usr.bin/ctlstat/ctlstat.c:
                            ``-t`` selects ports when no ``-l``/``-p`` mask is given, ``-n``
                            lifts the default limit of 3 items, ``-c 1`` prints once without
                            sleeping; ctlstat_json prints ``{"ports":[{"num":N,"io":[{"type":
                            "NO IO"|"READ"|"WRITE","bytes":..,"operations":..,"dmas":..,"io
                            time":s.us,"dma time":s.us}]}]}``).  Needs /dev/cam/ctl like
                            ctladm; optional like the portlist.

A member of a target's group is one session, named ``<initiator>@<initiator address>``
(``#2``, ``#3`` appended when one initiator holds several sessions from one address):
stable across reconnects, unlike the session ID.  CTL keeps no per-session byte counters:
member bytes are absent; the bytes of a port (one target on one portal group, all its
sessions) are ``lanes_ctl_port_{read,written}_bytes_total``.

By hand: ``ctladm islist -v``; ``ctladm portlist -i -v``; ``ctlstat -j -t -n 4096 -c 1``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping, Sequence

from collectors import _freebsd, _ifconfig
from exporter.api import (
    Collected,
    Collector,
    CommandNotFound,
    Family,
    Group,
    Host,
    Member,
    ParseError,
    counter,
    expected_members,
    gauge,
    info,
)

ISLIST_ARGS = ("islist", "-v")
PORTLIST_ARGS = ("portlist", "-i", "-v")
CTLSTAT_ARGS = ("-j", "-t", "-n", "4096", "-c", "1")
TIMEOUT = 5.0
ISLIST = "ctladm islist -v"
PORTLIST = "ctladm portlist -i -v"
CTLSTAT = "ctlstat -j -t -n 4096 -c 1"
MAX_COUNTER = 1 << 64


@dataclasses.dataclass(frozen=True)
class CtlSession:
    id: int
    initiator: str
    initiator_portal: str
    initiator_alias: str
    target: str
    target_alias: str
    header_digest: str
    data_digest: str
    offload: str


@dataclasses.dataclass(frozen=True)
class CtlPort:
    id: int
    online: bool
    frontend: str
    name: str
    port_name: str  # iSCSI: "<target>,t,0x<tag>"
    target: str
    options: Mapping[str, str]
    initiators: tuple[str, ...]  # "<iqn>,i,0x<isid>"

    @property
    def portal_group(self) -> str:
        return self.options.get("ctld_portal_group_name", "")

    @property
    def tag(self) -> str:
        return self.options.get("cfiscsi_portal_group_tag", "")


_LABELS = {
    "Session ID": "id",
    "Initiator name": "initiator",
    "Initiator portal": "initiator_portal",
    "Initiator alias": "initiator_alias",
    "Target name": "target",
    "Target alias": "target_alias",
    "Header digest": "header_digest",
    "Data digest": "data_digest",
    "Offload driver": "offload",
}
_REQUIRED = ("id", "initiator", "target")


def _session(fields: dict, lineno: int) -> CtlSession:
    missing = [k for k in _REQUIRED if k not in fields]
    if missing:
        raise ParseError(ISLIST, lineno, f"session block without {', '.join(missing)}")
    sid = fields["id"]
    if not (sid.isascii() and sid.isdigit()):
        raise ParseError(ISLIST, lineno, f"Session ID is {sid[:20]!r}")
    values = {k: fields.get(k, "") for k in _LABELS.values() if k != "id"}
    return CtlSession(id=int(sid), **values)


def parse_islist(text: str) -> list[CtlSession]:
    out: list[CtlSession] = []
    fields: dict[str, str] = {}
    start = 0
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            if fields:
                out.append(_session(fields, start))
                fields = {}
            continue
        label, colon, value = line.partition(":")
        if not colon:
            raise ParseError(ISLIST, lineno, f"not 'label: value': {line[:60]!r}")
        key = _LABELS.get(label.strip())
        if key is None:
            continue  # negotiated lengths, ImmediateData, iSER: not exported
        if key == "id" and fields:  # a block without its blank line
            out.append(_session(fields, start))
            fields = {}
        if not fields:
            start = lineno
        if key in fields:
            raise ParseError(ISLIST, lineno, f"{label.strip()} twice in one session")
        fields[key] = value.strip()
    if fields:
        out.append(_session(fields, start))
    return out


_PORT_ROW = re.compile(r"^(\d+)\s+(YES|NO)\s+(\S+)\s+(\S+)\s+(-?\d+)\s+(-?\d+)(?:\s+(\S+))?\s*$")


def parse_portlist(text: str) -> list[CtlPort]:
    out: list[CtlPort] = []
    cur: dict | None = None

    def flush() -> None:
        if cur is not None:
            opts = cur["options"]
            target = cur["target"] or opts.get("cfiscsi_target", "")
            out.append(CtlPort(cur["id"], cur["online"], cur["frontend"], cur["name"], cur["port_name"], target, dict(opts), tuple(cur["initiators"])))

    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        if line.startswith("Port "):  # header
            continue
        if not line[0].isspace():
            m = _PORT_ROW.match(line)
            if not m:
                raise ParseError(PORTLIST, lineno, f"bad port row {line[:80]!r}")
            flush()
            pid, online, frontend, name, _pp, _vp, port_name = m.groups()
            cur = {"id": int(pid), "online": online == "YES", "frontend": frontend, "name": name, "port_name": port_name or "", "target": "", "options": {}, "initiators": []}
            continue
        if cur is None:
            raise ParseError(PORTLIST, lineno, "indented line before any port row")
        s = line.strip()
        if s.startswith("Target:"):
            cur["target"] = s.partition(":")[2].strip()
        elif s.startswith("Initiator "):
            cur["initiators"].append(s.partition(":")[2].strip())
        elif s.startswith("LUN ") or s == "All LUNs mapped":
            pass
        elif "=" in s:
            k, _, v = s.partition("=")
            cur["options"][k.strip()] = v.strip()
        else:
            raise ParseError(PORTLIST, lineno, f"unexpected line {s[:60]!r}")
    flush()
    return out


@dataclasses.dataclass(frozen=True)
class PortIo:
    read_bytes: int  # data sent to initiators (SCSI READ)
    written_bytes: int  # data received from initiators (SCSI WRITE)


def parse_ctlstat_json(text: str) -> dict[int, PortIo]:
    """Per port number its cumulative READ and WRITE bytes."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ParseError(CTLSTAT, None, f"not JSON: {str(e)[:80]}") from None
    ports = doc.get("ports") if isinstance(doc, dict) else None
    if not isinstance(ports, list):
        raise ParseError(CTLSTAT, None, "no ports list (ctlstat without -t prints luns)")
    out: dict[int, PortIo] = {}
    for p in ports:
        num = p.get("num") if isinstance(p, dict) else None
        io = p.get("io") if isinstance(p, dict) else None
        if isinstance(num, bool) or not isinstance(num, int) or not isinstance(io, list):
            raise ParseError(CTLSTAT, None, f"bad port entry {str(p)[:60]!r}")
        by_type: dict[str, int] = {}
        for entry in io:
            t = entry.get("type") if isinstance(entry, dict) else None
            b = entry.get("bytes") if isinstance(entry, dict) else None
            if not isinstance(t, str) or isinstance(b, bool) or not isinstance(b, int) or not 0 <= b < MAX_COUNTER:
                raise ParseError(CTLSTAT, None, f"port {num}: bad io entry {str(entry)[:60]!r}")
            by_type[t] = b
        if "READ" not in by_type or "WRITE" not in by_type:
            raise ParseError(CTLSTAT, None, f"port {num}: no READ or WRITE entry")
        out[num] = PortIo(by_type["READ"], by_type["WRITE"])
    return out


# ------------------------------------------------------------------ reading


def _ctladm(host: Host, args: Sequence[str], required: bool, log=None, tool: str = "ctladm") -> str | None:
    """None when CTL is absent (no ctladm, or /dev/cam/ctl missing: ctl.ko not loaded)."""
    try:
        r = host.run(tool, list(args), timeout=TIMEOUT)
    except CommandNotFound:
        return None
    if r.returncode != 0:
        err = r.stderr.strip()
        if "No such file or directory" in err and "/dev/cam/ctl" in err:
            return None
        if not required:
            if log:
                log.warning("%s %s: exit %s: %s", tool, " ".join(args), r.returncode, err[:200])
            return None
        why = (err.splitlines() or ["no message"])[0][:200]
        raise RuntimeError(f"{tool} {' '.join(args)}: exit {r.returncode}: {why}")
    return r.stdout


def session_members(sessions: Iterable[CtlSession]) -> list[tuple[str, CtlSession]]:
    """``<initiator>@<address>``, ``#n`` for the n-th session (by session ID) of one
    initiator from one address."""
    out = []
    seen: dict[str, int] = {}
    for s in sorted(sessions, key=lambda s: (s.initiator, s.initiator_portal, s.id)):
        base = f"{s.initiator}@{s.initiator_portal}" if s.initiator_portal else s.initiator
        seen[base] = seen.get(base, 0) + 1
        out.append((base if seen[base] == 1 else f"{base}#{seen[base]}", s))
    return out


def to_groups(sessions: Sequence[CtlSession], config=None, targets: Iterable[str] = (), speeds: Mapping[str, int | None] | None = None) -> list[Group]:
    """kind="iscsi_target": one group per target with sessions, a member per session (up:
    CTL lists logged-in sessions only).  Several sessions of one target are meant to be
    used together (initiator MPIO): balancing load.  ``speeds``: initiator address ->
    speed of the local NIC the session arrives on.  ``targets`` (from the port list) adds
    the targets without sessions: a target nobody ever logged in to is not a set of paths
    (``needs_members``) unless ``expect:`` names it."""
    by_target: dict[str, list[Member]] = {t: [] for t in targets if t}
    for member, s in session_members(x for x in sessions if x.target):
        speed = (speeds or {}).get(s.initiator_portal)
        by_target.setdefault(s.target, []).append(Member(name=member, up=True, speed_bytes=speed))
    return [
        Group(
            kind="iscsi_target",
            name=target,
            policy="ctl",
            balancing="load",
            members=tuple(sorted(members, key=lambda m: m.name)),
            expected=expected_members(config, "iscsi_target", target),
            needs_members=True,
        )
        for target, members in sorted(by_target.items())
    ]


class CtlFreebsd(Collector):
    name = "ctl"
    platforms = frozenset({"freebsd"})
    description = "ctld/CTL iSCSI target: sessions per target and initiator, portal groups (kind=iscsi_target)"


    def collect(self) -> Collected | list[Family]:
        text = _ctladm(self.host, ISLIST_ARGS, required=True)
        if text is None:
            return []
        sessions = parse_islist(text)
        ptext = _ctladm(self.host, PORTLIST_ARGS, required=False, log=self.ctx.log)
        ports = [p for p in parse_portlist(ptext) if p.frontend == "iscsi"] if ptext else []
        stext = _ctladm(self.host, CTLSTAT_ARGS, required=False, log=self.ctx.log, tool="ctlstat") if ports else None
        port_io = parse_ctlstat_json(stext) if stext else {}
        T = ("target",)
        src_i, src_p = f"From {ISLIST}.", f"From {PORTLIST}."
        tn = gauge("ctl_target_sessions", f"iSCSI sessions logged in to the target. {src_i}", T)
        isess = gauge("ctl_initiator_sessions", f"Sessions per initiator per target: 1 means that initiator has a single path (no MPIO) to the target. {src_i}", ("target", "initiator"))
        si = info("ctl_session_info", f"One iSCSI session; value 1. member is the session's name in the group model; netdev the local interface whose network holds the initiator address (ifconfig -a; empty for a routed initiator). {src_i}", ("target", "member", "initiator", "initiator_address", "initiator_alias", "netdev", "session_id", "header_digest", "data_digest", "offload"))
        pi = info("ctl_port_info", f"A CTL iSCSI port: a target on a portal group (ctld port options ctld_portal_group_name and cfiscsi_portal_group_tag); value 1. {src_p}", ("port", "target", "portal_group", "tag"))
        po = gauge("ctl_port_online", f"1 if the CTL port is online. {src_p}", ("port", "target", "portal_group"))
        pin = gauge("ctl_port_initiators", f"Initiators (I_T nexus) known on the port. {src_p}", ("port", "target", "portal_group"))
        PL = ("port", "target", "portal_group")
        prd = counter("ctl_port_read_bytes_total", f"Bytes read by initiators through the port (sent to them), all its sessions. From {CTLSTAT} (READ bytes).", PL)
        pwr = counter("ctl_port_written_bytes_total", f"Bytes written by initiators through the port (received from them). From {CTLSTAT} (WRITE bytes).", PL)
        interfaces, links = _freebsd.nic_table(self.host, self.ctx)
        netdevs = {s.initiator_portal: _ifconfig.interface_for(s.initiator_portal, interfaces.values()) for s in sessions}
        speeds = {a: (links[n].speed_bytes if n in links else None) for a, n in netdevs.items()}
        per_target: dict[str, int] = {}
        per_init: dict[tuple[str, str], int] = {}
        for member, s in session_members(x for x in sessions if x.target):
            per_target[s.target] = per_target.get(s.target, 0) + 1
            per_init[(s.target, s.initiator)] = per_init.get((s.target, s.initiator), 0) + 1
            si.add((s.target, member, s.initiator, s.initiator_portal, s.initiator_alias, netdevs.get(s.initiator_portal, ""), str(s.id), s.header_digest, s.data_digest, s.offload), 1)
        for p in ports:
            per_target.setdefault(p.target, 0)
            pi.add((str(p.id), p.target, p.portal_group, p.tag), 1)
            po.add((str(p.id), p.target, p.portal_group), p.online)
            pin.add((str(p.id), p.target, p.portal_group), len(p.initiators))
            pio = port_io.get(p.id)
            if pio is not None:
                prd.add((str(p.id), p.target, p.portal_group), pio.read_bytes)
                pwr.add((str(p.id), p.target, p.portal_group), pio.written_bytes)
        for target, count in sorted(per_target.items()):
            if target:
                tn.add((target,), count)
        for key, count in sorted(per_init.items()):
            isess.add(key, count)
        groups = to_groups(sessions, self.ctx.config, (p.target for p in ports), speeds)
        return Collected([tn, isess, si, pi, po, pin, prd, pwr], groups)
