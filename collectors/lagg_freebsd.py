"""Collector ``lagg`` (FreeBSD): lagg(4) interfaces, their ports and LACP state (kind=lagg).

Sources (every scrape; no privilege needed: SIOCGLAGG, SIOCGLAGGPORT, SIOCGLAGGOPTS and
SIOCGLAGGFLAGS are read-only ioctls any user may issue):
  ``ifconfig -a``          (shared with ``link``) finds the laggs (a ``laggproto`` line);
  ``ifconfig -v <lagg>``   per lagg: protocol, hash layers, options, ``active ports``,
                           ``flapping``, the LACP lag id, and per port its flags
                           (sys/net/if_lagg.h LAGG_PORT_BITS), the actor's LACP state
                           (``state=``) and the actor/partner tuples
                           (sbin/ifconfig/iflagg.c lagg_status; collectors/_ifconfig.py).
  link table               the ports' carrier, speed and counters (collector ``link``).

What the port flags mean, from sys/net/if_lagg.c lagg_port2req(): for ``lacp`` ACTIVE is
"joined to the active aggregator" (ieee8023ad_lacp.c lacp_isactive), COLLECTING and
DISTRIBUTING are the actor state bits; for ``failover`` MASTER is the primary port and
ACTIVE the one port carrying traffic now; for ``loadbalance``, ``roundrobin`` and
``broadcast`` ACTIVE is LAGG_PORTACTIVE (link up and IFF_UP).

Member up (lanes_member_up): ``lacp``: link up and ACTIVE, COLLECTING and DISTRIBUTING
(a port outside the active aggregator or not distributing carries nothing although its
link is up); ``failover``: link up (a backup port takes over); ``loadbalance``,
``roundrobin``, ``broadcast``: ACTIVE; ``none`` passes no traffic.  Preferred: every up
member, except ``failover`` where only the ACTIVE port is meant to carry traffic.

Derived LACP checks (0/1, only for ports whose link is up: a down port is already a
member down): not aggregating (not ACTIVE, COLLECTING and DISTRIBUTING), sync missing,
defaulted (no LACPDU from the partner: the switch is not set up for LACP), expired, no
partner (all-zero partner tuple), and a partner other than the lag id's (the port
reaches another switch or LAG).

By hand: ``ifconfig -v lagg0``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from collectors import _facts, _freebsd, _ifconfig, _lacp
from collectors._link_common import SAMPLE_SOURCE, Link
from exporter.api import Collected, Collector, Family, Group, Host, Member, counter, gauge, info

LOAD_PROTOCOLS = frozenset({"lacp", "loadbalance", "roundrobin"})
CHECKS = {
    "not_aggregating": "1 if the port's link is up but it is not ACTIVE, COLLECTING and DISTRIBUTING (outside the active aggregator, or LACP has not enabled it)",
    "sync_missing": "1 if the port's link is up but the actor is not in sync (SYNC bit clear)",
    "defaulted": "1 if the port's link is up but uses defaulted partner information: no LACPDUs from the partner (switch not set up for LACP)",
    "expired": "1 if the port's link is up but the partner's LACPDUs timed out",
    "no_partner": "1 if the port's link is up but its partner tuple is all zero (no LACP partner)",
    "partner_mismatch": "1 if the port's partner system or key differs from the lag id's partner: the port reaches another switch or LAG",
}


@dataclasses.dataclass(frozen=True)
class PortStatus:
    lagg: str
    proto: str
    port: _ifconfig.LaggPort
    link: Link | None
    lag_partner: _ifconfig.LacpPeer | None

    @property
    def name(self) -> str:
        return self.port.name

    @property
    def link_up(self) -> bool:
        return bool(self.link and self.link.up)

    @property
    def aggregating(self) -> bool:
        """ACTIVE (joined to the active aggregator) and the actor collecting and
        distributing: the flags lagg_port2req derives from the LACP state machine."""
        return all(self.port.flag(f) for f in ("ACTIVE", "COLLECTING", "DISTRIBUTING"))

    @property
    def up(self) -> bool:
        if self.proto == "lacp":
            return self.link_up and self.aggregating
        if self.proto == "failover":
            return self.link_up
        if self.proto == "none":
            return False
        return self.port.flag("ACTIVE") and (self.link is None or self.link_up)

    @property
    def preferred(self) -> bool:
        if self.proto == "failover":
            return self.up and self.port.flag("ACTIVE")
        return self.up

    def check(self, name: str) -> bool | None:
        """None where not applicable: not LACP, or a bit ``ifconfig -v`` did not print."""
        if self.proto != "lacp":
            return None
        if name == "not_aggregating":
            return self.link_up and not self.aggregating
        state, partner = self.port.actor_state, self.port.partner
        if name in ("sync_missing", "defaulted", "expired"):
            bit = {"sync_missing": _lacp.SYNC, "defaulted": _lacp.DEFAULTED, "expired": _lacp.EXPIRED}[name]
            has = _lacp.has(state, bit)
            if has is None:
                return None
            return self.link_up and (not has if name == "sync_missing" else has)
        if partner is None:
            return None
        if name == "no_partner":
            return self.link_up and _lacp.no_partner_system([partner.system])
        lag = self.lag_partner
        if lag is None:
            return None
        if not _lacp.partner_systems([partner.system]) or not _lacp.partner_systems([lag.system]):
            return False  # a side without partner: that is no_partner, not a mismatch
        return self.link_up and (partner.system, partner.key) != (lag.system, lag.key)


def read_laggs(host: Host, interfaces: Mapping[str, _ifconfig.Interface]) -> dict[str, _ifconfig.Lagg]:
    """Per lagg its ``ifconfig -v`` detail; a lagg destroyed meanwhile is skipped."""
    out = {}
    for name, iface in sorted(interfaces.items()):
        if iface.lagg is None:
            continue
        r = host.run("ifconfig", ["-v", name], timeout=5.0)
        if r.returncode != 0:
            if "does not exist" in r.stderr:  # ifconfig.c: "interface %s does not exist"
                continue
            why = (r.stderr.strip().splitlines() or ["no message"])[0][:200]
            raise RuntimeError(f"ifconfig -v {name}: exit {r.returncode}: {why}")
        detail = _ifconfig.parse_ifconfig(r.stdout).get(name)
        lagg = detail.lagg if detail is not None and detail.lagg is not None else iface.lagg
        out[name] = lagg
    return out


def port_statuses(laggs: Mapping[str, _ifconfig.Lagg], links: Mapping[str, Link]) -> list[PortStatus]:
    return [
        PortStatus(name, lagg.proto, p, links.get(p.name), lagg.lag_partner)
        for name, lagg in sorted(laggs.items())
        for p in lagg.ports
    ]


def to_groups(laggs: Mapping[str, _ifconfig.Lagg], ports: Iterable[PortStatus]) -> list[Group]:
    by_lagg: dict[str, list[PortStatus]] = {name: [] for name in laggs}
    for p in ports:
        by_lagg.setdefault(p.lagg, []).append(p)
    out = []
    for name, mine in sorted(by_lagg.items()):
        lagg = laggs.get(name)
        proto = lagg.proto if lagg else "unknown"
        members = []
        for p in mine:
            link = p.link
            members.append(
                Member(
                    name=p.name,
                    up=p.up,
                    preferred=p.preferred,
                    rx_bytes=link.rx_bytes if link else None,
                    tx_bytes=link.tx_bytes if link else None,
                    speed_bytes=link.speed_bytes if link else None,
                    sample=(SAMPLE_SOURCE, p.name),
                )
            )
        out.append(
            Group(
                kind="lagg",
                name=name,
                policy=proto,
                balancing="load" if proto in LOAD_PROTOCOLS else "failover",
                members=tuple(members),
                expected=len(members),
            )
        )
    return out


SRC = "From ifconfig -v <lagg> (sbin/ifconfig/iflagg.c)."


class LaggFreebsd(Collector):
    name = "lagg"
    platforms = frozenset({"freebsd"})
    description = "lagg(4) interfaces: protocol, hash, ports with their flags, LACP state and derived checks (kind=lagg)"

    def collect(self) -> Collected | list[Family]:
        interfaces = _freebsd.interfaces(self.host, self.ctx)
        if not any(i.lagg is not None for i in interfaces.values()):
            return []
        laggs = read_laggs(self.host, interfaces)
        links = _facts.links(self.host, self.ctx)
        ports = port_statuses(laggs, links)
        return Collected(self.families(laggs, ports), to_groups(laggs, ports))

    def families(self, laggs: Mapping[str, _ifconfig.Lagg], ports: list[PortStatus]) -> list[Family]:
        L, P = ("lagg",), ("lagg", "port")
        li = info("lagg_info", f"lagg interface; value 1. protocol from laggproto, hash from lagghash (empty where not printed). {SRC}", ("lagg", "protocol", "hash"))
        n = gauge("lagg_ports", f"Ports in the lagg (laggport lines). {SRC}", L)
        na = gauge("lagg_active_ports", f"Ports the lagg counts as active (lagg statistics: active ports). {SRC}", L)
        flaps = counter("lagg_flaps_total", f"Port link flaps counted by the lagg (lagg statistics: flapping). {SRC}", L)
        cap = gauge("lagg_capacity_bytes", f"Sum of the speeds of the ports able to carry traffic now, bytes/s (port speed from the link table). {SRC}", L)
        pf = gauge("lagg_port_flag", f"Port flag (sys/net/if_lagg.h LAGG_PORT_BITS), 1 set, 0 clear. {SRC}", ("lagg", "port", "flag"))
        pl = gauge("lagg_port_link_up", "1 if the port's link is up. From the link table (ifconfig -a status).", P)
        bits = gauge("lagg_port_lacp_actor_state", f"Actor LACP state bit of the port (state=, sys/net/ieee8023ad_lacp.h LACP_STATE_BITS: IEEE 802.1AX), 1 set, 0 clear. {SRC}", ("lagg", "port", "bit"))
        pi = info("lagg_port_lacp_partner_info", f"The port's LACP partner: system MAC (zero: none), key and port number (hex, as ifconfig prints them); value 1. {SRC}", ("lagg", "port", "partner_system", "partner_key", "partner_port"))
        checks = {k: gauge(f"lagg_port_lacp_{k}", f"{v}. {SRC}", P) for k, v in CHECKS.items()}
        by_lagg: dict[str, list[PortStatus]] = {}
        for p in ports:
            by_lagg.setdefault(p.lagg, []).append(p)
        for name, lagg in sorted(laggs.items()):
            mine = by_lagg.get(name, [])
            li.add((name, lagg.proto, lagg.hash), 1)
            n.add((name,), len(lagg.ports))
            na.add((name,), lagg.active_ports)
            flaps.add((name,), lagg.flapping)
            cap.add((name,), sum((p.link.speed_bytes or 0) for p in mine if p.up and p.link))
        for p in ports:
            lv = (p.lagg, p.name)
            for flag in _ifconfig.LAGG_PORT_FLAGS:
                pf.add((*lv, flag), p.port.flag(flag))
            pl.add(lv, p.link_up if p.link is not None else None)
            if p.port.actor_state is not None:
                for bit, mask in _lacp.LACP_BITS:
                    bits.add((*lv, bit), bool(p.port.actor_state & mask))
            if p.port.partner is not None:
                q = p.port.partner
                pi.add((*lv, q.system, f"{q.key:04X}", f"{q.port:04X}"), 1)
            for k, fam in checks.items():
                fam.add(lv, p.check(k))
        return [li, n, na, flaps, cap, pf, pl, bits, pi, *checks.values()]
