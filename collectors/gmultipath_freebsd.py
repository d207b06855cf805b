"""Collector ``gmultipath`` (FreeBSD): GEOM multipath providers and their paths (kind=gmultipath).

Source (every scrape, no privilege needed: geom(8) reads the kern.geom.confxml sysctl):
``gmultipath list``, the generic geom(8) listing (sbin/geom/core/geom.c list_one_geom:
``Geom name: <name>``, the geom's config as ``<key>: <value>``, ``Providers:`` and
``Consumers:`` with numbered entries ``<n>. Name: <name>`` followed by ``Mediasize:``,
``Sectorsize:``, ``Mode:`` and the config, indented by three blanks; a blank line after
each geom) with the MULTIPATH class's config (sys/geom/multipath/g_multipath.c
g_multipath_dumpconf):

* geom: ``State`` OPTIMAL / DEGRADED (fewer good paths than disks, or one disk) / BROKEN
  (no good path), ``UUID``, ``Mode`` ``Active/Passive``, ``Active/Active`` or
  ``Active/Read``, ``Type`` AUTOMATIC / MANUAL;
* provider (``multipath/<name>``): ``State``;
* consumer (a path, e.g. ``da0``): ``State`` NEW / LOST / FAIL, else ACTIVE (every good
  path in Active/Active, the one active path otherwise), READ (Active/Read: reads only) or
  PASSIVE.

Without the MULTIPATH class (geom_multipath.ko not loaded) geom prints ``Class
'MULTIPATH' not found.`` and the collector reports nothing and succeeds.

Group model: group = the provider (``multipath/disk1``), member = path (consumer).  Up:
ACTIVE, READ or PASSIVE (NEW, LOST and FAIL paths are not in g_multipath_good's count).
Preferred (SPEC §12): Active/Passive: the ACTIVE path; Active/Active: every ACTIVE path;
Active/Read: ACTIVE and READ.  Balancing: load for Active/Active and Active/Read (I/O is
spread over the paths), failover for Active/Passive.  Per-path bytes are not in this
output: absent.

Paths over iSCSI: the da device of a path is listed by ``iscsictl -L`` under its session
(``Connected: da0``), whose portal is reached over the local interface holding the
portal's network (``ifconfig -a``): ``lanes_gmultipath_path_info`` joins path, session and
NIC, and the member's speed is that NIC's.  Best effort: without ``iscsictl`` (not root,
no initiator) the join is missing and the collector still succeeds.

By hand: ``gmultipath list`` (``gmultipath status`` is the short form).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping

from collectors import _freebsd, _ifconfig, _iscsictl
from exporter.api import (
    Collected,
    Collector,
    CommandNotFound,
    Family,
    Group,
    Host,
    Member,
    ParseError,
    add_stateset,
    expected_members,
    gauge,
    info,
)

ARGS = ("list",)
SOURCE = "gmultipath list"
TIMEOUT = 5.0
GEOM_STATES = ("OPTIMAL", "DEGRADED", "BROKEN")
UP_STATES = frozenset({"ACTIVE", "READ", "PASSIVE"})
LOAD_MODES = frozenset({"Active/Active", "Active/Read"})


@dataclasses.dataclass(frozen=True)
class GeomEntry:
    """A provider or consumer: its name and config (Mediasize, Mode, State, ...)."""

    name: str
    config: Mapping[str, str]

    @property
    def state(self) -> str:
        return self.config.get("State", "")


@dataclasses.dataclass(frozen=True)
class Multipath:
    name: str  # the geom name, e.g. disk1
    config: Mapping[str, str]  # State, UUID, Mode, Type
    providers: tuple[GeomEntry, ...]
    consumers: tuple[GeomEntry, ...]

    @property
    def provider(self) -> str:
        return self.providers[0].name if self.providers else f"multipath/{self.name}"

    @property
    def mode(self) -> str:
        return self.config.get("Mode", "")

    @property
    def state(self) -> str:
        return self.config.get("State", "")


_ENTRY = re.compile(r"^(\d+)\. (.*)$")


def parse_geom_list(text: str, source: str = SOURCE) -> list[Multipath]:
    out: list[Multipath] = []
    geom: dict | None = None
    section = ""  # "", "providers", "consumers"
    entry: dict | None = None

    def close_entry() -> None:
        nonlocal entry
        if entry is not None and geom is not None:
            geom[section].append(GeomEntry(entry["name"], dict(entry["config"])))
        entry = None

    def close_geom() -> None:
        nonlocal geom
        close_entry()
        if geom is not None:
            out.append(Multipath(geom["name"], dict(geom["config"]), tuple(geom["providers"]), tuple(geom["consumers"])))
        geom = None

    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        if line.startswith("Geom name:"):
            close_geom()
            name = line.partition(":")[2].strip()
            if not name:
                raise ParseError(source, lineno, "empty geom name")
            geom = {"name": name, "config": {}, "providers": [], "consumers": []}
            section = ""
            continue
        if geom is None:
            raise ParseError(source, lineno, f"line before any 'Geom name:': {line[:60]!r}")
        if line in ("Providers:", "Consumers:"):
            close_entry()
            section = line[:-1].lower()
            continue
        m = _ENTRY.match(line)
        if m:
            if not section:
                raise ParseError(source, lineno, "numbered entry outside Providers/Consumers")
            close_entry()
            rest = m.group(2)
            if rest == "[no provider]":
                entry = None
                continue
            key, colon, value = rest.partition(":")
            if key != "Name" or not colon or not value.strip():
                raise ParseError(source, lineno, f"entry without a name: {rest[:60]!r}")
            entry = {"name": value.strip(), "config": {}}
            continue
        key, colon, value = line.strip().partition(":")
        if not colon or not key:
            raise ParseError(source, lineno, f"not 'key: value': {line[:60]!r}")
        if line[0].isspace():
            if entry is None:
                if section:
                    continue  # the rest of a "[no provider]" consumer
                raise ParseError(source, lineno, "indented line outside an entry")
            entry["config"][key] = value.strip()
        else:
            if section:
                raise ParseError(source, lineno, f"geom config after {section}: {line[:60]!r}")
            geom["config"][key] = value.strip()
    close_geom()
    return out


def read_multipaths(host: Host) -> list[Multipath] | None:
    """None when the MULTIPATH class is absent."""
    try:
        r = host.run("gmultipath", list(ARGS), timeout=TIMEOUT)
    except CommandNotFound:
        return None
    if r.returncode != 0:
        err = r.stderr.strip()
        if "not found" in err and "MULTIPATH" in err:  # geom.c: "Class '%s' not found."
            return None
        why = (err.splitlines() or ["no message"])[0][:200]
        raise RuntimeError(f"gmultipath list: exit {r.returncode}: {why}")
    return parse_geom_list(r.stdout)


def path_preferred(mode: str, state: str) -> bool:
    if mode == "Active/Read":
        return state in ("ACTIVE", "READ")
    return state == "ACTIVE"


def to_groups(mps: Iterable[Multipath], config=None, speeds: Mapping[str, int | None] | None = None) -> list[Group]:
    """``speeds``: path (da device) -> speed of the NIC its iSCSI session rides."""
    out = []
    for mp in sorted(mps, key=lambda m: m.provider):
        members = tuple(
            Member(name=c.name, up=c.state in UP_STATES, preferred=c.state in UP_STATES and path_preferred(mp.mode, c.state), speed_bytes=(speeds or {}).get(c.name))
            for c in sorted(mp.consumers, key=lambda c: c.name)
        )
        out.append(
            Group(
                kind="gmultipath",
                name=mp.provider,
                policy=mp.mode or "unknown",
                balancing="load" if mp.mode in LOAD_MODES else "failover",
                members=members,
                expected=max(expected_members(config, "gmultipath", mp.provider), len(members)),
            )
        )
    return out


class GmultipathFreebsd(Collector):
    name = "gmultipath"
    platforms = frozenset({"freebsd"})
    description = "GEOM multipath providers and their paths: mode, state, ACTIVE/PASSIVE/FAIL (kind=gmultipath)"


    def collect(self) -> Collected | list[Family]:
        mps = read_multipaths(self.host)
        if mps is None:
            return []
        P = ("provider",)
        mi = info("gmultipath_info", f"A GEOM multipath provider; value 1. From {SOURCE} (Mode, Type, UUID of the geom).", ("provider", "geom", "mode", "type", "uuid"))
        ms = gauge("gmultipath_state", f"Provider state, one series per state (DEGRADED: fewer good paths than disks or a single disk; BROKEN: no good path). From {SOURCE} geom State.", ("provider", "state"))
        ps = gauge("gmultipath_path_state", f"Path (consumer) state: one series, value 1, state ACTIVE, READ, PASSIVE, FAIL, LOST or NEW. From {SOURCE} consumer State.", ("provider", "path", "state"))
        np = gauge("gmultipath_paths", f"Paths (consumers) of the provider. From {SOURCE} Consumers.", P)
        pinfo = info("gmultipath_path_info", "A path that is a disk of an iSCSI session: its target, portal and the local NIC the portal is reached by; value 1. From gmultipath list, iscsictl -L (Connected: devices) and ifconfig -a (networks).", ("provider", "path", "target", "portal", "netdev"))
        joins = self._iscsi_paths()
        for mp in mps:
            p = mp.provider
            mi.add((p, mp.name, mp.mode, mp.config.get("Type", ""), mp.config.get("UUID", "")), 1)
            add_stateset(ms, (p,), GEOM_STATES, mp.state)
            np.add((p,), len(mp.consumers))
            for c in mp.consumers:
                ps.add((p, c.name, c.state or "unknown"), 1)
                if c.name in joins:
                    target, portal, netdev, _ = joins[c.name]
                    pinfo.add((p, c.name, target, portal, netdev), 1)
        speeds = {path: j[3] for path, j in joins.items()}
        return Collected([mi, ms, ps, np, pinfo], to_groups(mps, self.ctx.config, speeds))

    def _iscsi_paths(self) -> dict[str, tuple[str, str, str, int | None]]:
        """da device -> (target, portal, netdev, NIC speed), best effort."""
        try:
            sessions = _freebsd.iscsi_sessions(self.host, self.ctx) or []
        except Exception as e:  # noqa: BLE001 - the iscsi collector reports its own failure
            self.ctx.log.debug("no iSCSI sessions for the path join: %s", e)
            return {}
        interfaces, links = _freebsd.nic_table(self.host, self.ctx)
        out = {}
        for s in sessions:
            netdev = _ifconfig.interface_for(_iscsictl.portal_address(s.portal), interfaces.values())
            speed = links[netdev].speed_bytes if netdev in links else None
            for dev in s.devices:
                out[dev] = (s.target, s.portal, netdev, speed)
        return out
