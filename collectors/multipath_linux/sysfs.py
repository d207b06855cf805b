"""dm-multipath maps and their paths from sysfs: /sys/block/dm-N/{dm,slaves}, the SCSI
device state, ALUA access state and I/O error counters of each path."""

from __future__ import annotations

import sys
import threading
import time

from collectors.multipath_linux.model import WRAP32, SysfsMap, SysfsPath, transport_of
from exporter.api import Host, record

_HEX = frozenset("0123456789abcdefABCDEF")


def parse_hex_counter(text: str | None) -> int | None:
    """``ioerr_cnt``/``iotmo_cnt``: ``0x1a`` (scsi_sysfs.c show_iostat_counterbits)."""
    v = (text or "").strip()
    if not (2 < len(v) <= 18 and v.startswith("0x")) or not _HEX.issuperset(v[2:]):
        return None  # 0x and 1-16 hex digits, nothing else (int() would take 0x_1 or "0x1 ")
    return int(v, 16)


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


# ------------------------------------------------------------------ maps

#: seconds after which the topology is read again even when nothing said it changed (a path
#: added to a map whose disk was already listed; a map renamed); the kernel's uevents
#: (``Host.uevent_generation``) and a changed /sys/block listing refresh it at once
TOPOLOGY_REFRESH = 60.0


@record
class TopoPath:
    """What does not change while a path device exists (INQUIRY strings, dev_t, transport)."""

    dev: str
    devt: str | None
    vendor: str | None
    model: str | None
    transport: str


@record
class TopoMap:
    dm: str
    name: str
    wwid: str
    devt: str | None
    paths: tuple[TopoPath, ...]


def _strip(v: str | None) -> str | None:
    return v.strip() if v is not None else None


def _state(v: str | None) -> str | None:
    """A state word or INQUIRY string, interned: 4,000 paths share a handful of them."""
    return sys.intern(v.strip()) if v is not None else None


def read_topology(host: Host, block: list[str]) -> list[TopoMap]:
    """Which dm devices are multipath maps and which paths each has: /sys/block/dm-N/dm/
    {name,uuid}, dev, slaves/, and per path its link (transport), dev and INQUIRY strings.
    A map is a dm device whose uuid starts with ``mpath-`` (kpartx partitions are
    ``partN-mpath-``, LVM ``LVM-``: both left out)."""
    dms = [d for d in block if d.startswith("dm-")]
    vals = host.read_many([f"/sys/block/{dm}/dm/{a}" for dm in dms for a in ("name", "uuid")])
    maps = []
    for i, dm in enumerate(dms):
        name, uuid = _strip(vals[2 * i]), _strip(vals[2 * i + 1]) or ""
        if name is None or not uuid.startswith("mpath-"):
            continue  # vanished, not a dm device, or not a multipath map
        slaves = host.list_optional(f"/sys/block/{dm}/slaves")
        pv = host.read_many([f"/sys/block/{d}/{a}" for d in slaves for a in ("dev", "device/vendor", "device/model")] + [f"/sys/block/{dm}/dev"])
        paths = []
        for j, dev in enumerate(slaves):
            devt, vendor, model = _strip(pv[3 * j]), _state(pv[3 * j + 1]), _state(pv[3 * j + 2])
            if devt is None:
                continue  # removed mid-read
            try:
                link = host.readlink(f"/sys/block/{dev}")
            except OSError:
                link = ""
            # INQUIRY strings, space-padded (scsi_sysfs.c sdev_rd_attr vendor/model)
            paths.append(TopoPath(dev, devt, vendor or None, model or None, transport_of(link)))
        maps.append(TopoMap(dm, name or uuid[6:], uuid[len("mpath-") :], _strip(pv[-1]), tuple(paths)))
    return maps


class MapReader:
    """Maps and their paths, the topology read once and kept until the /sys/block listing
    changes, a uevent says a block or SCSI device changed, ``TOPOLOGY_REFRESH`` passes, or
    a scrape finds it stale (a map renamed or gone, a SCSI path without a state); per scrape
    only the volatile attributes are read: each map's name and suspended, each path's
    device/{state,access_state,ioerr_cnt,iotmo_cnt} (one ``read_many`` for all)."""

    def __init__(self) -> None:
        self.maps: list[TopoMap] | None = None
        self._key: tuple | None = None
        self._at = 0.0
        self._files: list[str] = []

    def _load(self, host: Host, block: list[str], key: tuple) -> None:
        self.maps = read_topology(host, block)
        self._key, self._at = key, time.monotonic()
        files = []
        for m in self.maps:
            files += (f"/sys/block/{m.dm}/dm/name", f"/sys/block/{m.dm}/dm/suspended")
            for p in m.paths:
                d = f"/sys/block/{p.dev}/device/"
                files += (d + "state", d + "access_state", d + "ioerr_cnt", d + "iotmo_cnt")
        self._files = files

    def read(self, host: Host, block: list[str] | None = None, generation: int = 0) -> list[SysfsMap]:
        """``block``: the /sys/block listing when the scrape has it already
        (``collectors._facts.sys_block``); ``generation``: the uevent generation."""
        if block is None:
            block = host.list_optional("/sys/block")
        key = (generation, tuple(block))
        if self.maps is None or key != self._key or time.monotonic() - self._at > TOPOLOGY_REFRESH:
            self._load(host, block, key)
        out = self._volatile(host)
        if out is None:  # the topology changed under us: read it again, once
            self._load(host, block, key)
            out = self._volatile(host) or []
        return out

    def _volatile(self, host: Host) -> list[SysfsMap] | None:
        vals = host.read_many(self._files)
        maps = []
        i = 0
        for m in self.maps or ():
            name, susp = _strip(vals[i]), _strip(vals[i + 1])
            i += 2
            if name is None or (name or m.wwid) != m.name:
                return None  # gone or renamed
            paths = []
            for p in m.paths:
                state, access, ioerr, iotmo = vals[i : i + 4]
                i += 4
                if state is None and p.transport in ("iscsi", "fc", "sas", "scsi"):
                    return None  # a SCSI device always has a state: this one went away
                paths.append(
                    SysfsPath(
                        dev=p.dev,
                        devt=p.devt,
                        scsi_state=_state(state),
                        access_state=_state(access),
                        ioerr_cnt=parse_hex_counter(ioerr),
                        iotmo_cnt=parse_hex_counter(iotmo),
                        vendor=p.vendor,
                        model=p.model,
                        transport=p.transport,
                    )
                )
            maps.append(SysfsMap(dm=m.dm, name=m.name, wwid=m.wwid, devt=m.devt, suspended=None if susp not in ("0", "1") else susp == "1", paths=tuple(paths)))
        return maps


def read_sysfs_maps(host: Host, block: list[str] | None = None) -> list[SysfsMap]:
    """Maps and their paths, everything read now (``MapReader`` keeps the topology)."""
    return MapReader().read(host, block)
