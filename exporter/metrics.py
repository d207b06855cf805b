"""Metric families and the text exposition (format 0.0.4).

Collectors build fresh families every scrape (never long-lived Gauges mirroring device
counters: prometheus docs, "Writing exporters").  A family here is a name, a type, a HELP
text naming its source, label names and a list of (label values, value) samples.  They
are cheaper than prometheus_client's ``Metric`` (no dict per sample) and sort by label
tuple; ``to_client()`` converts one for code that wants client_python objects.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

PREFIX = "lanes_"
TYPES = ("gauge", "counter", "untyped")

#: Values a source can hold: counters and gauges are unsigned 64-bit at most in every
#: kernel and tool lanes reads (a u64 sysfs/netlink counter); anything beyond is a lie.
#: Prometheus parses sample values as float64: 2^64 is exactly representable, a 401-digit
#: number is not (strconv.ParseFloat: value out of range) and would break the exposition.
VALUE_MAX = 2**64
#: Gauges that may go below zero (a priority of -1 = undefined) say so with signed=True.
SIGNED_MIN = -(2**63)


class Limits:
    """Size caps applied where data enters a family (SPEC §10); set from the config."""

    label_value_bytes = 4096


LIMITS = Limits()


class ValueRangeError(ValueError):
    """A value outside what its source can hold: the collector fails naming it."""


def _source(help_: str) -> str:
    """The source named by a HELP text (its "From ..." sentence), for error messages."""
    i = help_.rfind("From ")
    return help_[i + 5 :].rstrip(". ") if i >= 0 else ""


def _short(v) -> str:
    text = repr(v) if isinstance(v, float) else str(v)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} digits)"


class Family:
    #: samples as two parallel lists, label values and values: no (labels, value) tuple per
    #: sample (56 bytes each, 7 MB of a 4,000-path host's 130,000 samples); ``samples``
    #: gives the pairs for readers that want them
    __slots__ = ("name", "type", "help", "labels", "lvs", "values", "lo")

    def __init__(self, name: str, type_: str, help_: str, labels: Sequence[str] = (), signed: bool = False):
        if not name.startswith(PREFIX):
            name = PREFIX + name
        if type_ not in TYPES:
            raise ValueError(f"bad metric type {type_}")
        if type_ == "counter" and not name.endswith("_total"):
            raise ValueError(f"counter {name} must end in _total")
        self.name = name
        self.type = type_
        self.help = help_
        self.labels = tuple(labels)
        self.lvs: list[tuple[str, ...]] = []
        self.values: list[int | float] = []
        #: lowest value the source can hold (counters never go below zero)
        self.lo = SIGNED_MIN if signed and type_ != "counter" else 0

    def add(self, label_values: Sequence[str], value: int | float | bool | None) -> None:
        """Add one sample; None (value unknown) adds nothing.  Label values are str (None
        becomes "", anything else goes through str()); their count must match the labels.
        A value outside the source's range (negative, beyond 2^64, NaN, ±Inf) or a label
        value past its cap or not UTF-8 raises ValueRangeError: the collector fails
        instead of exporting a lie (SPEC §10)."""
        if value is None:
            return
        lv = label_values if type(label_values) is tuple else tuple(label_values)
        if len(lv) != len(self.labels):
            raise ValueError(f"{self.name}: {len(self.labels)} labels, got {len(lv)}")
        cap = LIMITS.label_value_bytes
        try:
            joined = "".join(lv)  # C-speed check that every value is a str (join refuses anything else)
        except TypeError:
            lv = tuple("" if v is None else str(v) for v in lv)
            joined = "".join(lv)
        if len(joined) > cap or not joined.isascii():  # rare: check each value
            for v in lv:
                if len(v) > cap or not v.isascii():
                    self._check_label(v, cap)
        if value is True or value is False:
            value = int(value)
        elif not self.lo <= value <= VALUE_MAX:  # also false for NaN
            self._bad_value(lv, value)
        self.lvs.append(lv)
        self.values.append(value)

    @property
    def samples(self) -> list[tuple[tuple[str, ...], int | float]]:
        """(label values, value) pairs, a new list (hot paths read ``lvs`` and ``values``)."""
        return list(zip(self.lvs, self.values))

    def _series_text(self, label_values: tuple[str, ...]) -> str:
        pairs = ",".join(f'{k}="{_escape_value(v[:64])}"' for k, v in zip(self.labels, label_values))  # noqa: B905 - lengths checked by add
        return f"{self.name}{{{pairs}}}"

    def _bad_value(self, label_values, value) -> None:
        if not isinstance(value, (int, float)):
            raise ValueRangeError(f"{self._series_text(label_values)}: not a number: {type(value).__name__}")
        src = _source(self.help)
        lo = "0" if self.lo == 0 else "-2^63"
        raise ValueRangeError(
            f"{self._series_text(label_values)}: value {_short(value)} outside [{lo}, 2^64]"
            + (f" (source: {src})" if src else "")
        )

    def _check_label(self, v: str, cap: int) -> None:
        if len(v.encode("utf-8", "surrogatepass")) > cap:
            src = _source(self.help)
            raise ValueRangeError(f"{self.name}: a label value of {len(v)} characters exceeds the {cap}-byte cap (limits.label_value_bytes)" + (f" (source: {src})" if src else ""))
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueRangeError(f"{self.name}: label value {v.encode('utf-8', 'surrogateescape')[:64]!r} is not UTF-8") from None

    def __repr__(self) -> str:
        return f"Family({self.name!r}, {len(self.lvs)} samples)"

    def to_client(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, UnknownMetricFamily

        cls = {"gauge": GaugeMetricFamily, "counter": CounterMetricFamily}.get(self.type, UnknownMetricFamily)
        fam = cls(self.name, self.help, labels=self.labels)
        for lv, v in zip(self.lvs, self.values):
            fam.add_metric(lv, v)
        return fam


def gauge(name: str, help_: str, labels: Sequence[str] = (), signed: bool = False) -> Family:
    """A gauge; values below zero fail the collector unless ``signed``."""
    return Family(name, "gauge", help_, labels, signed)


def counter(name: str, help_: str, labels: Sequence[str] = ()) -> Family:
    return Family(name, "counter", help_, labels)


def info(name: str, help_: str, labels: Sequence[str]) -> Family:
    """A ``_info`` gauge whose samples are 1: strings belong in labels here (SPEC §6)."""
    if not name.endswith("_info"):
        name += "_info"
    return Family(name, "gauge", help_, labels)


def add_stateset(fam: Family, label_values: Sequence[str], states: Sequence[str], current: str | None):
    """One 0/1 sample per state (state label last).  ``current`` outside the set maps to
    ``unknown`` when the set has it; None (unknown source) adds nothing."""
    if current is None:
        return
    if current not in states and "unknown" in states:
        current = "unknown"
    for s in states:
        fam.add((*label_values, s), 1 if s == current else 0)


def add_state(fam: Family, label_values: Sequence[str], states: Sequence[str], current: str | None) -> None:
    """Current-state-only enumeration (SPEC §9), for the states of a path or a session: one
    series with value 1 and the state in the ``state`` label (last).  ``current`` outside
    ``states`` is ``unknown`` when the set has it, else nothing is added; None adds nothing.
    Alerts test the series' presence (``== 1``), never a 0 (there is none)."""
    if current is None:
        return
    if current not in states:
        if "unknown" not in states:
            return
        current = "unknown"
    fam.add((*label_values, current), 1)


class Stateset:
    """``add_stateset`` for hot paths, same series and values.  The 0/1 samples of one
    series set (label values, current state) are built (and checked) once and reused while
    they come back scrape after scrape.  One instance per collector (a collector never
    runs twice at once); ``roll()`` at the end of each collect keeps what that scrape used
    and drops the rest, so it holds at most one scrape's series."""

    __slots__ = ("states", "rows", "other", "_memo", "_used")

    def __init__(self, states: tuple[str, ...]):
        self.states = states
        self.rows = {c: tuple((s, 1 if s == c else 0) for s in states) for c in states}
        # a state outside the set: unknown where the set has it, else every state 0
        self.other = self.rows["unknown"] if "unknown" in states else tuple((s, 0) for s in states)
        self._memo: dict[tuple, tuple] = {}
        self._used: dict[tuple, tuple] = {}

    def add(self, fam: Family, label_values: Sequence[str], current: str | None) -> None:
        if current is None:
            return
        key = (label_values, current)
        rows = self._memo.get(key)
        if rows is None:
            probe = Family.__new__(Family)
            probe.name, probe.help, probe.labels, probe.lo, probe.lvs, probe.values = fam.name, fam.help, fam.labels, fam.lo, [], []
            for s, v in self.rows.get(current, self.other):
                probe.add((*label_values, s), v)
            rows = (tuple(probe.lvs), tuple(probe.values))
        self._used[key] = rows
        fam.lvs.extend(rows[0])
        fam.values.extend(rows[1])

    def roll(self) -> None:
        self._memo, self._used = self._used, {}


def merge(families: Iterable[Family], presorted: bool = False) -> list[Family]:
    """Merge families of the same name (several collectors emit the group model), sort by
    name and samples by label values, and drop exact duplicate samples (the first one
    stays).  Sorts in place: a family that is not merged is reused, not copied (a
    4,000-path host has 100,000 samples)."""
    by_name: dict[str, Family] = {}
    copied: set[str] = set()
    for fam in families:
        have = by_name.get(fam.name)
        if have is None:
            by_name[fam.name] = fam
        elif have.labels == fam.labels and have.type == fam.type:
            if fam.name not in copied:  # a new family before extending: never grow an input's list
                merged = Family.__new__(Family)
                merged.name, merged.type, merged.help, merged.labels, merged.lo = have.name, have.type, have.help, have.labels, have.lo
                merged.lvs, merged.values = list(have.lvs), list(have.values)
                by_name[fam.name] = have = merged
                copied.add(fam.name)
            have.lvs.extend(fam.lvs)
            have.values.extend(fam.values)
        else:
            raise ValueError(f"{fam.name}: emitted with different types or labels")
    out = []
    for name in sorted(by_name):
        fam = by_name[name]
        lvs = fam.lvs
        n = len(lvs)
        # the usual case, checked at C speed: already in order and no label set twice;
        # ``presorted``: each input family is (a collector's merged output), so only the
        # families merged here from several inputs need the check
        if n > 1 and (not presorted or name in copied) and (len(set(lvs)) != n or lvs != sorted(lvs)):
            order = sorted(range(n), key=lvs.__getitem__)  # stable: the first of equal label values stays first
            values = fam.values
            kept_l: list[tuple[str, ...]] = []
            kept_v: list[int | float] = []
            for i in order:
                lv = lvs[i]
                if kept_l and kept_l[-1] == lv:
                    continue
                kept_l.append(lv)
                kept_v.append(values[i])
            fam.lvs, fam.values = kept_l, kept_v
        out.append(fam)
    return out


# ------------------------------------------------------------------ text exposition


def _escape_help(s: str) -> str:
    return s.replace("\\", r"\\").replace("\n", r"\n")


def _escape_value(s: str) -> str:
    if "\\" in s or '"' in s or "\n" in s:
        return s.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return s


def format_value(v: int | float) -> str:
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


class SeriesCache:
    """The ``{label="value",...}`` part of the last render's series, per (label names,
    label values): the same series come back every scrape, and building the label part is
    most of the cost of rendering.  One per scraper (``Scraper.series``).  Each render
    keeps only the series it rendered, at most ``max_entries`` (about 150 bytes each):
    interface churn with unique names never accumulates."""

    def __init__(self, max_entries: int = 300_000) -> None:
        self.max_entries = max_entries
        self.heads: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}

    def __len__(self) -> int:
        return len(self.heads)


def _labels(labels: tuple[str, ...], lv: tuple[str, ...]) -> str:
    parts = [f'{k}="{_escape_value(v)}"' for k, v in zip(labels, lv)]
    return "{" + ",".join(parts) + "} "


CHUNK = 1 << 16


def render_chunks(families: Iterable[Family], cache: SeriesCache | None = None) -> Iterator[bytes]:
    """Prometheus text format 0.0.4 (exposition_formats.md) in UTF-8 pieces of about
    ``CHUNK`` bytes, so that the whole body never has to exist at once (a 4,000-path host
    renders ~10 MB; exporter.http gzips the pieces as they come)."""
    out: list[str] = []
    append = out.append
    size = 0
    if cache is None:
        cache = SeriesCache(0)
    old = cache.heads
    heads: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}
    room = cache.max_entries
    use_cache = cache.max_entries > 0
    for fam in families:
        if not fam.lvs:
            continue
        name = fam.name
        append(f"# HELP {name} {_escape_help(fam.help)}\n# TYPE {name} {fam.type}\n")
        if fam.labels:
            labels = fam.labels
            # name{a="%s",b="%s"} : one %-format per series when no value needs escaping
            tmpl = name + "{" + ",".join(f'{k}="%s"' for k in labels) + "} "
            for lv, v in zip(fam.lvs, fam.values):
                if use_cache:
                    key = (labels, lv)
                    head = heads.get(key)
                    if head is None:
                        head = old.get(key)
                        if head is None:
                            head = _labels(labels, lv)
                        if room > 0:
                            heads[key] = head
                            room -= 1
                    head = name + head
                else:
                    joined = "".join(lv)
                    if "\\" in joined or '"' in joined or "\n" in joined:
                        head = name + _labels(labels, lv)
                    else:
                        head = tmpl % lv
                line = head + (str(v) if type(v) is int else format_value(v)) + "\n"
                append(line)
                size += len(line)
                if size >= CHUNK:
                    yield "".join(out).encode("utf-8")
                    out.clear()
                    size = 0
        else:
            for v in fam.values:
                append(f"{name} {format_value(v)}\n")
    if use_cache:
        cache.heads = heads
    if out:
        yield "".join(out).encode("utf-8")


def render(families: Iterable[Family], cache: SeriesCache | None = None) -> bytes:
    """Prometheus text format 0.0.4 (exposition_formats.md), the whole body."""
    return b"".join(render_chunks(families, cache))
