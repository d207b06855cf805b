"""Slow-cadence topology: read expensive, rarely changing state in the background.

Topology commands (``dladm show-aggr``, ``ipmpstat``, ``mpathadm list lu``, ``stmfadm
list-target -v``) can take seconds and change rarely; counters must stay fresh every
scrape.  ``Cadence`` runs a refresh function at most every ``interval`` seconds in its own
thread; ``get()`` returns the newest good value and its timestamp, so the collector keeps
serving while a refresh is slow or failing (the age shows in
``lanes_collector_last_success_timestamp_seconds`` through ``Collector.data_timestamp``).

The first ``get()`` reads synchronously so a first scrape, ``--once`` and ``--record`` have
data.  A refresh that raises keeps the previous value; the error is re-raised from
``get()`` only while there has never been a good value, and after ``max_age`` seconds
without one (stale topology is then reported as a failure, not served forever).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Cadence(Generic[T]):
    def __init__(self, refresh: Callable[[], T], interval: float, max_age: float | None = None):
        self.refresh = refresh
        self.interval = interval
        self.max_age = max_age if max_age is not None else max(3 * interval, 60.0)
        self._lock = threading.Lock()
        self._value: T | None = None
        self._stamp: float | None = None  # time.time() of the last good refresh
        self._mono: float | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _do_refresh(self) -> None:
        try:
            value = self.refresh()
        except Exception as e:
            with self._lock:
                self._error = e
            return
        with self._lock:
            self._value, self._stamp, self._mono, self._error = value, time.time(), time.monotonic(), None

    def _background(self) -> None:
        try:
            self._do_refresh()
        finally:
            with self._lock:
                self._thread = None

    def get(self) -> tuple[T, float]:
        """(value, unix time it was read).  Raises the refresh error if there is no value
        younger than max_age."""
        with self._lock:
            have = self._mono is not None
            due = not have or time.monotonic() - self._mono >= self.interval
            start_bg = have and due and self._thread is None
            if start_bg:
                self._thread = threading.Thread(target=self._background, name="lanes-topology", daemon=True)
                self._thread.start()
        if not have:
            self._do_refresh()
        with self._lock:
            if self._mono is None or time.monotonic() - self._mono > self.max_age:
                raise self._error if self._error else RuntimeError("topology not read yet")
            return self._value, self._stamp  # type: ignore[return-value]
