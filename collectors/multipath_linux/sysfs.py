"""dm-multipath maps and their paths from sysfs: /sys/block/dm-N/{dm,slaves}, the SCSI
device state, ALUA access state and I/O error counters of each path."""

from __future__ import annotations

import re
import threading

from collectors.multipath_linux.model import WRAP32, SysfsMap, SysfsPath, transport_of
from exporter.api import Host


def parse_hex_counter(text: str | None) -> int | None:
    """``ioerr_cnt``/``iotmo_cnt``: ``0x1a`` (scsi_sysfs.c show_iostat_counterbits)."""
    v = (text or "").strip()
    if not re.fullmatch(r"0x[0-9a-fA-F]{1,16}", v):
        return None
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


def _opt(host: Host, path: str) -> str | None:
    v = host.read_optional(path)
    return v.strip() if v is not None else None


def read_sysfs_maps(host: Host, identity: dict | None = None, block: list[str] | None = None) -> list[SysfsMap]:
    """Maps and their paths.  ``identity`` caches what does not change while a device
    exists, so that a scrape of 1,000 maps x 4 paths reads only the volatile attributes:
    a dm device's uuid and dev_t (keyed by dm-N and its name, read every scrape), a path's
    dev_t, vendor, model and transport (keyed by its name); pruned to the devices seen.
    ``block``: the /sys/block listing when the scrape has it already (``collectors._facts.sys_block``)."""
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
