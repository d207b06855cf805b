"""Block device I/O counters from /proc/diskstats, shared by the storage collectors.

Format: Documentation/admin-guide/iostats.rst (Linux): ``major minor name`` then 11, 15
or 17 fields; field 3 is sectors read, field 7 sectors written, in 512-byte units
whatever the device's logical block size (block/genhd.c diskstats_show).  Used for the
bytes of multipath paths and maps, iSCSI sessions and NVMe paths, and by the peak sampler
(source ``disk``: key = kernel device name, value = (read bytes, written bytes)).

By hand: ``cat /proc/diskstats``.
"""

from __future__ import annotations

from exporter.api import SAMPLE_READERS, Host, ParseError, record

SECTOR = 512
SAMPLE_SOURCE = "disk"


@record
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


def parse_disk_bytes(text: str, keys: frozenset[str] | set[str]) -> dict[str, tuple[int, int]]:
    """(read bytes, written bytes) of the devices in ``keys`` only: the sampler's read,
    every second, of a /proc/diskstats with 5,000 lines of which it may follow a few.  A
    line that does not parse is left out (the sampler skips one interval for it)."""
    out = {}
    for line in text.splitlines():
        head = line.split(None, 3)
        if len(head) < 4 or head[2] not in keys:
            continue
        f = head[3].split()
        if len(f) >= 11:
            try:
                out[head[2]] = (int(f[2]) * SECTOR, int(f[6]) * SECTOR)
            except ValueError:
                continue
    return out


def read_disk_bytes(host: Host, keys: frozenset[str] | None = None) -> dict[str, tuple[int, int]]:
    if keys is not None:
        return parse_disk_bytes(host.read_text("/proc/diskstats"), keys)
    return {n: (d.read_bytes, d.write_bytes) for n, d in read_diskstats(host).items()}


SAMPLE_READERS[(SAMPLE_SOURCE, "linux")] = read_disk_bytes
