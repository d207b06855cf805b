"""Collector ``multipath`` (Linux dm-multipath): maps, their paths, and the NIC each path uses.

Sources, in layers:
  sysfs (always; no root)
    /sys/block/dm-N/dm/{uuid,name,suspended}, /sys/block/dm-N/slaves/   drivers/md/dm-sysfs.c;
        a map is a dm device whose uuid starts with ``mpath-`` (kpartx partitions are
        ``partN-mpath-``, LVM ``LVM-``: both left out)
    /sys/block/sdX/device/{state,access_state,ioerr_cnt,iotmo_cnt}        drivers/scsi/scsi_sysfs.c
        (the counters are ``0x%x`` of 32-bit atomics: unwrapped here)
    /proc/diskstats                                                        bytes of every path and map
  multipathd (optional; its unix socket, no exec; ``list|show`` is allowed for non-root)
    ``show maps json`` (libmultipath/print.c): dm state of each path, checker state, path
    groups and the active one, selector, features (queue_if_no_path), priorities.
    Socket: ``/run/multipathd.socket`` first, then the abstract ``@/org/kernel/linux/storage/
    multipathd`` (libmpathcmd/mpath_cmd.c mpath_connect__, Makefile.inc); framing: a native
    size_t length then the NUL-terminated text, both ways (mpath_cmd.c mpath_send_cmd,
    mpath_recv_reply_len; MAX_REPLY_LEN 32 MiB in mpath_cmd.h).  A reply ``timeout`` means
    the daemon could not take its lock within uxsock_timeout (multipathd/uxlsnr.c): the
    collector fails for that scrape, after asking ``show daemon`` (unlocked) whether the daemon
    is alive, so the error says busy or dead.
  dm status/table line (root-only fallback when multipathd does not answer)
    ``dmsetup status --target multipath`` and ``dmsetup table --target multipath``
    (grammar: drivers/md/dm-mpath.c multipath_status; multipath-tools libmultipath/dmparser.c)
  iSCSI sessions behind each path (collectors/iscsi_linux.py) for target, portal, iface, NIC.

The block devices themselves are never opened (a map with queue_if_no_path and no path
blocks any opener in D state).

Metrics: lanes_multipath_map_info, _map_suspended, _map_queue_if_no_path, _map_paths,
_map_paths_usable, _map_path_groups, _map_active_group, _map_read_bytes_total,
_map_written_bytes_total, _map_path_faults_total; per path _path_scsi_state, _path_alua_state,
_path_dm_state, _path_checker_state, _path_group, _path_group_active, _path_priority,
_path_failures, _path_io_errors_total, _path_io_timeouts_total; lanes_path_info (path -> iSCSI
session -> NIC and portal); the group model kind="multipath" (group = map, member = sdX; path
bytes are the members' receive/transmit bytes, map bytes are separate: never summed together).

Platform: Linux.  By hand: ``multipathd show maps json``; ``dmsetup status --target multipath``;
``grep . /sys/block/dm-*/dm/{name,uuid} /sys/block/sd*/device/state``; ``cat /proc/diskstats``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import struct
import threading
from collections.abc import Mapping, Sequence

from collectors import _diskstats, _link_common, groups
from collectors._base import Collector, ParseError
from collectors.iscsi_linux import SessionReader, Stateset, disk_session_map, shared_block, shared_sessions
from exporter.host import CommandNotFound, CommandTimeout, Host, HostError
from exporter.metrics import Family, counter, gauge, info

SOCKETS = ("/run/multipathd.socket", "@/org/kernel/linux/storage/multipathd")
MAX_REPLY_LEN = 32 * 1024 * 1024  # libmpathcmd/mpath_cmd.h
# drivers/scsi/scsi_sysfs.c sdev_states[]: the ones a path lives in; created, quiesce,
# cancel, deleted and created-blocked are short transitions and count as unknown (a path
# has about 30 state series already; 1,000 maps x 4 paths must stay affordable)
SCSI_STATES = ("running", "blocked", "transport-offline", "offline", "unknown")
# drivers/scsi/scsi_sysfs.c sdev_show_access_state (scsi_access_state_name)
ALUA_STATES = ("active/optimized", "active/non-optimized", "standby", "unavailable", "lba-dependent", "offline", "transitioning", "unknown")
DM_PATH_STATES = ("active", "failed")
# libmultipath/checkers.c checker_state_names[]
CHECKER_STATES = ("ready", "faulty", "shaky", "ghost", "i/o pending", "i/o timeout", "delayed", "disconnected", "undef", "unknown")
WRAP32 = 1 << 32


# ------------------------------------------------------------------ models


@dataclasses.dataclass(frozen=True)
class SysfsPath:
    dev: str  # sdc
    devt: str | None  # 8:32
    scsi_state: str | None
    access_state: str | None
    ioerr_cnt: int | None
    iotmo_cnt: int | None
    vendor: str | None = None
    model: str | None = None
    transport: str = ""


def transport_of(link: str) -> str:
    """The transport a path device hangs off, from its /sys/block/<dev> link target:
    ``.../hostH/sessionN/target...`` is iSCSI (scsi_transport_iscsi.c), ``.../rport-H:C-N/``
    Fibre Channel (scsi_transport_fc.c), ``.../end_device-...`` SAS, ``nvme`` native NVMe."""
    if re.search(r"/session\d+/", link):
        return "iscsi"
    if "/rport-" in link:
        return "fc"
    if "/end_device-" in link:
        return "sas"
    if "/nvme" in link:
        return "nvme"
    return "scsi" if "/target" in link else ""


@dataclasses.dataclass(frozen=True)
class SysfsMap:
    dm: str  # dm-2
    name: str  # alias or WWID
    wwid: str
    devt: str | None
    suspended: bool | None
    paths: tuple[SysfsPath, ...]


@dataclasses.dataclass(frozen=True)
class PathState:
    """dm-level view of one path (multipathd or dm status line)."""

    dev: str | None  # sdX (multipathd) or None (dm status: only dev_t)
    devt: str | None
    dm_state: str | None  # active | failed
    checker: str | None
    priority: int | None
    fail_count: int | None
    host_adapter: str | None  # iSCSI: local address of the session


@dataclasses.dataclass(frozen=True)
class PathGroup:
    index: int  # 1-based
    state: str  # active | enabled | disabled
    selector: str | None
    priority: int | None
    paths: tuple[PathState, ...]


@dataclasses.dataclass(frozen=True)
class MapState:
    """dm-level view of one map."""

    name: str
    dm: str | None
    wwid: str | None
    features: str | None
    hwhandler: str | None
    vendor: str | None
    product: str | None
    path_faults: int | None
    groups: tuple[PathGroup, ...]
    source: str  # multipathd | dm


# ------------------------------------------------------------------ pure parsers


def parse_hex_counter(text: str | None) -> int | None:
    """``ioerr_cnt``/``iotmo_cnt``: ``0x1a`` (scsi_sysfs.c show_iostat_counterbits)."""
    v = (text or "").strip()
    if not re.fullmatch(r"0x[0-9a-fA-F]{1,16}", v):
        return None
    return int(v, 16)


def pack_request(command: str) -> bytes:
    """libmpathcmd mpath_send_cmd: native size_t strlen+1, then the command and its NUL."""
    data = command.encode() + b"\0"
    return struct.pack("@N", len(data)) + data


def unpack_reply(buf: bytes, eof: bool) -> str | None:
    """libmpathcmd mpath_recv_reply: native size_t length, then that many bytes ending in NUL."""
    size = struct.calcsize("@N")
    if len(buf) < size:
        if eof:
            raise ParseError("multipathd socket", None, "connection closed before the reply length")
        return None
    (n,) = struct.unpack("@N", buf[:size])
    if n <= 0 or n >= MAX_REPLY_LEN:
        raise ParseError("multipathd socket", None, f"reply length {n} out of range")
    if len(buf) < size + n:
        if eof:
            raise ParseError("multipathd socket", None, "connection closed mid-reply")
        return None
    return buf[size : size + n].rstrip(b"\0").decode("utf-8", "replace")


def _s(d: Mapping, key: str) -> str | None:
    v = d.get(key)
    if v is None:
        return None
    v = str(v).strip()  # RHEL 7 pads INQUIRY strings: "IBM     " (real-captures.md L-6)
    return None if v in ("", "undef", "[undef]", "##", "[unknown]") else v


def _i(d: Mapping, key: str) -> int | None:
    v = d.get(key)
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and re.fullmatch(r"-?[0-9]{1,20}", v.strip()):
        return int(v)
    return None


def parse_multipathd_json(text: str) -> list[MapState]:
    """``multipathd show maps json`` (libmultipath/print.c snprint_multipath_topology_json).
    Every key is optional (marginal_st since 0.8.3, lun_hex since 0.8.9, absent on FC)."""
    src = "multipathd show maps json"
    body = text.strip()
    if body == "timeout":
        raise ParseError(src, None, "multipathd answered 'timeout' (busy: lock not taken within uxsock_timeout)")
    if body.startswith("fail"):
        raise ParseError(src, None, f"multipathd refused: {body.splitlines()[-1][:120]!r}")
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as e:  # truncated JSON is seen in the field (L-6)
        raise ParseError(src, None, f"invalid JSON: {str(e)[:100]}") from None
    if not isinstance(doc, dict):
        raise ParseError(src, None, "top level is not an object")
    if doc.get("major_version", 0) != 0:
        raise ParseError(src, None, f"unsupported major_version {doc.get('major_version')!r}")
    maps = doc.get("maps", [])
    if not isinstance(maps, list):
        raise ParseError(src, None, "'maps' is not a list")
    out = []
    for m in maps:
        if not isinstance(m, dict) or not _s(m, "name"):
            raise ParseError(src, None, "map without a name")
        pgs = m.get("path_groups", [])
        if not isinstance(pgs, list):
            raise ParseError(src, None, f"{m['name']}: 'path_groups' is not a list")
        groups_ = []
        for n, pg in enumerate(pgs, 1):
            if not isinstance(pg, dict) or not isinstance(pg.get("paths", []), list):
                raise ParseError(src, None, f"{m['name']}: bad path group")
            paths = []
            for p in pg.get("paths", []):
                if not isinstance(p, dict):
                    raise ParseError(src, None, f"{m['name']}: bad path")
                dev = _s(p, "dev")
                paths.append(
                    PathState(
                        dev=None if dev == "-" else dev,
                        devt=_s(p, "dev_t") if _s(p, "dev_t") != "#:#" else None,
                        dm_state=_s(p, "dm_st"),
                        checker=_s(p, "chk_st"),
                        priority=_i(p, "pri"),
                        fail_count=None,
                        host_adapter=_s(p, "host_adapter"),
                    )
                )
            groups_.append(
                PathGroup(
                    index=_i(pg, "group") or n,
                    state=_s(pg, "dm_st") or "unknown",
                    selector=_s(pg, "selector"),
                    priority=_i(pg, "pri"),
                    paths=tuple(paths),
                )
            )
        out.append(
            MapState(
                name=_s(m, "name") or "",
                dm=_s(m, "sysfs"),
                wwid=_s(m, "uuid"),
                features=_s(m, "features"),
                hwhandler=_s(m, "hwhandler"),
                vendor=_s(m, "vend"),
                product=_s(m, "prod"),
                path_faults=_i(m, "path_faults"),
                groups=tuple(groups_),
                source="multipathd",
            )
        )
    return out


NUM = re.compile(r"[0-9]{1,20}").fullmatch


class _Tokens:
    def __init__(self, tokens: Sequence[str], source: str, lineno: int):
        self.t, self.i, self.source, self.lineno = tokens, 0, source, lineno

    def take(self) -> str:
        if self.i >= len(self.t):
            raise ParseError(self.source, self.lineno, "line ends early")
        self.i += 1
        return self.t[self.i - 1]

    def int(self, limit: int = 1 << 20) -> int:
        v = self.take()
        if not NUM(v) or int(v) > limit:
            raise ParseError(self.source, self.lineno, f"expected a count, got {v[:20]!r}")
        return int(v)

    def skip(self, n: int) -> list[str]:
        return [self.take() for _ in range(n)]


def _dm_lines(text: str, source: str):
    """(lineno, name or None, tokens after the target type) for each multipath target line.
    ``dmsetup status`` prints ``name: `` only in its all-devices form; lines end with a blank
    and one device can have several lines, one per segment (real-captures.md L-7)."""
    for lineno, raw in enumerate(text.splitlines(), 1):
        t = raw.split()
        if not t:
            continue
        name = None
        if t[0].endswith(":"):
            name, t = t[0][:-1], t[1:]
        if len(t) < 3 or not NUM(t[0]) or not NUM(t[1]):
            if raw.strip() == "No devices found":
                continue
            raise ParseError(source, lineno, "expected '<start> <length> <target>'")
        if t[2] != "multipath":
            continue
        yield lineno, name, t[3:]


DEVT = re.compile(r"\d+:\d+")


def parse_dm_status(text: str) -> dict[str, MapState]:
    """dm-mpath multipath_status, STATUSTYPE_INFO:
    ``<#feat> <feat..> <#hwh> <hwh..> <#pgs> <cur_pg> {<A|E|D> <#sel> <sel..> <#paths>
    <#path_args> {<maj:min> <A|F> <fail_count> <args..>}}``."""
    src = "dmsetup status"
    out: dict[str, MapState] = {}
    for lineno, name, t in _dm_lines(text, src):
        k = _Tokens(t, src, lineno)
        k.skip(k.int())  # queue_io, pg_init_count
        k.skip(k.int())  # hardware handler status
        npgs, cur = k.int(), k.int()
        pgs = []
        for n in range(1, npgs + 1):
            letter = k.take()
            if letter not in ("A", "E", "D"):
                raise ParseError(src, lineno, f"path group state {letter[:8]!r}")
            k.skip(k.int())
            npaths, nargs = k.int(), k.int()
            paths = []
            for _ in range(npaths):
                devt, st, fails = k.take(), k.take(), k.int(1 << 62)
                if not DEVT.fullmatch(devt) or st not in ("A", "F"):
                    raise ParseError(src, lineno, f"bad path {devt[:20]!r} {st[:4]!r}")
                k.skip(nargs)
                paths.append(PathState(None, devt, "active" if st == "A" else "failed", None, None, fails, None))
            # the current group is <cur_pg>, never the position (L-7: first listed can be E)
            state = {"A": "active", "E": "enabled", "D": "disabled"}[letter]
            if n == cur and letter != "D":
                state = "active"
            elif state == "active" and n != cur:
                state = "enabled"
            pgs.append(PathGroup(n, state, None, None, tuple(paths)))
        key = name or ""
        out[key] = MapState(key, None, None, None, None, None, None, None, tuple(pgs), "dm")
    return out


def parse_dm_table(text: str) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """dm-mpath multipath_status, STATUSTYPE_TABLE: ``<#feat> <feat..> <#hwh> [<name> <args..>]
    <#pgs> <init_pg> {<selector> <#sel> <sel..> <#paths> <#path_args> {<maj:min> <args..>}}``.
    Returns name -> (features, hwhandler, selector per group)."""
    src = "dmsetup table"
    out = {}
    for lineno, name, t in _dm_lines(text, src):
        k = _Tokens(t, src, lineno)
        nf = k.int()
        features = " ".join([str(nf), *k.skip(nf)])
        nh = k.int()
        hw = " ".join([str(nh), *k.skip(nh)])
        npgs = k.int()
        k.int()
        sels = []
        for _ in range(npgs):
            sel = k.take()
            sel_args = k.skip(k.int())
            sels.append(" ".join([sel, str(len(sel_args)), *sel_args]))  # as multipathd prints it: "service-time 0"
            npaths, nargs = k.int(), k.int()
            for _ in range(npaths):
                if not DEVT.fullmatch(k.take()):
                    raise ParseError(src, lineno, "bad path device")
                k.skip(nargs)
        out[name or ""] = (features, hw, tuple(sels))
    return out


def queue_if_no_path(features: str | None) -> bool | None:
    if features is None:
        return None
    return "queue_if_no_path" in features.split()


def grouping_policy(groups_: Sequence[PathGroup]) -> str:
    """multipath.conf path_grouping_policy as it shows in the table: one group holding every
    path is multibus; one path per group is failover; otherwise groups by priority/node."""
    if not groups_:
        return "unknown"
    if len(groups_) == 1:
        return "multibus" if len(groups_[0].paths) > 1 else "failover"
    if all(len(g.paths) <= 1 for g in groups_):
        return "failover"
    return "group_by_prio"


class Unwrap32:
    """Unwraps 32-bit hex counters that wrap (scsi iocounterbits = 32).  A drop from the top
    quarter to the bottom quarter is a wrap; any other drop is a reset (sd revalidate resets
    ioerr_cnt) and is passed through so Prometheus sees the reset."""

    def __init__(self) -> None:
        self._state: dict[tuple, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def __call__(self, key: tuple, raw: int | None) -> int | None:
        if raw is None:
            return None
        with self._lock:
            last, wraps = self._state.get(key, (raw, 0))
            if raw < last:
                if last >= 3 * WRAP32 // 4 and raw < WRAP32 // 4:
                    wraps += 1
                else:
                    wraps = 0
            self._state[key] = (raw, wraps)
        return raw + wraps * WRAP32

    def keep(self, keys: set) -> None:
        with self._lock:
            for k in [k for k in self._state if k not in keys]:
                del self._state[k]


# ------------------------------------------------------------------ reading


def _opt(host: Host, path: str) -> str | None:
    v = host.read_optional(path)
    return v.strip() if v is not None else None


def read_sysfs_maps(host: Host, identity: dict | None = None, block: list[str] | None = None) -> list[SysfsMap]:
    """Maps and their paths.  ``identity`` caches what does not change while a device
    exists, so that a scrape of 1,000 maps x 4 paths reads only the volatile attributes:
    a dm device's uuid and dev_t (keyed by dm-N and its name, read every scrape), a path's
    dev_t, vendor, model and transport (keyed by its name); pruned to the devices seen.
    ``block``: the /sys/block listing when the scrape has it already (``shared_block``)."""
    maps = []
    cache = identity if identity is not None else {}
    seen = set()
    for dm in host.list_optional("/sys/block") if block is None else block:
        if not dm.startswith("dm-"):
            continue
        name = _opt(host, f"/sys/block/{dm}/dm/name")
        if name is None:
            continue  # vanished, or not a dm device
        key = ("dm", dm, name)
        seen.add(key)
        ident = cache.get(key)
        if ident is None:
            ident = cache[key] = (_opt(host, f"/sys/block/{dm}/dm/uuid") or "", _opt(host, f"/sys/block/{dm}/dev"))
        uuid, dm_devt = ident
        if not uuid.startswith("mpath-"):
            continue  # LVM-, CRYPT-, partN-mpath- (kpartx partitions)
        susp = _opt(host, f"/sys/block/{dm}/dm/suspended")
        paths = []
        for dev in host.list_optional(f"/sys/block/{dm}/slaves"):
            d = f"/sys/block/{dev}"
            pkey = ("path", dev)
            seen.add(pkey)
            pid = cache.get(pkey)
            if pid is None:
                try:
                    link = host.readlink(d)
                except OSError:
                    link = ""
                devt = _opt(host, f"{d}/dev")
                if devt is None:
                    continue  # removed mid-scrape
                # INQUIRY strings, space-padded (scsi_sysfs.c sdev_rd_attr vendor/model)
                pid = cache[pkey] = (devt, _opt(host, f"{d}/device/vendor") or None, _opt(host, f"{d}/device/model") or None, transport_of(link))
            state = _opt(host, f"{d}/device/state")
            if state is None and pid[3] in ("iscsi", "fc", "sas", "scsi"):
                cache.pop(pkey, None)
                continue  # a SCSI device always has a state: this one went away mid-scrape
            paths.append(
                SysfsPath(
                    dev=dev,
                    devt=pid[0],
                    scsi_state=state,
                    access_state=_opt(host, f"{d}/device/access_state"),
                    ioerr_cnt=parse_hex_counter(host.read_optional(f"{d}/device/ioerr_cnt")),
                    iotmo_cnt=parse_hex_counter(host.read_optional(f"{d}/device/iotmo_cnt")),
                    vendor=pid[1],
                    model=pid[2],
                    transport=pid[3],
                )
            )
        maps.append(
            SysfsMap(
                dm=dm,
                name=name or uuid[6:],
                wwid=uuid[len("mpath-") :],
                devt=dm_devt,
                suspended=None if susp not in ("0", "1") else susp == "1",
                paths=tuple(paths),
            )
        )
    for key in [k for k in cache if k not in seen]:
        del cache[key]
    return maps


# ------------------------------------------------------------------ collector


@dataclasses.dataclass(frozen=True)
class PathView:
    """One path with everything known about it, input to the group model."""

    map: str
    dev: str
    scsi_state: str | None
    access_state: str | None
    dm_state: str | None
    checker: str | None
    group: int | None
    group_active: bool | None
    priority: int | None
    fail_count: int | None
    io_errors: int | None
    io_timeouts: int | None
    read_bytes: int | None
    written_bytes: int | None
    vendor: str | None = None
    model: str | None = None
    target: str = ""
    portal: str = ""
    iface: str = ""
    netdev: str = ""
    local_address: str = ""
    transport: str = ""

    @property
    def up(self) -> bool:
        """Able to carry I/O now: dm says active (where known) and the SCSI device runs and
        its ALUA port is not unavailable/offline/transitioning."""
        if self.dm_state == "failed":
            return False
        # an NVMe namespace under dm-multipath (nvme_core.multipath=N) shows its
        # controller's state there: "live" (drivers/nvme/host/sysfs.c nvme_sysfs_show_state)
        if self.scsi_state is not None and self.scsi_state not in ("running", "live"):
            return False
        if self.access_state in ("unavailable", "offline", "transitioning"):
            return False
        return True


@dataclasses.dataclass(frozen=True)
class MapView:
    name: str
    wwid: str
    dm: str
    suspended: bool | None
    state: MapState | None
    selector: str
    policy: str
    read_bytes: int | None
    written_bytes: int | None
    paths: tuple[PathView, ...]


class MultipathLinux(Collector):
    name = "multipath"
    platforms = frozenset({"linux"})
    OPTIONS = {"socket": "str", "socket_timeout": "duration", "dmsetup": "bool"}
    description = "dm-multipath maps and paths from sysfs, multipathd (socket) or the dm status line"

    def __init__(self, host, ctx):
        super().__init__(host, ctx)
        self.memory = groups.MemberMemory()
        self.unwrap = Unwrap32()
        self.sessions = SessionReader()
        self.identity: dict = {}
        self.statesets = path_statesets()

    # -- dm-level sources

    def _timeouts(self) -> tuple[float, float]:
        total = float(self.ctx.option("timeout", 8.0))
        req = self.ctx.option("socket_timeout")
        req = float(req) if req else min(5.0, 0.6 * total)  # a little above uxsock_timeout (4 s)
        return req, min(1.0, 0.2 * total)

    def _multipathd(self, command: str, timeout: float) -> str:
        sock = self.ctx.option("socket")
        r = self.host.unix_request(
            ["multipathd", *command.split()],
            [sock] if sock else list(SOCKETS),
            pack_request(command),
            timeout=timeout,
            unpack=unpack_reply,
        )
        if not r.ok:
            raise HostError(f"multipathd {command}: exit status {r.returncode}: {r.stderr.strip()[:120]}")
        return r.stdout

    def _daemon_state(self, timeout: float) -> str:
        """``show daemon`` is registered unlocked (multipathd/callbacks.c): it answers while
        the daemon's lock is held, so it tells a busy daemon from a dead one."""
        try:
            return "busy: " + self._multipathd("show daemon", timeout).strip()[:80]
        except (HostError, ParseError) as e:
            return f"not answering ({e})"

    def read_dm_state(self) -> dict[str, MapState]:
        """Maps by dm name (dm-N) or by map name; {} when neither source is available."""
        req, probe = self._timeouts()
        try:
            text = self._multipathd("show maps json", req)
        except CommandNotFound:
            return self._dmsetup()  # multipathd not running: not a failure
        except CommandTimeout as e:
            raise HostError(f"{e}; daemon {self._daemon_state(probe)}") from None
        try:
            maps = parse_multipathd_json(text)
        except ParseError as e:
            if text.strip() == "timeout":
                raise HostError(f"{e}; daemon {self._daemon_state(probe)}") from None
            raise
        return {m.dm or m.name: m for m in maps} | {m.name: m for m in maps}

    def _dmsetup(self) -> dict[str, MapState]:
        if not self.ctx.option("dmsetup", True):
            return {}
        req = self._timeouts()[0] / 2  # two commands inside the socket's share of the timeout
        try:
            status = self.host.run("dmsetup", ["status", "--target", "multipath"], timeout=req)
        except CommandNotFound:
            return {}
        if not status.ok:
            return {}  # not root (DM ioctls need CAP_SYS_ADMIN, dm-ioctl.c ctl_ioctl)
        maps = parse_dm_status(status.stdout)
        try:
            table = self.host.run("dmsetup", ["table", "--target", "multipath"], timeout=req)
        except CommandNotFound:
            table = None
        tables = parse_dm_table(table.stdout) if table is not None and table.ok else {}
        out = {}
        for name, m in maps.items():
            feats, hw, sels = tables.get(name, (None, None, ()))
            pgs = tuple(dataclasses.replace(g, selector=sels[i] if i < len(sels) else None) for i, g in enumerate(m.groups))
            out[name] = dataclasses.replace(m, features=feats, hwhandler=hw, groups=pgs)
        return out

    # -- assembling

    def collect(self) -> list[Family]:
        smaps = read_sysfs_maps(self.host, self.identity, shared_block(self.host, self.ctx))
        if not smaps:
            return []
        dm = self.read_dm_state()
        disks = _diskstats.shared_diskstats(self.host, self.ctx)
        sessions = disk_session_map(shared_sessions(self.host, self.ctx, self.sessions))
        links = _link_common.shared_links(self.host, self.ctx)
        views = []
        keys = set()
        for sm in sorted(smaps, key=lambda m: m.name):
            state = dm.get(sm.dm) or dm.get(sm.name)
            by_dev: dict[str, tuple[PathGroup, PathState]] = {}
            for g in state.groups if state else ():
                for p in g.paths:
                    by_dev[p.dev or p.devt or ""] = (g, p)
            paths = []
            for sp in sm.paths:
                g, p = by_dev.get(sp.dev) or by_dev.get(sp.devt or "") or (None, None)
                ds = disks.get(sp.dev)
                sess = sessions.get(sp.dev)
                kerr, ktmo = (sp.dev, sp.devt, "err"), (sp.dev, sp.devt, "tmo")
                keys.add(kerr)
                keys.add(ktmo)
                ident = sess.identity if sess else None
                paths.append(
                    PathView(
                        map=sm.name,
                        dev=sp.dev,
                        scsi_state=sp.scsi_state,
                        access_state=sp.access_state,
                        dm_state=p.dm_state if p else None,
                        checker=p.checker if p else None,
                        group=g.index if g else None,
                        group_active=(g.state == "active") if g else None,
                        priority=p.priority if p else None,
                        fail_count=p.fail_count if p else None,
                        io_errors=self.unwrap(kerr, sp.ioerr_cnt),
                        io_timeouts=self.unwrap(ktmo, sp.iotmo_cnt),
                        read_bytes=ds.read_bytes if ds else None,
                        written_bytes=ds.write_bytes if ds else None,
                        vendor=sp.vendor,
                        model=sp.model,
                        target=ident.target if ident else "",
                        portal=ident.portal if ident else "",
                        iface=ident.iface if ident else "",
                        netdev=(sess.netdev or "") if sess else "",
                        local_address=(ident.local_address if ident and ident.local_address else (p.host_adapter or "") if p and sess else ""),
                        transport="iscsi" if sess else sp.transport,
                    )
                )
            selector = ""
            if state:
                active = [g for g in state.groups if g.state == "active"]
                sel = (active or list(state.groups) or [None])[0]
                selector = (sel.selector or "") if sel else ""
            md = disks.get(sm.dm)
            views.append(
                MapView(
                    name=sm.name,
                    wwid=sm.wwid,
                    dm=sm.dm,
                    suspended=sm.suspended,
                    state=state,
                    selector=selector,
                    policy=grouping_policy(state.groups) if state else "unknown",
                    read_bytes=md.read_bytes if md else None,
                    written_bytes=md.write_bytes if md else None,
                    paths=tuple(paths),
                )
            )
        self.unwrap.keep(keys)
        fams = map_families(views) + path_families(views, self.statesets)
        fams.append(path_info_family(views))
        fams += groups.group_families(self.memory.apply(groups.multipath_groups(views, links, self.ctx.config)), self.ctx.sampler)
        return fams


def path_info_family(views: Sequence[MapView]) -> Family:
    """lanes_path_info: joins a kind=multipath member to its iSCSI session, NIC and portal.
    ``netdev`` joins lanes_link_info{link}; kind/group/member join the lanes_member_* series."""
    pi = info(
        "path_info",
        "A storage path and what it runs over; value 1. netdev joins lanes_link_info{link}. From /sys/block/<path> -> "
        "/sys/class/iscsi_session (targetname, connection persistent_address:port, ifacename), /sys/class/iscsi_host "
        "(netdev, ipaddress) and /proc/net/route when the iface is not bound.",
        ("kind", "group", "member", "target", "portal", "iface", "netdev", "local_address", "transport"),
    )
    add = pi.add_str  # every label value is a str already (sysfs text, names)
    for v in views:
        for p in v.paths:
            add(("multipath", v.name, p.dev, p.target, p.portal, p.iface, p.netdev, p.local_address, p.transport or "unknown"), 1)
    return pi


def map_families(views: Sequence[MapView]) -> list[Family]:
    L = ("map",)
    mi = info(
        "multipath_map_info",
        "dm-multipath map; value 1. From /sys/block/dm-N/dm/{name,uuid} and, where available, multipathd show maps json "
        "(vend, prod, features, hwhandler, selector) or dmsetup table; source names which.",
        ("map", "wwid", "dm", "vendor", "product", "selector", "policy", "features", "hwhandler", "source"),
    )
    su = gauge("multipath_map_suspended", "1 if the dm device is suspended. From /sys/block/dm-N/dm/suspended.", L)
    q = gauge(
        "multipath_map_queue_if_no_path",
        "1 if the map queues I/O when no path is usable (I/O hangs instead of failing). From the features of multipathd show maps json or dmsetup table.",
        L,
    )
    np_ = gauge("multipath_map_paths", "Paths of the map (failed ones included). From /sys/block/dm-N/slaves.", L)
    nu = gauge("multipath_map_paths_usable", "Paths able to carry I/O now (dm active, SCSI running, ALUA port usable). From sysfs and multipathd or the dm status line.", L)
    ng = gauge("multipath_map_path_groups", "Path groups of the map. From multipathd show maps json or dmsetup status.", L)
    ag = gauge("multipath_map_active_group", "1-based index of the active path group, 0 if none. From multipathd show maps json or dmsetup status.", L)
    rb = counter("multipath_map_read_bytes_total", "Bytes read through the map (the sum the paths carried; never add both). From /proc/diskstats of dm-N.", L)
    wb = counter("multipath_map_written_bytes_total", "Bytes written through the map. From /proc/diskstats of dm-N.", L)
    pf = counter("multipath_map_path_faults_total", "Path failures multipathd counted for the map since it started. From multipathd show maps json path_faults.", L)
    for v in views:
        st = v.state
        vendor = (st.vendor if st else None) or next((p.vendor for p in v.paths if p.vendor), "")
        product = (st.product if st else None) or next((p.model for p in v.paths if p.model), "")
        # label values are str already (sysfs text, multipathd JSON through _s): add_str
        mi.add_str(
            (
                v.name, v.wwid, v.dm, vendor, product,
                v.selector, v.policy,
                (st.features or "") if st else "", (st.hwhandler or "") if st else "",
                st.source if st else "sysfs",
            ),
            1,
        )
        lv = (v.name,)
        su.add_str(lv, v.suspended)
        q.add_str(lv, queue_if_no_path(st.features) if st else None)
        np_.add_str(lv, len(v.paths))
        nu.add_str(lv, sum(1 for p in v.paths if p.up))
        if st:
            ng.add_str(lv, len(st.groups))
            ag.add_str(lv, next((g.index for g in st.groups if g.state == "active"), 0))
            pf.add_str(lv, st.path_faults)
        rb.add_str(lv, v.read_bytes)
        wb.add_str(lv, v.written_bytes)
    return [mi, su, q, np_, nu, ng, ag, rb, wb, pf]


def path_statesets() -> tuple[Stateset, Stateset, Stateset, Stateset]:
    """SCSI, ALUA, dm and checker state series of paths (one set per collector)."""
    return Stateset(SCSI_STATES), Stateset(ALUA_STATES), Stateset(DM_PATH_STATES), Stateset(CHECKER_STATES)


def path_families(views: Sequence[MapView], statesets: tuple[Stateset, ...] | None = None) -> list[Family]:
    L = ("map", "path")
    scsi, alua, dms, checker = statesets or path_statesets()
    ss = gauge("multipath_path_scsi_state", "SCSI device state of the path, one series per state. From /sys/block/<path>/device/state.", (*L, "state"))
    al = gauge("multipath_path_alua_state", "ALUA access state of the path's target port, one series per state. From /sys/block/<path>/device/access_state.", (*L, "state"))
    dm = gauge("multipath_path_dm_state", "dm-multipath's own state of the path (failed = taken out of use). From multipathd show maps json dm_st or dmsetup status A/F.", (*L, "state"))
    ck = gauge("multipath_path_checker_state", "multipathd path checker state, one series per state. From multipathd show maps json chk_st.", (*L, "state"))
    pg = gauge("multipath_path_group", "1-based path group index of the path. From multipathd show maps json or dmsetup status.", L)
    pa = gauge("multipath_path_group_active", "1 if the path belongs to the active path group (only that group carries I/O). From multipathd show maps json or dmsetup status.", L)
    pr = gauge("multipath_path_priority", "Path priority (ALUA: 50 optimized, 10 non-optimized, 1 standby). From multipathd show maps json pri.", L, signed=True)
    fc = gauge("multipath_path_failures", "Times the kernel failed the path since the table was loaded (a gauge: it resets on reload). From dmsetup status fail_count.", L)
    ie = counter("multipath_path_io_errors_total", "SCSI commands of the path that ended in error (32-bit hex counter, unwrapped). From /sys/block/<path>/device/ioerr_cnt.", L)
    it = counter("multipath_path_io_timeouts_total", "SCSI commands of the path that timed out (unwrapped). From /sys/block/<path>/device/iotmo_cnt.", L)
    for v in views:
        for p in v.paths:
            lv = (v.name, p.dev)  # str: map name and sysfs device name
            scsi.add(ss, lv, p.scsi_state)
            alua.add(al, lv, p.access_state)
            dms.add(dm, lv, p.dm_state if p.dm_state in DM_PATH_STATES else None)
            checker.add(ck, lv, p.checker)
            pg.add_str(lv, p.group)
            pa.add_str(lv, p.group_active)
            pr.add_str(lv, p.priority)
            fc.add_str(lv, p.fail_count)
            ie.add_str(lv, p.io_errors)
            it.add_str(lv, p.io_timeouts)
    for sset in (scsi, alua, dms, checker):
        sset.roll()
    return [ss, al, dm, ck, pg, pa, pr, fc, ie, it]
