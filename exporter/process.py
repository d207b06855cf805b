"""The exporter's own process metrics (SPEC §15), under the names every Prometheus
exporter uses (client_python's ``ProcessCollector`` and ``PlatformCollector``, Go's
``collectors.NewProcessCollector``):

    process_cpu_seconds_total       user + system CPU time of this process
    process_resident_memory_bytes   resident set size
    process_virtual_memory_bytes    virtual memory size
    process_start_time_seconds      start time, seconds since the Unix epoch
    process_open_fds                open file descriptors
    process_max_fds                 the soft RLIMIT_NOFILE
    python_info{implementation,major,minor,patchlevel,version}  1

client_python's own ``ProcessCollector`` reads ``/proc/self/stat`` and exists on Linux
only; lanes also runs on illumos and FreeBSD, so the values come from psutil, which reads
``/proc/<pid>/stat`` and ``/proc/<pid>/status`` on Linux, ``/proc/<pid>/psinfo`` and
``usage`` on illumos (proc(5)) and ``kinfo_proc`` (sysctl KERN_PROC_PID) on FreeBSD.
``process_max_fds`` comes from ``getrlimit(RLIMIT_NOFILE)`` (psutil's ``rlimit`` is
Linux/FreeBSD only).

Fails soft: a value that cannot be read (psutil missing, an OS psutil does not cover, a
permission error) is left out, once logged at warning level, and never fails the scrape.
Only the serving daemon on the live host reports them: ``--once`` and ``--snapshot``
leave them out, so their output stays a function of the host or snapshot (a recorded
snapshot replays to exactly what ``--once`` printed live).
"""

from __future__ import annotations

import logging
import os
import platform
import sys
from collections.abc import Callable

from exporter.metrics import Family

log = logging.getLogger("lanes.process")

try:  # POSIX only; lanes runs nowhere else, but an import error must not stop it
    import resource
except ImportError:  # pragma: no cover
    resource = None  # type: ignore[assignment]


def _family(name: str, type_: str, help_: str, labels: tuple[str, ...] = ()) -> Family:
    """A family under its standard name, without lanes' ``lanes_`` prefix."""
    f = Family(name, type_, help_, labels)
    f.name = name
    return f


def python_info() -> Family:
    v = sys.version_info
    f = _family("python_info", "gauge", "Python platform information; value 1.", ("implementation", "major", "minor", "patchlevel", "version"))
    f.add((platform.python_implementation(), str(v.major), str(v.minor), str(v.micro), platform.python_version()), 1)
    return f


class ProcessMetrics:
    """Reads this process's figures at each scrape (about 0.1 ms on Linux)."""

    def __init__(self, pid: int | None = None):
        self.pid = pid or os.getpid()
        self._warned: set[str] = set()
        self._proc = None
        self._info = python_info()
        try:
            import psutil

            self._psutil = psutil
            self._proc = psutil.Process(self.pid)
        except ImportError:
            self._psutil = None
            self._warn("psutil", "psutil is not installed: process_* metrics other than process_max_fds are left out (install python3-psutil or pip install psutil)")
        except Exception as e:  # psutil.Error, OSError: an OS psutil cannot read
            self._psutil = None
            self._warn("psutil", f"psutil cannot read this process: {e}")

    def _warn(self, what: str, message: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            log.warning(message)

    def _read(self, what: str, fn: Callable[[], float | None]) -> float | None:
        try:
            return fn()
        except Exception as e:  # fail soft: one value missing, never the scrape
            self._warn(what, f"{what} left out: {type(e).__name__}: {e}")
            return None

    def families(self) -> list[Family]:
        cpu = _family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.")
        rss = _family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
        vms = _family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.")
        start = _family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.")
        fds = _family("process_open_fds", "gauge", "Number of open file descriptors.")
        max_fds = _family("process_max_fds", "gauge", "Maximum number of open file descriptors.")
        p = self._proc
        if p is not None:
            with p.oneshot():
                times = self._read("process_cpu_seconds_total", p.cpu_times)
                if times is not None:
                    cpu.add((), times.user + times.system)
                mem = self._read("process_resident_memory_bytes", p.memory_info)
                if mem is not None:
                    rss.add((), mem.rss)
                    vms.add((), mem.vms)
                start.add((), self._read("process_start_time_seconds", p.create_time))
                fds.add((), self._read("process_open_fds", p.num_fds))
        elif resource is not None:
            # without psutil the CPU time still comes from getrusage(2)
            ru = self._read("process_cpu_seconds_total", lambda: resource.getrusage(resource.RUSAGE_SELF))
            if ru is not None:
                cpu.add((), ru.ru_utime + ru.ru_stime)
        if resource is not None:
            soft = self._read("process_max_fds", lambda: resource.getrlimit(resource.RLIMIT_NOFILE)[0])
            if soft is not None and soft != resource.RLIM_INFINITY:
                max_fds.add((), soft)
        return [f for f in (cpu, rss, vms, start, fds, max_fds) if f.lvs] + [self._info]


#: glibc mallopt(3) parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8


def tune_malloc() -> bool:
    """glibc only, at start before any thread: one malloc arena, and buffers of 128 KiB or
    more (a /proc/diskstats of 4,000 disks, big lists) mapped on their own so that freeing
    them returns the memory.  By default glibc gives every thread an arena of its own (up
    to 8 per core) and each keeps the high-water mark of its own heap.  Large storage host
    of bench/README.md: peak RSS 85 -> 77 MB, as with ``MALLOC_ARENA_MAX=1``.  Settings in
    the environment win; musl, illumos and FreeBSD are left as they are."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):  # musl and others: their own allocator
            return False
        ok = libc.mallopt(_M_ARENA_MAX, 1) == 1
        if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
            ok = libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024) == 1 and ok
        if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
            ok = libc.mallopt(_M_TRIM_THRESHOLD, 128 * 1024) == 1 and ok
        return ok
    except (OSError, AttributeError, ImportError):
        return False
