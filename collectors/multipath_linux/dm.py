"""The device-mapper multipath status and table lines (``dmsetup status|table --target
multipath``; drivers/md/dm-mpath.c multipath_status)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from collectors.multipath_linux.model import MapState, PathGroup, PathState
from exporter.api import ParseError

NUM = re.compile(r"[0-9]{1,20}").fullmatch


class _Tokens:
    def __init__(self, tokens: Sequence[str], source: str, lineno: int):
        self.t, self.i, self.source, self.lineno = tokens, 0, source, lineno

    def take(self) -> str:
        if self.i >= len(self.t):
            raise ParseError(self.source, self.lineno, "line ends early")
        self.i += 1
        return self.t[self.i - 1]

    def int(self, limit: int = 1 << 20) -> int:
        v = self.take()
        if not NUM(v) or int(v) > limit:
            raise ParseError(self.source, self.lineno, f"expected a count, got {v[:20]!r}")
        return int(v)

    def skip(self, n: int) -> list[str]:
        return [self.take() for _ in range(n)]


def _dm_lines(text: str, source: str):
    """(lineno, name or None, tokens after the target type) for each multipath target line.
    ``dmsetup status`` prints ``name: `` only in its all-devices form; lines end with a blank
    and one device can have several lines, one per segment (real-captures.md L-7)."""
    for lineno, raw in enumerate(text.splitlines(), 1):
        t = raw.split()
        if not t:
            continue
        name = None
        if t[0].endswith(":"):
            name, t = t[0][:-1], t[1:]
        if len(t) < 3 or not NUM(t[0]) or not NUM(t[1]):
            if raw.strip() == "No devices found":
                continue
            raise ParseError(source, lineno, "expected '<start> <length> <target>'")
        if t[2] != "multipath":
            continue
        yield lineno, name, t[3:]


DEVT = re.compile(r"\d+:\d+")


def parse_dm_status(text: str) -> dict[str, MapState]:
    """dm-mpath multipath_status, STATUSTYPE_INFO:
    ``<#feat> <feat..> <#hwh> <hwh..> <#pgs> <cur_pg> {<A|E|D> <#sel> <sel..> <#paths>
    <#path_args> {<maj:min> <A|F> <fail_count> <args..>}}``."""
    src = "dmsetup status"
    out: dict[str, MapState] = {}
    for lineno, name, t in _dm_lines(text, src):
        k = _Tokens(t, src, lineno)
        k.skip(k.int())  # queue_io, pg_init_count
        k.skip(k.int())  # hardware handler status
        npgs, cur = k.int(), k.int()
        pgs = []
        for n in range(1, npgs + 1):
            letter = k.take()
            if letter not in ("A", "E", "D"):
                raise ParseError(src, lineno, f"path group state {letter[:8]!r}")
            k.skip(k.int())
            npaths, nargs = k.int(), k.int()
            paths = []
            for _ in range(npaths):
                devt, st, fails = k.take(), k.take(), k.int(1 << 62)
                if not DEVT.fullmatch(devt) or st not in ("A", "F"):
                    raise ParseError(src, lineno, f"bad path {devt[:20]!r} {st[:4]!r}")
                k.skip(nargs)
                paths.append(PathState(None, devt, "active" if st == "A" else "failed", None, None, fails, None))
            # the current group is <cur_pg>, never the position (L-7: first listed can be E)
            state = {"A": "active", "E": "enabled", "D": "disabled"}[letter]
            if n == cur and letter != "D":
                state = "active"
            elif state == "active" and n != cur:
                state = "enabled"
            pgs.append(PathGroup(n, state, None, None, tuple(paths)))
        key = name or ""
        out[key] = MapState(key, None, None, None, None, None, None, None, tuple(pgs), "dm")
    return out


def parse_dm_table(text: str) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """dm-mpath multipath_status, STATUSTYPE_TABLE: ``<#feat> <feat..> <#hwh> [<name> <args..>]
    <#pgs> <init_pg> {<selector> <#sel> <sel..> <#paths> <#path_args> {<maj:min> <args..>}}``.
    Returns name -> (features, hwhandler, selector per group)."""
    src = "dmsetup table"
    out = {}
    for lineno, name, t in _dm_lines(text, src):
        k = _Tokens(t, src, lineno)
        nf = k.int()
        features = " ".join([str(nf), *k.skip(nf)])
        nh = k.int()
        hw = " ".join([str(nh), *k.skip(nh)])
        npgs = k.int()
        k.int()
        sels = []
        for _ in range(npgs):
            sel = k.take()
            sel_args = k.skip(k.int())
            sels.append(" ".join([sel, str(len(sel_args)), *sel_args]))  # as multipathd prints it: "service-time 0"
            npaths, nargs = k.int(), k.int()
            for _ in range(npaths):
                if not DEVT.fullmatch(k.take()):
                    raise ParseError(src, lineno, "bad path device")
                k.skip(nargs)
        out[name or ""] = (features, hw, tuple(sels))
    return out


def queue_if_no_path(features: str | None) -> bool | None:
    if features is None:
        return None
    return "queue_if_no_path" in features.split()


def grouping_policy(groups_: Sequence[PathGroup]) -> str:
    """multipath.conf path_grouping_policy as it shows in the table: one group holding every
    path is multibus; one path per group is failover; otherwise groups by priority/node."""
    if not groups_:
        return "unknown"
    if len(groups_) == 1:
        return "multibus" if len(groups_[0].paths) > 1 else "failover"
    if all(len(g.paths) <= 1 for g in groups_):
        return "failover"
    return "group_by_prio"
