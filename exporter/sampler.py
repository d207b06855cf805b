"""Background sampler for the member peak rates (SPEC §6.2).

A 1-minute ``rate()`` averages a 5-second saturation away.  The sampler reads byte
counters every ``interval`` seconds in its own thread (one cheap read per source: for
links one /proc/net/dev), keeps the highest rate per member over the current window, and
each scrape closes the window (``roll``): a scrape reports the peak since the previous one.
Only the members a scrape asked for (``want``) are followed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping

log = logging.getLogger("lanes.sampler")

Reader = Callable[[], Mapping[str, tuple[int, int]]]


class Sampler:
    def __init__(self, interval: float, readers: Callable[[str], Reader | None]):
        self.interval = interval
        self._readers = readers
        self._lock = threading.Lock()
        self._wanted: dict[str, frozenset[str]] = {}
        self._prev: dict[str, tuple[float, Mapping[str, tuple[int, int]]]] = {}
        self._window: dict[tuple[str, str], tuple[float, float]] = {}
        self._last: dict[tuple[str, str], tuple[float, float]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0

    # -- scrape side
    def want(self, source: str, keys: Iterable[str], replace: bool = False) -> None:
        """Follow ``keys`` of ``source`` from now on.  ``replace`` forgets the keys the
        source wanted before (flows: a closed connection is not followed any more)."""
        with self._lock:
            if replace:
                self._wanted[source] = frozenset(keys)
                prev = self._prev.get(source)
                if prev is not None:  # keep only the counters of flows still followed
                    self._prev[source] = (prev[0], {k: v for k, v in prev[1].items() if k in self._wanted[source]})
            else:
                self._wanted[source] = self._wanted.get(source, frozenset()) | frozenset(keys)

    def roll(self) -> None:
        """Close the current window; called once per scrape (single flight)."""
        with self._lock:
            self._last, self._window = self._window, {}

    def peak(self, source: str, key: str) -> tuple[float, float] | None:
        with self._lock:
            return self._last.get((source, key))

    # -- sampling side
    def sample_once(self) -> None:
        with self._lock:
            wanted = dict(self._wanted)
        for source, keys in wanted.items():
            reader = self._readers(source)
            if reader is None or not keys:
                continue
            try:
                counters = reader()
            except Exception as e:  # a failed read skips one interval, never kills the thread
                self.errors += 1
                log.debug("sampler read of %s failed: %s", source, e)
                continue
            now = time.monotonic()
            prev = self._prev.get(source)
            self._prev[source] = (now, counters)
            if prev is None:
                continue
            dt = now - prev[0]
            if dt <= 0:
                continue
            with self._lock:
                for key in keys:
                    cur, old = counters.get(key), prev[1].get(key)
                    if cur is None or old is None or cur[0] < old[0] or cur[1] < old[1]:
                        continue  # new, vanished or reset: no rate for this interval
                    rate = ((cur[0] - old[0]) / dt, (cur[1] - old[1]) / dt)
                    have = self._window.get((source, key))
                    if have is None:
                        self._window[(source, key)] = rate
                    else:
                        self._window[(source, key)] = (max(have[0], rate[0]), max(have[1], rate[1]))

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.sample_once()
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay < 0:  # fell behind (suspended, overloaded): skip, do not burst
                next_at = time.monotonic()
                delay = 0
            self._stop.wait(delay)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="lanes-sampler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
