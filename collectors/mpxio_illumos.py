"""Collector ``mpxio``: illumos MPxIO (scsi_vhci) logical units and their paths.

Sources (all topology, read in the background on a slow cadence)
  ``mpathadm list lu``   every ``topology_interval`` (default 30 s): each multipathed LU with
                         ``Total Path Count`` and ``Operational Path Count`` (paths in state
                         OK; a path disabled by the admin still counts, usr/src/man/man8/
                         mpathadm.8 and real-captures.md I-9).
  ``mpathadm show lu <lu> ...``  per-path detail (initiator and target port, path state,
                         disabled, TPG access state, load balance, vendor/product) for
                         LUs that are degraded, new, disagree with the counts, or whose
                         detail is older than ``detail_interval`` (default 300 s); at most
                         ``DETAIL_BATCH`` LUs per run, one exec each.

An LU's transport is read from its initiator port names (real-captures.md I-10): SAS ports
are ``w``-prefixed WWNs, FC ports bare 16-hex-digit WWNs, iSCSI ports iSCSI names
(``iqn.``/``eui.``/``naa.``).  Dual-ported SAS disks of a JBOD are MPxIO LUs too, but their
paths are SAS cables, not network paths: ``lanes_mpxio_lu_info{local="true"}`` marks them so
dashboards and alerts can leave them out (``unless on(group) lanes_mpxio_lu_info{local="true"}``).

Metrics: ``lanes_mpxio_lu_info``, ``lanes_mpxio_lu_paths``,
``lanes_mpxio_lu_operational_paths``, ``lanes_mpxio_path_state``,
``lanes_mpxio_path_disabled``, ``lanes_mpxio_tpg_access_state`` and the group model
``kind="mpxio"`` (group = LU WWN, member = ``<initiator port>-><target port>``).

Platforms: illumos (OmniOS, SmartOS, OpenIndiana, NexentaStor) and Oracle Solaris.

By hand: ``mpathadm list lu``; ``mpathadm show lu /dev/rdsk/c0t<WWN>d0s2``.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Iterable, Sequence

from collectors._cadence import Cadence
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
    expected_members,
    gauge,
    info,
)

TOPOLOGY_TIMEOUT = 10.0
DEFAULT_TOPOLOGY_INTERVAL = 30.0
DEFAULT_DETAIL_INTERVAL = 300.0
#: LUs per ``mpathadm show lu`` run: a JBOD with hundreds of disks is detailed over
#: several topology runs instead of one run that outlasts every timeout
DETAIL_BATCH = 64
LIST_LU_ARGS = ["list", "lu"]
SHOW_LU_ARGS = ["show", "lu"]

# ------------------------------------------------------------------ models


@dataclasses.dataclass(frozen=True)
class LuPaths:
    """One LU of ``mpathadm list lu``."""

    device: str  # as printed: /dev/rdsk/c0t...d0s2 or /scsi_vhci/disk@g...
    total: int
    operational: int

    @property
    def lu(self) -> str:
        return lu_id(self.device)

    @property
    def type(self) -> str:
        return lu_type(self.device)


@dataclasses.dataclass(frozen=True)
class MpPath:
    initiator_port: str
    target_port: str
    state: str  # as printed: OK, path error, ...
    disabled: bool | None
    override: bool | None = None

    @property
    def name(self) -> str:
        return f"{self.initiator_port}->{self.target_port}"

    @property
    def up(self) -> bool:
        return self.state == "OK" and not self.disabled


@dataclasses.dataclass(frozen=True)
class Tpg:
    id: str
    access_state: str
    #: names of the target ports in the group (``Target Ports:`` / ``Name:``)
    ports: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class LuDetail:
    """One ``Logical Unit:`` block of ``mpathadm show lu``."""

    device: str
    vendor: str = ""
    product: str = ""
    revision: str = ""
    name: str = ""  # inquiry name (the WWN)
    asymmetric: bool | None = None
    load_balance: str = ""
    paths: tuple[MpPath, ...] = ()
    tpgs: tuple[Tpg, ...] = ()

    @property
    def transport(self) -> str:
        kinds = {port_transport(p.initiator_port) for p in self.paths}
        return kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "unknown")


# ------------------------------------------------------------------ naming

_RDSK_WWN = re.compile(r"/c\d+t([0-9A-Fa-f]{16,32})d\d+(?:s\d+|p\d+)?$")
_VHCI = re.compile(r"^/scsi_vhci/([A-Za-z0-9_.+-]+)@g([0-9A-Fa-f]+)")


def lu_id(device: str) -> str:
    """The LU's WWN in lower case (stable whether the LU is listed as its /dev/rdsk link or
    its /scsi_vhci node, real-captures.md I-9), else the device name as printed."""
    m = _RDSK_WWN.search(device) or _VHCI.match(device)
    if m:
        return m.group(m.lastindex or 1).lower()
    return device


def lu_type(device: str) -> str:
    """disk, enclosure, array-controller, ... from the node name after /scsi_vhci/ (never
    from the prefix alone: a disk without /dev/rdsk link is /scsi_vhci/disk@g...; SPARC
    disks are ssd@g...)."""
    m = _VHCI.match(device)
    if not m:
        return "disk" if device.startswith("/dev/rdsk/") else "unknown"
    node = m.group(1)
    return {"ssd": "disk", "ses": "enclosure"}.get(node, node)


_WWN16 = re.compile(r"^[0-9A-Fa-f]{16}$")
_SASWWN = re.compile(r"^w[0-9A-Fa-f]{16}$")


def port_transport(port: str) -> str:
    if _SASWWN.match(port):
        return "sas"
    if _WWN16.match(port):
        return "fc"
    if port.lower().startswith(("iqn.", "eui.", "naa.")):
        return "iscsi"
    return "unknown"


# ------------------------------------------------------------------ parsers

SRC_LIST = "mpathadm list lu"
SRC_SHOW = "mpathadm show lu"


def parse_list_lu(text: str) -> list[LuPaths]:
    """``mpathadm list lu``: a device name (TAB-indented, starting with ``/``) followed by
    ``Total Path Count: N`` and ``Operational Path Count: N`` (deeper TAB indent)."""
    out: list[LuPaths] = []
    cur: dict | None = None

    def close(lineno: int) -> None:
        if cur is None:
            return
        if cur["total"] is None or cur["op"] is None:
            raise ParseError(SRC_LIST, lineno, f"{cur['device']}: path counts missing")
        if cur["op"] > cur["total"]:
            raise ParseError(SRC_LIST, lineno, f"{cur['device']}: more operational paths than paths")
        out.append(LuPaths(cur["device"], cur["total"], cur["op"]))

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("/"):
            close(lineno)
            if " " in line or "\t" in line:
                raise ParseError(SRC_LIST, lineno, "device name with blanks")
            cur = {"device": line, "total": None, "op": None}
            continue
        key, value = split_kv(line)
        if cur is None or key not in ("Total Path Count", "Operational Path Count"):
            raise ParseError(SRC_LIST, lineno, f"unexpected line {line[:40]!r}")
        if not (value.isascii() and value.isdigit()):
            raise ParseError(SRC_LIST, lineno, f"{key}: not a number: {value[:20]!r}")
        cur["total" if key.startswith("Total") else "op"] = int(value)
    close(0)
    return out


def _yes_no(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value.strip().lower())


def parse_show_lu(text: str) -> list[LuDetail]:
    """``mpathadm show lu`` (mpathadm.c showLogicalUnit; labels in mpathadm_text.c):
    ``Logical Unit:  <device>`` (at column 0 or indented), ``label:  value`` properties (values can carry
    INQUIRY padding: strip), a ``Paths:`` section with one block per path starting at
    ``Initiator Port Name:``, and either ``Target Port Groups:`` (asymmetric LUs: ``ID:``,
    ``Access State:``, ``Target Ports:``) or, for symmetric LUs, ``Target Ports:`` right
    after the paths (real-captures.md I-10).  Section headers may end in blanks."""
    out: list[LuDetail] = []
    lu: dict | None = None
    section = "lu"
    path: dict | None = None
    tpg: dict | None = None

    def close() -> None:
        if lu is None:
            return
        paths = []
        for p in lu["paths"]:
            if p["initiator_port"] is None or p["target_port"] is None or p["state"] is None:
                raise ParseError(SRC_SHOW, None, f"{lu['device']}: incomplete path block")
            paths.append(MpPath(p["initiator_port"], p["target_port"], p["state"], p["disabled"], p["override"]))
        tpgs = tuple(Tpg(t["id"], t["access"], tuple(t["ports"])) for t in lu["tpgs"])
        props = {k: lu[k] for k in ("vendor", "product", "revision", "name", "asymmetric", "load_balance")}
        out.append(LuDetail(lu["device"], paths=tuple(paths), tpgs=tpgs, **props))

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if ":" not in line:
            raise ParseError(SRC_SHOW, lineno, f"line without ':': {line[:40]!r}")
        key, value = split_kv(line)
        if key == "Logical Unit":
            # mpathadm.c prints it at column 0, but real Solaris 11 output has it (and its
            # properties) indented one level further: the label, not the column, starts a
            # block (tests/captures/solaris-inspection-script/)
            if not value:
                raise ParseError(SRC_SHOW, lineno, "'Logical Unit:' without a name")
            close()
            lu = {"device": value, "vendor": "", "product": "", "revision": "", "name": "", "asymmetric": None,
                  "load_balance": "", "paths": [], "tpgs": []}
            section, path, tpg = "lu", None, None
            continue
        if lu is None:
            raise ParseError(SRC_SHOW, lineno, "property before 'Logical Unit:'")
        if key == "Paths" and not value:
            section = "paths"
        elif key == "Target Port Groups" and not value:
            section = "tpgs"
        elif key == "Target Ports" and not value:
            section = "tports"
        elif section == "lu":
            field = {"Vendor": "vendor", "Product": "product", "Revision": "revision", "Name": "name",
                     "Current Load Balance": "load_balance"}.get(key)
            if field:
                lu[field] = value
            elif key == "Asymmetric":
                lu["asymmetric"] = _yes_no(value)
        elif section == "paths":
            if key == "Initiator Port Name":
                path = {"initiator_port": value, "target_port": None, "state": None, "disabled": None, "override": None}
                lu["paths"].append(path)
            elif path is None:
                raise ParseError(SRC_SHOW, lineno, f"{key!r} before 'Initiator Port Name:'")
            elif key == "Target Port Name":
                path["target_port"] = value
            elif key == "Path State":
                path["state"] = value
            elif key == "Disabled":
                path["disabled"] = _yes_no(value)
            elif key == "Override Path":
                path["override"] = _yes_no(value)
        elif section in ("tpgs", "tports"):
            if key == "ID":
                tpg = {"id": value, "access": "", "ports": []}
                lu["tpgs"].append(tpg)
                section = "tpgs"
            elif key == "Access State" and tpg is not None:
                tpg["access"] = value
            elif key == "Name" and section == "tports" and tpg is not None:
                tpg["ports"].append(value)
            # Relative ID:/Explicit Failover: are not needed
    close()
    return out


# ------------------------------------------------------------------ readers


def read_list_lu(host: Host) -> list[LuPaths] | None:
    """None when MPxIO tooling is absent (no mpathadm)."""
    try:
        r = host.run("mpathadm", LIST_LU_ARGS, timeout=TOPOLOGY_TIMEOUT)
    except CommandNotFound:
        return None
    if r.returncode != 0:
        raise RuntimeError(f"{SRC_LIST}: exit {r.returncode}: {r.stderr.strip()[:200]}")
    return parse_list_lu(r.stdout)


_NOT_FOUND = re.compile(r"Error: Logical-unit .* is not found\.")


def read_show_lu(host: Host, device: str) -> LuDetail | None:
    """Detail of one LU; None when it vanished since ``list lu`` (mpathadm prints "Error:
    Logical-unit X is not found." and exits non-zero: skip that LU, not the collector).
    One exec per LU although show accepts several operands: a recorded snapshot names each
    command file after its arguments, and a few device paths already exceed NAME_MAX."""
    r = host.run("mpathadm", [*SHOW_LU_ARGS, device], timeout=TOPOLOGY_TIMEOUT)
    if r.returncode != 0:
        if _NOT_FOUND.search(r.stderr):
            return None
        raise RuntimeError(f"{SRC_SHOW} {device}: exit {r.returncode}: {r.stderr.strip()[:200]}")
    details = parse_show_lu(r.stdout)
    if len(details) != 1:
        raise ParseError(SRC_SHOW, None, f"{device}: {len(details)} logical units in the output, expected 1")
    return details[0]


@dataclasses.dataclass(frozen=True)
class Topology:
    lus: tuple[LuPaths, ...]
    details: dict[str, LuDetail]  # by device


class DetailCache:
    """Per-LU ``show lu`` detail with its read time; decides which LUs to detail next."""

    def __init__(self, max_age: float):
        self.max_age = max_age
        self._lock = threading.Lock()
        self.details: dict[str, LuDetail] = {}
        self.read_at: dict[str, float] = {}

    def wanted(self, lus: Sequence[LuPaths], now: float) -> list[str]:
        ranked = []
        for lu in lus:
            d = self.details.get(lu.device)
            if d is None:
                rank = 1
            elif lu.operational < lu.total or len(d.paths) != lu.total or sum(p.state == "OK" for p in d.paths) != lu.operational:
                rank = 0  # degraded, or the detail disagrees with the counts: read it now
            elif now - self.read_at.get(lu.device, 0.0) >= self.max_age:
                rank = 2
            else:
                continue
            ranked.append((rank, self.read_at.get(lu.device, 0.0), lu.device))
        return [dev for _, _, dev in sorted(ranked)[:DETAIL_BATCH]]

    def refresh(self, host: Host, lus: Sequence[LuPaths]) -> dict[str, LuDetail]:
        with self._lock:
            now = time.monotonic()
            want = self.wanted(lus, now)
            for dev in want:
                d = read_show_lu(host, dev)
                if d is not None:
                    # keyed by the device list lu printed (show lu echoes the same name)
                    self.details[dev] = d
                    self.read_at[dev] = now
            listed = {lu.device for lu in lus}
            for dev in [d for d in self.details if d not in listed]:
                del self.details[dev]
                self.read_at.pop(dev, None)
            return dict(self.details)


def read_topology(host: Host, cache: DetailCache) -> Topology | None:
    lus = read_list_lu(host)
    if lus is None:
        return None
    return Topology(tuple(lus), cache.refresh(host, lus) if lus else {})


# ------------------------------------------------------------------ collector

PATH_STATES = ("ok", "path_error", "lu_error", "reserved", "unavailable", "transitioning",
               "operational_but_closed", "invalid_closed", "unknown")
ACCESS_STATES = ("active_optimized", "active_not_optimized", "active", "standby", "unavailable", "transitioning", "unknown")


def _state_word(text: str) -> str:
    return "_".join(text.lower().split()) or "unknown"


#: MPxIO target port group access states (mpathadm show lu, lower-cased with _) that mean
#: "send I/O here": "active" is what symmetric-access and older arrays print for
#: active/optimized (SPC-4 asymmetric access states, mpathadm_text.c)
PREFERRED_TPG = ("active_optimized", "active")


def preferred_ports(tpgs: Sequence[tuple[str, Sequence[str]]], path_ports: Iterable[str] = ()) -> frozenset[str] | None:
    """Target ports of the target port groups the LU means I/O to go to: those in an
    active/optimized (or plain active) group; if none is, those in an active/non-optimized
    group (scsi_vhci then has nothing better).  ``tpgs`` holds (access state word, target
    ports), ``path_ports`` the target ports of the LU's paths.  None (every path equal) for
    a symmetric LU (no target port groups), and when no port of any group is a path's
    target port: the names are then not comparable (research/illumos.md: iSCSI port names
    differ between the two sections), and guessing would call healthy paths non-preferred."""
    if not tpgs:
        return None
    paths = set(path_ports)
    if paths and not any(p in paths for _, ports_ in tpgs for p in ports_):
        return None
    for wanted in (PREFERRED_TPG, ("active_not_optimized",)):
        ports = frozenset(p for state, ports_ in tpgs if state in wanted for p in ports_)
        if ports:
            return ports
    return frozenset()


def to_groups(lus: Iterable[tuple[str, str, bool, Sequence[Member]]], config=None) -> list[Group]:
    """kind="mpxio": group = logical unit (its WWN), member = path (initiator port ->
    target port, up as ``MpPath.up`` says), from ``mpathadm show lu``.  ``lus`` holds (lu,
    load balance, all target port groups active, paths).  scsi_vhci spreads I/O over the
    paths for ``round-robin`` and ``logical-block`` (scsi_vhci.conf load-balance); ``none``
    uses one path, and paths to a standby or unavailable port group of an asymmetric LU
    carry nothing until a failover: both are ``balancing="failover"``."""
    out = []
    for lu, load_balance, all_active, members in sorted(lus, key=lambda x: x[0]):
        load = load_balance in ("round-robin", "logical-block") and all_active
        out.append(
            Group(
                kind="mpxio",
                name=lu,
                policy=load_balance or "unknown",
                balancing="load" if load else "failover",
                members=tuple(sorted(members, key=lambda m: m.name)),
                expected=max(expected_members(config, "mpxio", lu), len(members)),
            )
        )
    return out


class Mpxio(Collector):
    name = "mpxio"
    platforms = frozenset({"illumos"})
    OPTIONS = {"topology_interval": "duration", "detail_interval": "duration"}
    description = "illumos MPxIO: paths per logical unit (mpathadm), path states, SAS disks marked local"

    def __init__(self, host, ctx):
        super().__init__(host, ctx)
        self._cadence: Cadence | None = None
        self._cache = DetailCache(float(ctx.option("detail_interval", DEFAULT_DETAIL_INTERVAL)))

    def _topology(self):
        if self._cadence is None:
            interval = float(self.ctx.option("topology_interval", DEFAULT_TOPOLOGY_INTERVAL))
            self._cadence = Cadence(lambda: read_topology(self.host, self._cache), interval)
        return self._cadence.get()

    def collect(self) -> Collected | list[Family]:
        topo, stamp = self._topology()
        if topo is None or not topo.lus:
            return []
        self.data_timestamp = stamp
        L = ("lu",)
        fi = info("mpxio_lu_info", f"MPxIO logical unit; value 1. group is the lanes group name; type from the device name (disk, enclosure, array-controller); transport from the initiator port names (sas, fc, iscsi); local=\"true\" for SAS LUs (JBOD disks: not network paths). From {SRC_LIST} and {SRC_SHOW}.", ("lu", "group", "device", "type", "transport", "local", "vendor", "product", "load_balance"))
        tp = gauge("mpxio_lu_paths", f"Paths of the logical unit. From {SRC_LIST} Total Path Count.", L)
        op = gauge("mpxio_lu_operational_paths", f"Paths in state OK (disabled paths included). From {SRC_LIST} Operational Path Count.", L)
        ps = gauge("mpxio_path_state", f"Path state, one series per state. From {SRC_SHOW} Path State.", ("lu", "path", "state"))
        pd = gauge("mpxio_path_disabled", f"1 if the path is administratively disabled. From {SRC_SHOW} Disabled.", ("lu", "path"))
        ta = gauge("mpxio_tpg_access_state", f"ALUA access state of a target port group, one series per state. From {SRC_SHOW} Target Port Groups / Access State.", ("lu", "tpg", "state"))
        model = []
        for lu in topo.lus:
            d = topo.details.get(lu.device)
            transport = d.transport if d else "unknown"
            fi.add((lu.lu, lu.lu, lu.device, lu.type, transport, "true" if transport == "sas" else "false",
                    d.vendor.strip() if d else "", d.product.strip() if d else "", d.load_balance if d else ""), 1)
            tp.add((lu.lu,), lu.total)
            op.add((lu.lu,), lu.operational)
            if d is None:
                continue  # not detailed yet (large JBOD, first runs): counts only
            members = []
            preferred = preferred_ports([(_state_word(t.access_state), t.ports) for t in d.tpgs], [p.target_port for p in d.paths])
            for p in d.paths:
                add_stateset(ps, (lu.lu, p.name), PATH_STATES, _state_word(p.state))
                pd.add((lu.lu, p.name), p.disabled)
                members.append(Member(name=p.name, up=p.up, preferred=None if preferred is None else p.target_port in preferred))
            for t in d.tpgs:
                add_stateset(ta, (lu.lu, t.id), ACCESS_STATES, _state_word(t.access_state))
            all_active = all(_state_word(t.access_state).startswith("active") for t in d.tpgs)
            model.append((lu.lu, d.load_balance, all_active, members, lu.total))
        groups = to_groups([(lu, lb, active, members) for lu, lb, active, members, _ in model], self.ctx.config)
        totals = {lu: total for lu, _, _, _, total in model}
        groups = [dataclasses.replace(g, expected=max(g.expected, totals.get(g.name, 0))) for g in groups]
        return Collected([fi, tp, op, ps, pd, ta], groups)
