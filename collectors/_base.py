"""The collector contract, shared by every module in this package.

A collector is a class with ``name``, ``platforms``, ``default_enabled`` and ``OPTIONS``
(config keys it accepts beyond ``enabled`` and ``timeout``); ``collect()`` returns metric
families built fresh from what ``self.host`` shows now.  Orchestration (timeouts, isolation,
success/duration metrics, single flight) lives in ``exporter.scrape``, not here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from exporter.host import Host
from exporter.metrics import Family

#: (sampler source, platform) -> cheap counter reader(host) -> {key: (rx_bytes, tx_bytes)}.
#: Collectors register theirs at import; the peak sampler looks them up.
SAMPLE_READERS: dict[tuple[str, str], Callable[[Host], Mapping[str, tuple[int, int]]]] = {}


class ParseError(Exception):
    """A source said something its parser does not understand."""

    def __init__(self, source: str, line: int | None, why: str):
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {why}")
        self.source, self.line, self.why = source, line, why


class Shared:
    """Values computed at most once per scrape and shared between collectors (the link
    table that links, declared groups and storage paths all need).  Thread-safe: the first
    caller computes, the others wait for it; an exception is shared the same way."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[str, tuple[threading.Event, list]] = {}

    def get(self, key: str, compute: Callable[[], Any]) -> Any:
        with self._lock:
            slot = self._slots.get(key)
            owner = slot is None
            if owner:
                slot = (threading.Event(), [])
                self._slots[key] = slot
        event, box = slot
        if owner:
            try:
                box.append(("ok", compute()))
            except BaseException as e:  # shared with the waiters, re-raised to each
                box.append(("err", e))
            event.set()
        else:
            event.wait()
        status, value = box[0]
        if status == "err":
            raise value
        return value


class Context:
    """What a collector gets besides the host: its options, the whole config, the peak
    sampler and the per-scrape shared values."""

    def __init__(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        config: Any = None,
        sampler: Any = None,
    ) -> None:
        self.name = name
        self.options = dict(options or {})
        self.config = config
        self.sampler = sampler
        self.shared = Shared()
        self.log = logging.getLogger(f"lanes.collector.{name}")

    def option(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)


class Collector:
    name: ClassVar[str]
    platforms: ClassVar[frozenset[str]]
    default_enabled: ClassVar[bool] = True
    #: option key -> kind: "regex", "duration", "int", "bool", "str", "list"
    OPTIONS: ClassVar[Mapping[str, str]] = {}
    #: one line for --help, the landing page and the README table
    description: ClassVar[str] = ""

    def __init__(self, host: Host, ctx: Context) -> None:
        self.host = host
        self.ctx = ctx
        #: set by collectors that serve cached data, to the time their data was read
        self.data_timestamp: float | None = None

    def collect(self) -> Iterable[Family]:
        raise NotImplementedError

    def close(self) -> None:
        """Stop background work (topology refreshers)."""
