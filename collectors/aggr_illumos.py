"""Collector ``aggr`` (illumos, Oracle Solaris): dladm link aggregations and their LACP state.

Sources (usr/src/cmd/dladm/dladm.c print_aggr_info, print_xaggr_cb, print_lacp_cb; strings
from usr/src/lib/libdladm/common/libdlaggr.c; man page usr/src/man/man8/dladm.8)
  topology    read every ``topology_interval`` (default 30 s) in the background:
  (slow       ``dladm show-aggr -p -o link,policy,addrpolicy,lacpactivity,lacptimer``
  cadence)      one row per aggregation: hashing policy (L2/L3/L4, comma-joined), LACP mode
                (off/active/passive) and timer (short/long);
              ``dladm show-aggr -x -p -o link,port,speed,duplex,state,address,portstate``
                one aggregation row (empty PORT and PORTSTATE) then one row per port:
                speed ``<n>Mb``, duplex, link state and MAC from the port's driver ``mac``
                kstat, PORTSTATE ``attached`` or ``standby``;
              ``dladm show-aggr -L -p -o link,port,aggregatable,sync,coll,dist,defaulted,
                expired`` one row per port, LINK only on the first port of each aggregation
                (carried forward), the actor's LACP state bits as yes/no.
  counters    per-port bytes and the port's current link state from the shared link table
  (every      (collector ``link``: the ports' driver ``mac`` kstats, read once per scrape).
  scrape)

A port's LACP bits are not cleared when its link drops (a physically down port still read
``yes yes yes yes no no``: TritonDataCenter/smartos-live#800, real-captures I-6), so a
port is up only when it is attached, its link is up and, with LACP, it is collecting and
distributing; the derived LACP checks are only raised for ports whose link is up.

Metrics: lanes_aggr_info, lanes_aggr_ports, lanes_aggr_ports_attached,
lanes_aggr_capacity_bytes, lanes_aggr_port_info, lanes_aggr_port_state,
lanes_aggr_port_link_up, lanes_aggr_port_speed_bytes, lanes_aggr_port_lacp_actor_state,
lanes_aggr_port_lacp_{not_aggregating,sync_missing,defaulted,expired} (derived checks) and the
group model (kind="aggr").  Partner information (partner system, rate mismatch,
ports on different partners) is not printed by dladm and is not exported.

Platforms: illumos and Oracle Solaris (``-x``/``-L`` exist since Solaris 10 8/07;
Solaris 11's DLMP aggregations print empty LACP fields).

By hand: the three ``dladm show-aggr`` commands above.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from collectors import _facts, _lacp
from collectors._cadence import Cadence
from collectors._kstat import run_tool
from collectors._link_common import SAMPLE_SOURCE, Link
from collectors._parse import opt_int, parseable_rows
from exporter.api import Collected, Collector, Family, Group, Host, Member, ParseError, add_stateset, gauge, info

DEFAULT_TOPOLOGY_INTERVAL = 30.0
DEFAULT_COMMAND_TIMEOUT = 5.0

SUMMARY_ARGS = ("show-aggr", "-p", "-o", "link,policy,addrpolicy,lacpactivity,lacptimer")
EXTENDED_ARGS = ("show-aggr", "-x", "-p", "-o", "link,port,speed,duplex,state,address,portstate")
LACP_ARGS = ("show-aggr", "-L", "-p", "-o", "link,port,aggregatable,sync,coll,dist,defaulted,expired")

LACP_BITS = ("aggregatable", "sync", "collecting", "distributing", "defaulted", "expired")
#: dladm's bit columns (dladm.c print_lacp) -> the 802.1AX bit names of collectors._lacp
DLADM_BITS = {
    "aggregatable": "aggregation",
    "sync": "synchronization",
    "collecting": "collecting",
    "distributing": "distributing",
    "defaulted": "defaulted",
    "expired": "expired",
}
PORT_STATES = ("attached", "standby", "unknown")


@dataclasses.dataclass(frozen=True)
class AggrSummary:
    name: str
    policy: str  # L2, L3, L4 or combinations such as "L2,L3"
    addrpolicy: str  # "auto" or "fixed (<mac>)"
    lacp_mode: str  # off, active, passive ("" for a DLMP aggregation on Solaris 11)
    lacp_timer: str  # short, long


@dataclasses.dataclass(frozen=True)
class AggrPort:
    aggr: str
    port: str
    speed_mbit: int | None
    duplex: str
    state: str  # port link state: up, down, unknown
    mac: str
    portstate: str  # attached, standby, unknown


@dataclasses.dataclass(frozen=True)
class Aggregation:
    name: str
    speed_mbit: int | None
    state: str
    mac: str
    ports: tuple[AggrPort, ...]


@dataclasses.dataclass(frozen=True)
class LacpPort:
    aggr: str
    port: str
    bits: Mapping[str, bool]  # LACP_BITS -> actor bit


@dataclasses.dataclass(frozen=True)
class AggrTopology:
    summary: Mapping[str, AggrSummary]
    extended: Mapping[str, Aggregation]
    lacp: Mapping[tuple[str, str], LacpPort]


def _blank(v: str) -> str:
    """Human mode prints ``--`` for empty; parseable mode prints nothing."""
    return "" if v == "--" else v


def parse_show_aggr(text: str) -> dict[str, AggrSummary]:
    source = "dladm show-aggr"
    out = {}
    for lineno, (link, policy, addrpolicy, mode, timer) in parseable_rows(text, source, 5):
        if not link:
            raise ParseError(source, lineno, "empty LINK")
        out[link] = AggrSummary(link, _blank(policy), _blank(addrpolicy), _blank(mode), _blank(timer))
    return out


def _speed_mb(text: str, source: str, lineno: int) -> int | None:
    text = _blank(text.strip())
    if text.endswith("Mb"):  # print_xaggr_cb: "%uMb"
        text = text[:-2]
    return opt_int(text, source, lineno)


def parse_show_aggr_x(text: str) -> dict[str, Aggregation]:
    """``show-aggr -x``: the aggregation row has an empty PORT; port rows repeat LINK in
    parseable mode (print_xaggr_cb prints laggr_link unless human mode), but a LINK left
    empty is carried forward from the aggregation row all the same."""
    source = "dladm show-aggr -x"
    aggrs: dict[str, dict] = {}
    current = ""
    for lineno, (link, port, speed, duplex, state, address, portstate) in parseable_rows(text, source, 7):
        link, port = _blank(link), _blank(port)
        if link:
            current = link
        if not current:
            raise ParseError(source, lineno, "port row before any aggregation row")
        entry = aggrs.setdefault(current, {"speed": None, "state": "unknown", "mac": "", "ports": []})
        sp = _speed_mb(speed, source, lineno)
        if not port:  # the aggregation row: values from link:0:<aggr>
            entry.update(speed=sp, state=state or "unknown", mac=address)
            continue
        ps = _blank(portstate) or "unknown"
        entry["ports"].append(AggrPort(current, port, sp, duplex, state or "unknown", address, ps))
    return {
        name: Aggregation(name, e["speed"], e["state"], e["mac"], tuple(e["ports"]))
        for name, e in aggrs.items()
    }


_YESNO = {"yes": True, "no": False}


def parse_show_aggr_lacp(text: str) -> dict[tuple[str, str], LacpPort]:
    """``show-aggr -L``: LINK only on the first port of each aggregation, even in parseable
    mode (print_lacp_cb: ``portnum > 0 ? "" : link``; ``--`` in human mode)."""
    source = "dladm show-aggr -L"
    out = {}
    current = ""
    for lineno, (link, port, *bits) in parseable_rows(text, source, 8):
        link, port = _blank(link), _blank(port)
        if link:
            current = link
        if not current or not port:
            raise ParseError(source, lineno, "row without aggregation or port")
        values = {}
        for bit, v in zip(LACP_BITS, bits):
            if v not in _YESNO:
                raise ParseError(source, lineno, f"{bit} is {v[:20]!r}, not yes/no")
            values[bit] = _YESNO[v]
        out[(current, port)] = LacpPort(current, port, values)
    return out


def read_aggr_topology(host: Host, timeout: float = DEFAULT_COMMAND_TIMEOUT) -> AggrTopology:
    summary = parse_show_aggr(run_tool(host, "dladm", SUMMARY_ARGS, timeout))
    if not summary:
        return AggrTopology({}, {}, {})  # no aggregations: absent
    extended = parse_show_aggr_x(run_tool(host, "dladm", EXTENDED_ARGS, timeout))
    lacp = parse_show_aggr_lacp(run_tool(host, "dladm", LACP_ARGS, timeout))
    return AggrTopology(summary, extended, lacp)


# ------------------------------------------------------------------ the model per port


@dataclasses.dataclass(frozen=True)
class PortStatus:
    """A port as the collector judges it: topology plus the link table's fresh state."""

    aggr: str
    port: str
    lacp: bool  # the aggregation runs LACP (mode active or passive)
    portstate: str
    link_up: bool
    speed_bytes: int | None
    mac: str
    bits: Mapping[str, bool] | None

    @property
    def lacp_state(self) -> int | None:
        """The actor's 802.1AX state octet from dladm's per-bit columns."""
        if self.bits is None:
            return None
        return _lacp.state_from_bits({name: self.bits[b] for b, name in DLADM_BITS.items()})

    @property
    def up(self) -> bool:
        """Attached, link up and, with LACP, collecting and distributing."""
        if self.portstate != "attached" or not self.link_up:
            return False
        if self.lacp and self.bits is not None:
            return _lacp.collecting_distributing(self.lacp_state)
        return True

    def check(self, name: str) -> bool | None:
        """Derived LACP checks; None when not applicable (no LACP or no -L row).  Raised
        only for ports whose link is up: a down port is already a member down."""
        if not self.lacp or self.bits is None:
            return None
        b = self.bits
        if not self.link_up:
            return False
        return {
            "not_aggregating": self.portstate != "attached" or not _lacp.collecting_distributing(self.lacp_state),
            "sync_missing": not _lacp.has(self.lacp_state, _lacp.SYNC),
            "defaulted": b["defaulted"],
            "expired": b["expired"],
        }[name]


def port_statuses(topo: AggrTopology, links: Mapping[str, Link]) -> list[PortStatus]:
    out = []
    for name, aggr in sorted(topo.extended.items()):
        summ = topo.summary.get(name)
        lacp = summ is not None and summ.lacp_mode in ("active", "passive")
        for p in aggr.ports:
            link = links.get(p.port)
            if link is not None and link.operstate in ("up", "down"):
                link_up = link.operstate == "up"  # fresh, from this scrape's kstat read
                speed = link.speed_bytes
            else:
                link_up = p.state == "up"
                speed = p.speed_mbit * 125_000 if p.speed_mbit else None
            lp = topo.lacp.get((name, p.port))
            out.append(PortStatus(name, p.port, lacp, p.portstate, link_up, speed if link_up else None, p.mac, lp.bits if lp else None))
    return out


CHECKS = {
    "not_aggregating": "1 if the port's link is up but it is not attached or not collecting and distributing (LACP)",
    "sync_missing": "1 if the port's link is up but the LACP actor is not in sync",
    "defaulted": "1 if the port's link is up but uses defaulted partner information: no LACPDUs from the partner (switch not set up for LACP)",
    "expired": "1 if the port's link is up but the partner's LACPDUs timed out",
}


def to_groups(summaries: Mapping[str, AggrSummary], ports: Iterable[PortStatus], links: Mapping[str, Link]) -> list[Group]:
    """kind="aggr", one group per aggregation, one member per port, up as
    ``PortStatus.up`` says (attached, link up and, with LACP, collecting and distributing).
    ``summaries``: aggregation name -> AggrSummary (``policy`` is dladm's hashing policy,
    L2/L3/L4).  Every port of a trunk aggregation carries traffic: balancing="load"."""
    by_aggr: dict[str, list[PortStatus]] = {name: [] for name in summaries}
    for p in ports:
        by_aggr.setdefault(p.aggr, []).append(p)
    out = []
    for name, mine in sorted(by_aggr.items()):
        members = []
        for p in mine:
            link = links.get(p.port)
            members.append(
                Member(
                    name=p.port,
                    up=p.up,
                    rx_bytes=link.rx_bytes if link else None,
                    tx_bytes=link.tx_bytes if link else None,
                    speed_bytes=p.speed_bytes,
                    sample=(SAMPLE_SOURCE, p.port),
                )
            )
        summary = summaries.get(name)
        out.append(
            Group(
                kind="aggr",
                name=name,
                policy=getattr(summary, "policy", "") or "",
                balancing="load",
                members=tuple(members),
                expected=len(members),
            )
        )
    return out


class AggrIllumos(Collector):
    name = "aggr"
    platforms = frozenset({"illumos"})
    OPTIONS = {"topology_interval": "duration", "command_timeout": "duration"}
    description = "dladm link aggregations: policy, LACP mode, per-port state and LACP bits (kind=aggr)"

    def __init__(self, host, ctx):
        super().__init__(host, ctx)
        self.timeout = ctx.option("command_timeout") or DEFAULT_COMMAND_TIMEOUT
        self.cadence: Cadence[AggrTopology] = Cadence(
            lambda: read_aggr_topology(self.host, self.timeout), ctx.option("topology_interval") or DEFAULT_TOPOLOGY_INTERVAL
        )

    def collect(self) -> Collected | list[Family]:
        topo, stamp = self.cadence.get()
        self.data_timestamp = stamp
        if not topo.summary:
            return []
        links = _facts.links(self.host, self.ctx)
        ports = port_statuses(topo, links)
        return Collected(self.families(topo, ports), to_groups(topo.summary, ports, links))

    def families(self, topo: AggrTopology, ports: list[PortStatus]) -> list[Family]:
        src_s = "From dladm show-aggr -p -o link,policy,addrpolicy,lacpactivity,lacptimer."
        src_x = "From dladm show-aggr -x -p (PORTSTATE; link state and speed from the port's driver mac kstat)."
        src_l = "From dladm show-aggr -L -p (actor LACP state of the port)."
        A, P = ("aggr",), ("aggr", "port")
        ai = info("aggr_info", f"Aggregation settings; value 1. {src_s}", ("aggr", "policy", "address_policy", "lacp_mode", "lacp_timer"))
        n = gauge("aggr_ports", f"Ports configured in the aggregation. {src_x}", A)
        na = gauge("aggr_ports_attached", f"Ports attached (carrying traffic). {src_x}", A)
        cap = gauge("aggr_capacity_bytes", f"Sum of the speeds of the ports able to carry traffic (attached, link up, with LACP collecting and distributing) in bytes/s (the aggregation's own ifspeed is one port's speed). {src_x}", A)
        pi = info("aggr_port_info", f"Aggregated port; value 1. {src_x}", ("aggr", "port", "mac"))
        ps = gauge("aggr_port_state", f"Port state in the aggregation, one series per state. {src_x}", ("aggr", "port", "state"))
        pl = gauge("aggr_port_link_up", f"1 if the port's link is up. {src_x}", P)
        psp = gauge("aggr_port_speed_bytes", f"Port speed in bytes/s while its link is up. {src_x}", P)
        bits = gauge("aggr_port_lacp_actor_state", f"Actor LACP state bit of the port (1 set, 0 clear); not cleared when the link drops. {src_l}", ("aggr", "port", "bit"))
        checks = {k: gauge(f"aggr_port_lacp_{k}", f"{v}. {src_l}", P) for k, v in CHECKS.items()}
        for name, s in sorted(topo.summary.items()):
            ai.add((name, s.policy, s.addrpolicy, s.lacp_mode, s.lacp_timer), 1)
        by_aggr: dict[str, list[PortStatus]] = {}
        for p in ports:
            by_aggr.setdefault(p.aggr, []).append(p)
        for name in sorted(set(topo.summary) | set(by_aggr)):
            mine = by_aggr.get(name, [])
            n.add((name,), len(mine))
            na.add((name,), sum(1 for p in mine if p.portstate == "attached"))
            cap.add((name,), sum(p.speed_bytes or 0 for p in mine if p.up))
        for p in ports:
            lv = (p.aggr, p.port)
            pi.add((*lv, p.mac), 1)
            add_stateset(ps, lv, PORT_STATES, p.portstate)
            pl.add(lv, p.link_up)
            psp.add(lv, p.speed_bytes)
            if p.bits is not None:
                for b in LACP_BITS:
                    bits.add((*lv, b), p.bits[b])
            for k, fam in checks.items():
                fam.add(lv, p.check(k))
        return [ai, n, na, cap, pi, ps, pl, psp, bits, *checks.values()]
