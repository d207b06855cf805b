"""Block device I/O counters from /proc/diskstats, shared by the storage collectors.

Format: Documentation/admin-guide/iostats.rst (Linux): ``major minor name`` then 11, 15
or 17 fields; field 3 is sectors read, field 7 sectors written, in 512-byte units
whatever the device's logical block size (block/genhd.c diskstats_show).  Used for the
bytes of multipath paths and maps, iSCSI sessions and NVMe paths, and by the peak sampler
(source ``disk``: key = kernel device name, value = (read bytes, written bytes)).

By hand: ``cat /proc/diskstats``.
"""

from __future__ import annotations

import dataclasses

from exporter.api import SAMPLE_READERS, Host, ParseError

SECTOR = 512
SAMPLE_SOURCE = "disk"


@dataclasses.dataclass(frozen=True)
class DiskStats:
    name: str
    reads: int  # completed reads
    read_bytes: int  # sectors read x 512
    writes: int
    write_bytes: int
    in_flight: int
    io_ticks_ms: int


def parse_proc_diskstats(text: str) -> dict[str, DiskStats]:
    out: dict[str, DiskStats] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        f = line.split()
        if not f:
            continue
        if len(f) < 14:
            raise ParseError("/proc/diskstats", lineno, f"{len(f)} fields, expected at least 14")
        try:
            v = [int(x) for x in f[3:14]]
        except ValueError:
            raise ParseError("/proc/diskstats", lineno, "non-numeric counter") from None
        out[f[2]] = DiskStats(f[2], v[0], v[2] * SECTOR, v[4], v[6] * SECTOR, v[8], v[9])
    return out


def read_diskstats(host: Host) -> dict[str, DiskStats]:
    """Per-scrape callers go through ``collectors._facts.diskstats``."""
    return parse_proc_diskstats(host.read_text("/proc/diskstats"))


def read_disk_bytes(host: Host) -> dict[str, tuple[int, int]]:
    return {n: (d.read_bytes, d.write_bytes) for n, d in read_diskstats(host).items()}


SAMPLE_READERS[(SAMPLE_SOURCE, "linux")] = read_disk_bytes
