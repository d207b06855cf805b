"""Collector ``ipmp`` (illumos, Oracle Solaris): IP multipathing groups.

Sources (usr/src/cmd/cmd-inet/usr.sbin/ipmpstat/ipmpstat.c; man page
usr/src/man/man8/ipmpstat.8; ipmpstat talks to in.mpathd through libipmp)
  topology    read every ``topology_interval`` (default 30 s) in the background, always
  (slow       ``-P`` (parseable: ``:`` separated, ``\\:`` escaped) and ``-n`` (no name lookups):
  cadence)    ``ipmpstat -P -n -g -o group,groupname,state,fdt,interfaces``
                group state ok/degraded/failed, failure detection time (``%.2fs``, empty
                when probing is disabled), interfaces: active plain, inactive inside one
                ``(...)``, unusable inside one ``[...]`` (sfunc_group_interfaces);
              ``ipmpstat -P -n -i -o interface,active,group,flags,link,probe,state``
                FLAGS positions i s m b M d h (sfunc_if_flags);
              ``ipmpstat -P -n -t -o interface,mode,testaddr,targets``
                one row per interface and address family with probing on (one row with
                MODE disabled when off); IPv6 addresses arrive escaped (``fe80\\:\\:1``).
              ``ipmpstat -p`` is never run: it needs privileges and runs forever.
  counters    per scrape: members' bytes from the shared link table (``link:0:<if>``);
  (every      group totals from ``kstat -p 'ipmp:0:/^(ipmp0)$/'``: ipmp_grp_create_kstats in
  scrape)     uts/common/inet/ip/ipmp.c names the kstat after the IPMP interface and
              ipmp_grp_update_kstats sums the group's interfaces (plus those that left);
              ``link_up`` is the IPMP interface's IFF_RUNNING.

"cannot contact in.mpathd" (the daemon is not running) and a host without groups mean
IPMP is not in use: no series, success 1.  Unknown enum values print as ``<n>``
(ipmpstat.c enum2str) and map to state ``unknown``.

Metrics: lanes_ipmp_group_info, lanes_ipmp_group_state, lanes_ipmp_group_failure_detection_seconds,
lanes_ipmp_group_{receive,transmit}_{bytes,packets}_total, lanes_ipmp_group_link_up,
lanes_ipmp_interface_{active,standby,inactive,failed,offline}, lanes_ipmp_interface_state,
lanes_ipmp_interface_link, lanes_ipmp_interface_probe, lanes_ipmp_interface_probe_info,
lanes_ipmp_interface_probe_targets, and the group model (kind="ipmp").

Platforms: illumos and Oracle Solaris 10 update 8 and later (ipmpstat).

By hand: the three ``ipmpstat`` commands above; ``kstat -p ipmp:0:ipmp0``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from collectors import _facts
from collectors._cadence import Cadence
from collectors._kstat import KStats, batched_selectors, first_uint, read_kstat_commands
from collectors._link_common import SAMPLE_SOURCE, Link
from collectors._parse import parseable_rows
from exporter.api import Collected, Collector, Family, Group, Host, Member, ParseError, add_stateset, counter, gauge, info

DEFAULT_TOPOLOGY_INTERVAL = 30.0
DEFAULT_COMMAND_TIMEOUT = 5.0

GROUP_ARGS = ("-P", "-n", "-g", "-o", "group,groupname,state,fdt,interfaces")
IF_ARGS = ("-P", "-n", "-i", "-o", "interface,active,group,flags,link,probe,state")
TARGET_ARGS = ("-P", "-n", "-t", "-o", "interface,mode,testaddr,targets")

GROUP_STATES = ("ok", "degraded", "failed", "unknown")
IF_STATES = ("ok", "failed", "offline", "unknown")
LINK_STATES = ("up", "down", "unknown")
PROBE_STATES = ("ok", "failed", "unknown", "disabled")

#: ipmpstat's message when in.mpathd does not answer (ipmpstat.c main: "cannot contact
#: in.mpathd(1M) -- is IPMP in use?"; newer man-page section numbers say (8))
NOT_RUNNING = "cannot contact in.mpathd"


@dataclasses.dataclass(frozen=True)
class IpmpGroup:
    group: str  # the IPMP interface (gr_ifname), e.g. ipmp0: the kstat and -i GROUP name
    groupname: str  # the group name (gr_name)
    state: str
    fdt_seconds: float | None
    active: tuple[str, ...]
    inactive: tuple[str, ...]
    unusable: tuple[str, ...]

    @property
    def interfaces(self) -> tuple[str, ...]:
        return self.active + self.inactive + self.unusable


@dataclasses.dataclass(frozen=True)
class IpmpInterface:
    name: str
    active: bool
    group: str
    flags: str
    link: str
    probe: str
    state: str

    @property
    def standby(self) -> bool:
        return "s" in self.flags

    @property
    def inactive(self) -> bool:
        return "i" in self.flags

    @property
    def down(self) -> bool:
        return "d" in self.flags

    @property
    def usable(self) -> bool:
        """Able to carry traffic now (active, or an inactive standby ready to take over)."""
        return self.state == "ok" and not self.down


@dataclasses.dataclass(frozen=True)
class ProbeTarget:
    interface: str
    mode: str  # disabled, routes, multicast
    testaddr: str
    targets: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class IpmpTopology:
    groups: Mapping[str, IpmpGroup]
    interfaces: Mapping[str, IpmpInterface]
    targets: tuple[ProbeTarget, ...]


def _enum(v: str) -> str:
    """``<n>`` (an enum value this ipmpstat does not know) is unknown."""
    return "unknown" if not v or v.startswith("<") else v


_FDT = re.compile(r"^(\d+(?:\.\d+)?)s$")


def parse_interfaces(text: str, source: str = "ipmpstat -g", lineno: int | None = None) -> tuple[tuple[str, ...], ...]:
    """INTERFACES: ``a b (c d) [e f]`` -> (active, inactive, unusable)."""
    m = re.fullmatch(r"\s*([^()\[\]]*?)\s*(?:\(([^()\[\]]*)\))?\s*(?:\[([^()\[\]]*)\])?\s*", text)
    if not m:
        raise ParseError(source, lineno, f"bad INTERFACES list {text[:60]!r}")
    return tuple(tuple((part or "").split()) for part in m.groups())


def parse_ipmpstat_g(text: str) -> dict[str, IpmpGroup]:
    source = "ipmpstat -g"
    out = {}
    for lineno, (group, groupname, state, fdt, ifs) in parseable_rows(text, source, 5):
        if not group:
            raise ParseError(source, lineno, "empty GROUP")
        fdt_s = None
        if fdt and fdt != "--":
            m = _FDT.match(fdt)
            if not m:
                raise ParseError(source, lineno, f"bad FDT {fdt[:20]!r}")
            fdt_s = float(m.group(1))
        active, inactive, unusable = parse_interfaces(ifs, source, lineno)
        out[group] = IpmpGroup(group, groupname, _enum(state), fdt_s, active, inactive, unusable)
    return out


def parse_ipmpstat_i(text: str) -> dict[str, IpmpInterface]:
    source = "ipmpstat -i"
    out = {}
    for lineno, (name, active, group, flags, link, probe, state) in parseable_rows(text, source, 7):
        if not name or active not in ("yes", "no"):
            raise ParseError(source, lineno, f"bad INTERFACE/ACTIVE {name[:20]!r} {active[:10]!r}")
        if not re.fullmatch(r"[-isbmMdh]+", flags):
            raise ParseError(source, lineno, f"bad FLAGS {flags[:20]!r}")
        out[name] = IpmpInterface(name, active == "yes", group, flags, _enum(link), _enum(probe), _enum(state))
    return out


def parse_ipmpstat_t(text: str) -> tuple[ProbeTarget, ...]:
    source = "ipmpstat -t"
    out = []
    for lineno, (name, mode, testaddr, targets) in parseable_rows(text, source, 4):
        if not name:
            raise ParseError(source, lineno, "empty INTERFACE")
        tl = tuple(t for t in targets.split() if t != "--")
        out.append(ProbeTarget(name, _enum(mode), "" if testaddr == "--" else testaddr, tl))
    return tuple(out)


class IpmpAbsent(Exception):
    """in.mpathd does not answer: IPMP is not in use on this host."""


def _ipmpstat(host: Host, args, timeout: float) -> str:
    r = host.run("ipmpstat", list(args), timeout=timeout)
    if r.returncode != 0 and NOT_RUNNING in r.stderr:
        raise IpmpAbsent()
    if r.returncode != 0:
        why = (r.stderr.strip().splitlines() or ["no message"])[0][:200]
        raise RuntimeError(f"ipmpstat {' '.join(args)}: exit {r.returncode}: {why}")
    return r.stdout


def read_ipmp_topology(host: Host, timeout: float = DEFAULT_COMMAND_TIMEOUT) -> IpmpTopology:
    try:
        grps = parse_ipmpstat_g(_ipmpstat(host, GROUP_ARGS, timeout))
        if not grps:
            return IpmpTopology({}, {}, ())
        ifs = parse_ipmpstat_i(_ipmpstat(host, IF_ARGS, timeout))
        targets = parse_ipmpstat_t(_ipmpstat(host, TARGET_ARGS, timeout))
    except IpmpAbsent:
        return IpmpTopology({}, {}, ())
    return IpmpTopology(grps, ifs, targets)


def read_group_kstats(host: Host, names, timeout: float = DEFAULT_COMMAND_TIMEOUT) -> KStats:
    return read_kstat_commands(host, batched_selectors("ipmp", 0, names), timeout)


# ------------------------------------------------------------------ collector


def member_up(interface: IpmpInterface | None, name: str, group: IpmpGroup) -> bool:
    """in.mpathd calls the interface usable (STATE ok, not down): an inactive standby that
    is ok counts, it takes over on failure.  An interface ipmpstat -i does not list is up
    when the group lists it active."""
    return interface.usable if interface is not None else name in group.active


def member_preferred(group: IpmpGroup, name: str, interface: IpmpInterface | None) -> bool:
    """IPMP sends data traffic over active interfaces only (ipmpstat(8) ACTIVE "yes"; the
    group's "active" list of ipmpstat -g): an inactive standby waits for a failure."""
    if interface is not None:
        return bool(interface.active)
    return name in group.active


def to_groups(ipmp: Mapping[str, IpmpGroup], interfaces: Mapping[str, IpmpInterface], links: Mapping[str, Link]) -> list[Group]:
    """kind="ipmp", group = the IPMP interface (ipmp0), one member per IP interface in it.

    Policy is the configuration in Oracle's IPMP words: "active-standby" when a standby
    interface is configured, else "active-active"; balancing="load" when more than one
    interface is meant to carry traffic (outbound load is spread per destination),
    "failover" otherwise."""
    out = []
    for name, g in sorted(ipmp.items()):
        members = []
        names = list(g.interfaces) + sorted(n for n, i in interfaces.items() if i.group == name and n not in g.interfaces)
        standby = 0
        for ifname in names:
            i = interfaces.get(ifname)
            link = links.get(ifname)
            if i is not None and i.standby:
                standby += 1
            members.append(
                Member(
                    name=ifname,
                    up=member_up(i, ifname, g),
                    rx_bytes=link.rx_bytes if link else None,
                    tx_bytes=link.tx_bytes if link else None,
                    speed_bytes=link.speed_bytes if link else None,
                    sample=(SAMPLE_SOURCE, ifname),
                    preferred=member_preferred(g, ifname, i),
                )
            )
        carriers = len(names) - standby
        out.append(
            Group(
                kind="ipmp",
                name=name,
                policy="active-standby" if standby else "active-active",
                balancing="load" if carriers > 1 else "failover",
                members=tuple(members),
                expected=len(members),
            )
        )
    return out


class IpmpIllumos(Collector):
    name = "ipmp"
    platforms = frozenset({"illumos"})
    OPTIONS = {"topology_interval": "duration", "command_timeout": "duration"}
    description = "IPMP groups: group and interface state, probe targets, per-interface traffic (kind=ipmp)"

    def __init__(self, host, ctx):
        super().__init__(host, ctx)
        self.timeout = ctx.option("command_timeout") or DEFAULT_COMMAND_TIMEOUT
        self.cadence: Cadence[IpmpTopology] = Cadence(
            lambda: read_ipmp_topology(self.host, self.timeout), ctx.option("topology_interval") or DEFAULT_TOPOLOGY_INTERVAL
        )

    def collect(self) -> Collected | list[Family]:
        topo, stamp = self.cadence.get()
        self.data_timestamp = stamp
        if not topo.groups:
            return []
        links = _facts.links(self.host, self.ctx)
        kstats = read_group_kstats(self.host, list(topo.groups), self.timeout)
        return Collected(self.families(topo, kstats), to_groups(topo.groups, topo.interfaces, links))

    def families(self, topo: IpmpTopology, kstats: KStats) -> list[Family]:
        src_g = "From ipmpstat -P -n -g."
        src_i = "From ipmpstat -P -n -i."
        src_t = "From ipmpstat -P -n -t."
        src_k = "From kstat ipmp:0:<group>"
        G, GI = ("group",), ("group", "interface")
        gi = info("ipmp_group_info", f"IPMP group; value 1. group is the IPMP interface, groupname the group's name. {src_g}", ("group", "groupname"))
        gs = gauge("ipmp_group_state", f"Group state, one series per state (ok: all interfaces usable, degraded: some, failed: none). {src_g}", ("group", "state"))
        fdt = gauge("ipmp_group_failure_detection_seconds", f"Probe-based failure detection time in use; absent when probing is disabled. {src_g}", G)
        rx = counter("ipmp_group_receive_bytes_total", f"Bytes received by the group's interfaces. {src_k}:rbytes64.", G)
        tx = counter("ipmp_group_transmit_bytes_total", f"Bytes transmitted by the group's interfaces. {src_k}:obytes64.", G)
        rp = counter("ipmp_group_receive_packets_total", f"Packets received by the group's interfaces. {src_k}:ipackets64.", G)
        tp = counter("ipmp_group_transmit_packets_total", f"Packets transmitted by the group's interfaces. {src_k}:opackets64.", G)
        lu = gauge("ipmp_group_link_up", f"1 if the IPMP interface is running (an interface of the group is usable). {src_k}:link_up.", G)
        flags = {
            "active": gauge("ipmp_interface_active", f"1 if the interface is active (carries data traffic). {src_i}", GI),
            "standby": gauge("ipmp_interface_standby", f"1 if the interface is configured as standby (FLAGS s). {src_i}", GI),
            "inactive": gauge("ipmp_interface_inactive", f"1 if the interface is inactive: usable but not used (FLAGS i). {src_i}", GI),
            "failed": gauge("ipmp_interface_failed", f"1 if in.mpathd considers the interface failed (STATE failed). {src_i}", GI),
            "offline": gauge("ipmp_interface_offline", f"1 if the interface was taken offline (if_mpadm -d; STATE offline). {src_i}", GI),
        }
        st = gauge("ipmp_interface_state", f"Interface state, one series per state. {src_i}", (*GI, "state"))
        ln = gauge("ipmp_interface_link", f"Interface link state, one series per state. {src_i}", (*GI, "state"))
        pr = gauge("ipmp_interface_probe", f"Interface probe state, one series per state (disabled: no test address). {src_i}", (*GI, "state"))
        pinfo = info("ipmp_interface_probe_info", f"Probe-based detection of the interface per address family; value 1. {src_t}", (*GI, "mode", "testaddr"))
        pt = gauge("ipmp_interface_probe_targets", f"Probe targets the interface uses (all address families). {src_t}", GI)
        for name, g in sorted(topo.groups.items()):
            gi.add((name, g.groupname), 1)
            add_stateset(gs, (name,), GROUP_STATES, g.state)
            fdt.add((name,), g.fdt_seconds)
            ks = kstats.get(("ipmp", 0, name))
            rx.add((name,), first_uint(ks, "rbytes64", "rbytes"))
            tx.add((name,), first_uint(ks, "obytes64", "obytes"))
            rp.add((name,), first_uint(ks, "ipackets64", "ipackets"))
            tp.add((name,), first_uint(ks, "opackets64", "opackets"))
            lu.add((name,), first_uint(ks, "link_up"))
        group_of = {}
        for name, i in sorted(topo.interfaces.items()):
            lv = (i.group, name)
            group_of[name] = i.group
            flags["active"].add(lv, i.active)
            flags["standby"].add(lv, i.standby)
            flags["inactive"].add(lv, i.inactive)
            flags["failed"].add(lv, i.state == "failed")
            flags["offline"].add(lv, i.state == "offline")
            add_stateset(st, lv, IF_STATES, i.state)
            add_stateset(ln, lv, LINK_STATES, i.link)
            add_stateset(pr, lv, PROBE_STATES, i.probe)
        counts: dict[str, int] = {}
        for t in topo.targets:
            if t.interface not in group_of:
                continue
            lv = (group_of[t.interface], t.interface)
            pinfo.add((*lv, t.mode, t.testaddr), 1)
            counts[t.interface] = counts.get(t.interface, 0) + len(t.targets)
        for name, n in sorted(counts.items()):
            pt.add((group_of[name], name), n)
        return [gi, gs, fdt, rx, tx, rp, tp, lu, *flags.values(), st, ln, pr, pinfo, pt]
