"""The one module of ``exporter`` that collectors import: the collector contract.

A collector is a class with ``name``, ``platforms``, ``default_enabled``, ``OPTIONS`` (config
keys it accepts beyond ``enabled`` and ``timeout``) and ``description``.  ``collect()``
reads ``self.host`` now and returns ``Collected(families, groups)``:

* ``families``: its own metric families, built with ``gauge``/``counter``/``info`` and
  filled through ``Family.add``, ``add_stateset`` or a ``Stateset`` (0/1 per state: groups,
  links) or ``add_state`` (the current state only: paths, sessions; SPEC §9);
* ``groups``: its lanes model (``Group`` of ``Member``), or None when it has none this time
  (an absent subsystem; the members remembered from earlier scrapes stay remembered).

The scrape runner (``exporter.scrape``) does the rest inside the collector's
all-or-nothing boundary: it applies the collector's member memory (vanished members stay,
down), adds the sampler's peak rates and renders the ``lanes_group_*`` and ``lanes_member_*``
series; any exception, from the collector or from that step, gives
``lanes_collector_success 0`` and none of the collector's series.  A collector may also
return a plain list of families (no groups).

Per-scrape shared data (the link table, routes, /proc/diskstats, ...) comes from
``ctx.facts``: each value is computed at most once per scrape by whoever asks first
(providers: ``collectors/_facts.py``).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from exporter.host import CommandNotFound, CommandResult, CommandTimeout, Host, HostError, slug
from exporter.metrics import Family, Stateset, add_state, add_stateset, counter, gauge, info
from exporter.model import BALANCING, Group, Member, MemberMemory, expected_members, load_groups, record
from exporter.netlink import iter_attrs

__all__ = [
    "BALANCING",
    "SAMPLE_READERS",
    "Collected",
    "Collector",
    "CommandNotFound",
    "CommandResult",
    "CommandTimeout",
    "Context",
    "Facts",
    "Family",
    "Group",
    "Host",
    "HostError",
    "Member",
    "ParseError",
    "Stateset",
    "add_state",
    "add_stateset",
    "counter",
    "expected_members",
    "gauge",
    "info",
    "iter_attrs",
    "load_groups",
    "record",
    "slug",
]

T = TypeVar("T")

#: (sampler source, platform) -> cheap counter reader(host, keys) -> {key: (rx_bytes, tx_bytes)}.
#: ``keys`` are the keys the sampler follows (None: all); a reader may parse only those
#: (a 4,000-path host follows 8,200 members every second).  Collectors register theirs at
#: import; the peak sampler looks them up.
SAMPLE_READERS: dict[tuple[str, str], Callable[[Host, frozenset[str] | None], Mapping[str, tuple[int, int]]]] = {}


class ParseError(Exception):
    """A source said something its parser does not understand."""

    def __init__(self, source: str, line: int | None, why: str):
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {why}")
        self.source, self.line, self.why = source, line, why


@dataclasses.dataclass
class Collected:
    """What ``collect()`` returns: the collector's families and its lanes model."""

    families: Sequence[Family] = ()
    groups: Sequence[Group] | None = None


class Facts:
    """Values computed at most once per scrape and shared between collectors.  A fact is
    keyed by its provider (a function of ``collectors/_facts_<platform>.py``), so its type
    is the provider's return type.  Thread-safe: the first caller computes, the others
    wait for it; an exception is shared the same way."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[Hashable, tuple[threading.Event, list]] = {}

    def once(self, key: Hashable, compute: Callable[[], T]) -> T:
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
    sampler and the facts of the current scrape."""

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
        self.facts = Facts()
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
        #: members seen in earlier runs, applied to the groups by the scrape runner
        #: (exporter.scrape.collect_families); collectors do not touch it
        self.memory = MemberMemory()

    def collect(self) -> Collected | Sequence[Family]:
        raise NotImplementedError

    def close(self) -> None:
        """Stop background work (topology refreshers)."""
