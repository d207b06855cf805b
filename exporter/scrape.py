"""Scrape orchestration: every enabled collector, isolated, under its own deadline.

* A collector contributes all of its series or none: its output is materialised inside a
  try/except in its own thread; any exception, or a deadline miss, gives
  ``lanes_collector_success 0`` and no series of its own.
* Python cannot kill a thread.  A collector still stuck from an earlier scrape is not
  started again: it reports success 0 until its old run returns.  (Commands it runs are
  killed by ``exporter.host`` when their own timeout expires, so a stuck run ends.)
* Single flight: concurrent scrapes share one run of every collector, never a deadline:
  each caller waits for the shared run until its own deadline (a collector not done by
  then is failed in that caller's answer only).  A request that had to wait for a worker
  takes the result of a run started after it arrived.
* A collector returns its families and its groups (``exporter.api.Collected``); its
  runner applies the collector's member memory, adds the sampler's peaks and renders the
  group series in the collector's worker, inside the same try: a failing collector
  contributes no group series either.
* Output is merged by family name (several collectors emit the group model), sorted by
  name and label values: deterministic.
"""

from __future__ import annotations

import dataclasses
import logging
import platform as _platform
import queue
import threading
import time
from collections.abc import Sequence

from exporter import __version__
from exporter.api import Collected, Collector, Facts
from exporter.metrics import Family, SeriesCache, gauge, merge
from exporter.model import Group, group_families

log = logging.getLogger("lanes.scrape")

DEFAULT_TIMEOUT = 8.0


@dataclasses.dataclass
class Status:
    """What the landing page shows per collector."""

    success: bool | None = None
    duration: float | None = None
    last_success: float | None = None
    error: str = ""


def collect_families(collector: Collector, sampler=None) -> list[Family]:
    """One run of ``collector``: its families plus the series of its groups, after its
    member memory (``collector.memory``) and with the sampler's peaks.  Raises whatever
    the collector or that step raises (the caller's all-or-nothing boundary)."""
    out = collector.collect()
    if isinstance(out, Collected):
        families, groups = list(out.families), out.groups
    else:
        families, groups = list(out), None
    for f in families:
        if not isinstance(f, Family):
            raise TypeError(f"collector returned {type(f).__name__}, not a Family")
    if groups is not None:
        for g in groups:
            if not isinstance(g, Group):
                raise TypeError(f"collector returned {type(g).__name__}, not a Group")
        families.extend(group_families(collector.memory.apply(groups), sampler))
    return families


class Runner:
    """One collector and its own long-lived worker thread (no thread start per scrape)."""

    def __init__(self, collector: Collector, timeout: float, sampler=None):
        self.collector = collector
        self.sampler = sampler
        self.name = collector.name
        self.timeout = timeout
        self.status = Status()
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._busy = threading.Event()
        self._thread: threading.Thread | None = None
        self._job: tuple[threading.Event, list] | None = None
        self._started = 0.0

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            done, box = job
            t0 = time.monotonic()
            try:
                box.append(("ok", self._run(), time.monotonic() - t0))
            except Exception as e:  # isolation: one collector never fails the scrape
                # the text, not the exception: its traceback would hold this frame (and
                # the job) in a reference cycle until the garbage collector runs
                box.append(("err", _describe(e), time.monotonic() - t0))
                del e
            self._busy.clear()
            done.set()
            job = box = None  # waiting for the next job holds no output (memory between scrapes)

    def _run(self) -> list[Family]:
        return collect_families(self.collector, self.sampler)

    def start(self) -> bool:
        """Hand a run to the worker; False if the previous run is still stuck."""
        if self._busy.is_set():
            return False
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=f"collector-{self.name}", daemon=True)
            self._thread.start()
        self._busy.set()
        self._job = (threading.Event(), [])
        self._started = time.monotonic()
        self._jobs.put(self._job)
        return True

    def finish(self, deadline: float) -> tuple[list[Family] | None, float, str]:
        assert self._job is not None
        return self.outcome(self._job, self._started, deadline)

    def outcome(self, job, started: float, deadline: float, cut: str = "") -> tuple[list[Family] | None, float, str]:
        """The result of ``job`` (started at ``started``), waiting until ``deadline``;
        ``cut`` names a caller's deadline that came before the collector's own."""
        done, box = job
        done.wait(max(0.0, deadline - time.monotonic()))
        if not box:
            return None, time.monotonic() - started, cut or f"timed out after {self.timeout:g}s"
        status, value, duration = box[0]
        if status == "ok":
            return value, duration, ""
        return None, duration, value

    def stop(self) -> None:
        self._jobs.put(None)


def _describe(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    if isinstance(e, OSError) and e.filename:
        text = f"{e.strerror or type(e).__name__}: {e.filename}"
    return text.splitlines()[0][:300] if text else type(e).__name__


def _findings(families: list[Family], platform: str) -> Family:
    """lanes_finding (SPEC §13), judged from what the collectors of this scrape exported."""
    from exporter import findings

    try:
        return findings.family(findings.evaluate(families, platform))
    except Exception as e:  # a check must never cost the scrape
        log.error("findings failed", extra={"err": _describe(e)})
        return findings.family(())


class _Flight:
    """One run of every collector, shared by the scrapes that join it."""

    __slots__ = ("started", "wall", "jobs", "lock", "result")

    def __init__(self, started: float, wall: float):
        self.started = started
        self.wall = wall
        #: (runner, job or None when the runner is still stuck in an earlier run)
        self.jobs: list[tuple[Runner, tuple | None]] = []
        self.lock = threading.Lock()
        self.result: list[Family] | None = None

    def joinable(self, now: float) -> bool:
        """A collector of this run is still working within its own timeout."""
        return any(job is not None and not job[0].is_set() and now < self.started + r.timeout for r, job in self.jobs)


class Scraper:
    def __init__(self, collectors: Sequence[Collector], timeouts: dict[str, float], platform: str, sampler=None):
        self.runners = [Runner(c, timeouts.get(c.name, DEFAULT_TIMEOUT), sampler) for c in collectors]
        #: no label cache: rendering through per-family templates is as fast as a cache hit
        #: and a 4,000-path host's cache held 13 MB (bench/README.md)
        self.series = SeriesCache(0)
        self.platform = platform
        self.sampler = sampler
        self._lock = threading.Lock()
        self._flight: _Flight | None = None
        self.scrapes = 0
        #: (unix time, families) of the last two scrapes, for the status page: of the last one
        #: the group model's families (every other family without its samples), of the one
        #: before only the members' byte counters; a 4,000-path host keeps no more
        self.last: tuple[float, list[Family]] | None = None
        self.prev: tuple[float, list[Family]] | None = None
        #: the exporter's own process_* and python_info (exporter.process), serving daemon only
        self.process = None

    def scrape(self, deadline: float | None = None, not_before: float | None = None) -> list[Family]:
        """All families, sorted.  Concurrent callers share one run (single flight), each
        waiting until its own ``deadline`` (monotonic) at most.  ``not_before``: a
        complete run started at or after this time (monotonic) will do."""
        now = time.monotonic()
        with self._lock:
            flight = self._flight
            if flight is not None and not_before is not None and flight.result is not None and flight.started >= not_before:
                return flight.result
            if flight is None or not flight.joinable(now):
                flight = self._flight = self._start(now)
        return self._collect(flight, deadline)

    def _start(self, now: float) -> _Flight:
        self.scrapes += 1
        # the status page's copy of the last scrape shrinks to what its rates need before
        # this scrape builds its own (a reader meanwhile waits for this scrape: single flight)
        self.prev, self.last = _for_rates(self.last), None
        if self.sampler is not None:
            self.sampler.roll()
        facts = Facts()
        flight = _Flight(now, time.time())
        for r in self.runners:
            r.collector.ctx.facts = facts
            flight.jobs.append((r, r._job if r.start() else None))
        return flight

    def _collect(self, flight: _Flight, deadline: float | None) -> list[Family]:
        results: dict[str, tuple[list[Family] | None, float, str]] = {}
        complete = True
        for r, job in flight.jobs:
            if job is None:
                results[r.name] = (None, time.monotonic() - r._started, "still running from an earlier scrape")
                continue
            own = flight.started + r.timeout
            if deadline is not None and deadline < own:
                results[r.name] = r.outcome(job, flight.started, deadline, "scrape deadline reached (X-Prometheus-Scrape-Timeout-Seconds)")
                if not job[0].is_set():
                    complete = False
            else:
                results[r.name] = r.outcome(job, flight.started, own)
        with flight.lock:
            if complete and flight.result is not None:
                return flight.result
            result = self._build(flight, results, complete)
            if complete:
                flight.result = result
        return result

    def _build(self, flight: _Flight, results, complete: bool) -> list[Family]:
        """The families of one caller; a complete one also updates the collectors' status."""
        wall = flight.wall
        outputs: list[Family] = []
        success = gauge("collector_success", "1 if the collector ran and understood its sources (an absent subsystem is 1 with no series), 0 if it failed.", ("collector",))
        duration = gauge("collector_duration_seconds", "Time the collector took in this scrape.", ("collector",))
        last = gauge("collector_last_success_timestamp_seconds", "Unix time of the data of the collector's last successful run (older than the scrape where data is cached).", ("collector",))
        for r in self.runners:
            families, took, error = results[r.name]
            ok = families is not None
            if ok:
                try:
                    outputs.extend(merge(families))  # validates and sorts this collector's output
                except ValueError as e:
                    ok, error = False, str(e)
            last_success = r.status.last_success
            if ok:
                last_success = r.collector.data_timestamp or wall
            if complete:
                r.status.success = ok
                r.status.duration = took
                r.status.error = error
                r.status.last_success = last_success
                if not ok:
                    log.warning("collector failed", extra={"collector": r.name, "err": error})
            success.add((r.name,), ok)
            duration.add((r.name,), round(took, 6))
            last.add((r.name,), last_success)
        findings = _findings(outputs, self.platform)
        build = gauge("exporter_build_info", "lanes build; value 1.", ("version", "python_version", "platform"))
        build.add((__version__, _platform.python_version(), self.platform), 1)
        own = self.process.families() if self.process is not None else []
        try:
            # each collector's families were merged (sorted and checked) above: only the
            # exporter's own and the families several collectors share are checked again
            result = merge([*outputs, *merge([findings, success, duration, last, build, *own])], presorted=True)
        except ValueError as e:  # two collectors disagree on a family's type or labels
            log.error("scrape output conflict", extra={"err": str(e)})
            result = merge([success, duration, last, build, *own])
        if complete:
            self.last = (wall, _for_status(result))
            for r in self.runners:
                if not r._busy.is_set():
                    r.collector.ctx.facts = Facts()  # this scrape's facts are not kept until the next
        return result

    def close(self) -> None:
        for r in self.runners:
            r.stop()
            try:
                r.collector.close()
            except Exception:
                pass


#: the families the status page reads (exporter.status.render_groups)
STATUS_FAMILIES = frozenset({
    "lanes_group_info", "lanes_group_members", "lanes_group_members_up", "lanes_member_up",
    "lanes_member_receive_bytes_total", "lanes_member_transmit_bytes_total", "lanes_member_speed_bytes",
    "lanes_member_receive_peak_bytes_per_second", "lanes_member_transmit_peak_bytes_per_second",
})  # fmt: skip
RATE_FAMILIES = frozenset({"lanes_member_receive_bytes_total", "lanes_member_transmit_bytes_total"})


def _without_samples(f: Family) -> Family:
    empty = Family.__new__(Family)
    empty.name, empty.type, empty.help, empty.labels, empty.lo, empty.lvs, empty.values = f.name, f.type, f.help, f.labels, f.lo, [], []
    return empty


def _for_status(result: list[Family]) -> list[Family]:
    return [f if f.name in STATUS_FAMILIES else _without_samples(f) for f in result]


def _for_rates(last: tuple[float, list[Family]] | None) -> tuple[float, list[Family]] | None:
    return None if last is None else (last[0], [f for f in last[1] if f.name in RATE_FAMILIES])


class RegistryCollector:
    """The scraper as a client_python collector, for a private ``CollectorRegistry``:
    ``describe()`` names the families of the last scrape (without running collectors),
    so ``registry.restricted_registry(names)`` and ``?name[]=`` filtering work there too.
    lanes' own HTTP server renders families directly (exporter.metrics.render)."""

    def __init__(self, scraper: Scraper):
        self.scraper = scraper

    def describe(self):
        last = self.scraper.last
        return [f.to_client() for f in last[1]] if last else []

    def collect(self):
        return [f.to_client() for f in self.scraper.scrape()]
