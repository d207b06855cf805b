"""The lanes model (SPEC §6.2): every technology that bundles paths becomes groups of members.

This module is the single place that maps technology models into groups and members, and
the single place that writes the ``lanes_group_*`` and ``lanes_member_*`` series.  Each
technology collector calls ``group_families()`` with the groups its mapping function
returns, so its group series share its success or failure.

It also holds collector ``groups``: the declared groups of the config file
(``groups: {name: {members: [...], balancing: load|failover}}``), ``kind="declared"``, whose
members are links read through the shared link table.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Mapping, Sequence

from collectors import _link_common
from collectors._base import Collector
from collectors._link_common import Link
from exporter.metrics import Family, counter, gauge, info

BALANCING = ("load", "failover")


@dataclasses.dataclass(frozen=True)
class Member:
    name: str
    up: bool
    rx_bytes: int | None = None  # NIC: received; storage path: read
    tx_bytes: int | None = None  # NIC: transmitted; storage path: written
    speed_bytes: int | None = None  # bytes/s; for a storage path the speed of its NIC
    #: (sampler source, key) whose counters feed the peak rates, e.g. ("link", "eth0")
    sample: tuple[str, str] | None = None


@dataclasses.dataclass(frozen=True)
class Group:
    kind: str
    name: str
    policy: str  # the technology's own word: 802.3ad, active-backup, round-robin, ...
    balancing: str  # "load" or "failover"
    members: tuple[Member, ...]
    #: members the group should have even if not all are visible now (expect:, iSCSI node
    #: records); lanes_group_members is the largest of this, the members seen now and the
    #: members remembered from earlier scrapes
    expected: int = 0


class MemberMemory:
    """Members seen earlier in this process's life, per (kind, group): a path that the
    kernel forgets (logged-out session, removed sdX) still counts and shows as down."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], dict[str, Member]] = {}
        self._lock = threading.Lock()

    def apply(self, groups: Iterable[Group]) -> list[Group]:
        out = []
        with self._lock:
            current = set()
            for g in groups:
                key = (g.kind, g.name)
                current.add(key)
                seen = self._seen.setdefault(key, {})
                now = {m.name for m in g.members}
                for m in g.members:
                    seen[m.name] = m
                vanished = tuple(
                    Member(name=n, up=False, speed_bytes=m.speed_bytes)
                    for n, m in sorted(seen.items())
                    if n not in now
                )
                out.append(dataclasses.replace(g, members=g.members + vanished) if vanished else g)
            # each collector owns its memory: a whole group that is gone is forgotten
            for key in [k for k in self._seen if k not in current]:
                del self._seen[key]
        return out


def expected_members(config, kind: str, group: str) -> int:
    """``expect: {kind: {group: N}}`` from the config file."""
    expect = getattr(config, "expect", None) or {}
    return int((expect.get(kind) or {}).get(group, 0))


HELP_SRC = (
    "Lanes model (SPEC §6.2), filled by the technology's collector: NIC members from the link's counters "
    "(netlink IFLA_STATS64, /proc/net/dev, kstat link/mac), Linux storage paths from /proc/diskstats "
    "(sectors x 512), illumos sessions and LUs from their kstats."
)


def group_families(groups: Sequence[Group], sampler=None) -> list[Family]:
    gi = info("group_info", f"A group of lanes; value 1. policy is the technology's own word, balancing load or failover. {HELP_SRC}", ("kind", "group", "policy", "balancing"))
    gm = gauge("group_members", f"Members the group should have: present plus vanished (remembered, expect:, node records). {HELP_SRC}", ("kind", "group"))
    gu = gauge("group_members_up", f"Members able to carry traffic now. {HELP_SRC}", ("kind", "group"))
    ML = ("kind", "group", "member")
    mu = gauge("member_up", f"1 if the member can carry traffic now, 0 if not (also for vanished members). {HELP_SRC}", ML)
    rx = counter("member_receive_bytes_total", f"Bytes received over the member as seen from this host (NIC received; storage path read). {HELP_SRC}", ML)
    tx = counter("member_transmit_bytes_total", f"Bytes transmitted over the member as seen from this host (NIC transmitted; storage path written). {HELP_SRC}", ML)
    sp = gauge("member_speed_bytes", f"Member capacity in bytes per second (a storage path: the speed of its NIC). {HELP_SRC}", ML)
    prx = gauge("member_receive_peak_bytes_per_second", "Highest receive rate over any sampling interval since the previous scrape, from the background sampler.", ML)
    ptx = gauge("member_transmit_peak_bytes_per_second", "Highest transmit rate over any sampling interval since the previous scrape, from the background sampler.", ML)
    wanted: dict[str, set[str]] = {}
    for g in groups:
        gk = (str(g.kind), str(g.name))
        gi.add((*gk, g.policy, g.balancing), 1)
        gm.add_str(gk, max(g.expected, len(g.members)))
        gu.add_str(gk, sum(1 for m in g.members if m.up))
        for m in g.members:
            lv = (*gk, str(m.name))
            mu.add_str(lv, m.up)
            rx.add_str(lv, m.rx_bytes)
            tx.add_str(lv, m.tx_bytes)
            sp.add_str(lv, m.speed_bytes)
            if m.sample and sampler is not None:
                wanted.setdefault(m.sample[0], set()).add(m.sample[1])
                peak = sampler.peak(*m.sample)
                if peak is not None:
                    prx.add_str(lv, peak[0])
                    ptx.add_str(lv, peak[1])
    if sampler is not None:
        for source, keys in wanted.items():
            sampler.want(source, keys)
    return [gi, gm, gu, mu, rx, tx, sp, prx, ptx]


# ------------------------------------------------------------------ declared groups


def link_member(name: str, link: Link | None, speed_bytes: int | None = None) -> Member:
    """``speed_bytes`` (config ``groups.<g>.speed_bytes``) overrides the link's own speed."""
    if link is None:
        return Member(name=name, up=False, speed_bytes=speed_bytes)
    return Member(
        name=name,
        up=link.up,
        rx_bytes=link.rx_bytes,
        tx_bytes=link.tx_bytes,
        speed_bytes=speed_bytes or link.speed_bytes,
        sample=(_link_common.SAMPLE_SOURCE, name),
    )


def declared_groups(declared: Mapping[str, object], links: Mapping[str, Link]) -> list[Group]:
    """Map ``groups:`` of the config onto the link table: kind="declared"."""
    groups = []
    for name, spec in sorted(declared.items()):
        members = tuple(link_member(m, links.get(m), getattr(spec, "speed_bytes", None)) for m in spec.members)
        groups.append(
            Group(
                kind="declared",
                name=name,
                policy=spec.policy,
                balancing=spec.balancing,
                members=members,
                expected=len(members),
            )
        )
    return groups


class DeclaredGroups(Collector):
    name = "groups"
    platforms = frozenset({"linux", "illumos", "freebsd"})
    description = "Groups of links declared in the config file (kind=declared)"

    def collect(self) -> Iterable[Family]:
        declared = getattr(self.ctx.config, "groups", None) or {}
        if not declared:
            return []
        links = _link_common.shared_links(self.host, self.ctx)
        return group_families(declared_groups(declared, links), self.ctx.sampler)


# ------------------------------------------------------------------ nvme (NVMe native multipath)


def nvme_groups(subsystems: Iterable, links: Mapping[str, Link], disks: Mapping, config=None) -> list[Group]:
    """kind="nvme": group = a namespace of an NVMe subsystem reached over native
    multipath, named ``<subsysnqn>/ns<nsid>`` (stable across reboots, unlike nvmeSnN);
    member = one controller path (``collectors.nvme_linux.member_name``).  ``subsystems``
    are ``nvme_linux.Subsystem`` values (duck-typed to keep this module import-light).

    policy = the subsystem's iopolicy; balancing ``load`` for round-robin, queue-depth
    and adaptive, ``failover`` for numa (one current path per NUMA node: see
    nvme_linux.LOAD_POLICIES).  Bytes are those of the hidden path disk in
    /proc/diskstats (read = received, written = transmitted), speed is the NIC's.
    ``expect: {nvme: {<group or subsysnqn>: N}}`` sets the paths a namespace should have.
    """
    from collectors.nvme_linux import LOAD_POLICIES  # local: nvme_linux imports this module

    out = []
    for s in subsystems:
        for ns in s.namespaces:
            members = []
            for p in ns.paths:
                c = p.controller
                d = disks.get(p.device)
                link = links.get(c.netdev) if c.netdev else None
                members.append(
                    Member(
                        name=c.member,
                        up=p.up,
                        rx_bytes=d.read_bytes if d else None,
                        tx_bytes=d.write_bytes if d else None,
                        speed_bytes=link.speed_bytes if link else None,
                        sample=("disk", p.device),
                    )
                )
            expected = max(expected_members(config, "nvme", ns.group), expected_members(config, "nvme", s.nqn))
            out.append(
                Group(
                    kind="nvme",
                    name=ns.group,
                    policy=s.iopolicy or "unknown",
                    balancing="load" if s.iopolicy in LOAD_POLICIES else "failover",
                    members=tuple(members),
                    expected=expected,
                )
            )
    return out


# ------------------------------------------------------------------ illumos storage: MPxIO, iSCSI initiator, COMSTAR


def mpxio_groups(lus: Iterable[tuple[str, str, bool, Sequence[Member]]], config=None) -> list[Group]:
    """kind="mpxio": group = logical unit (its WWN), member = path (initiator port ->
    target port), from ``mpathadm show lu``.  ``lus`` holds (lu, load balance, all target
    port groups active, paths).  scsi_vhci spreads I/O over the paths for ``round-robin``
    and ``logical-block`` (scsi_vhci.conf load-balance); ``none`` uses one path, and paths
    to a standby or unavailable port group of an asymmetric LU carry nothing until a
    failover: both are ``balancing="failover"``."""
    out = []
    for lu, load_balance, all_active, members in sorted(lus, key=lambda x: x[0]):
        load = load_balance in ("round-robin", "logical-block") and all_active
        out.append(
            Group(
                kind="mpxio",
                name=lu,
                policy=load_balance or "unknown",
                balancing="load" if load else "failover",
                members=tuple(sorted(members, key=lambda m: m.name)),
                expected=max(expected_members(config, "mpxio", lu), len(members)),
            )
        )
    return out


def _load_groups(kind: str, policy: str, by_group: Mapping[str, Sequence[Member]], config) -> list[Group]:
    """Groups whose members all carry traffic together, members sorted by name."""
    return [
        Group(
            kind=kind,
            name=name,
            policy=policy,
            balancing="load",
            members=tuple(sorted(members, key=lambda m: m.name)),
            expected=expected_members(config, kind, name),
        )
        for name, members in sorted(by_group.items())
    ]


def iscsi_illumos_groups(sessions: Mapping[str, Sequence[Member]], config=None) -> list[Group]:
    """kind="iscsi" on illumos: group = target IQN, member = session (named by portal).
    Sessions of one target are MPxIO paths of its LUs: scsi_vhci balances over them."""
    return _load_groups("iscsi", "scsi_vhci", sessions, config)


def comstar_groups(targets: Mapping[str, Sequence[Member]], config=None) -> list[Group]:
    """kind="iscsi_target": group = COMSTAR target, member = one initiator session
    (``stmfadm list-target -v``; the initiator IQN and its session number)."""
    return _load_groups("iscsi_target", "stmf", targets, config)


# ------------------------------------------------------------------ bond (Linux bonding)

#: bonding modes whose members back each other up instead of sharing the load: broadcast
#: sends every frame on every member, so its capacity is one member's (bond_main.c)
BOND_FAILOVER_MODES = frozenset({"active-backup", "broadcast"})
_LACP_COLLECTING_DISTRIBUTING = 0x30  # IEEE 802.1AX port state bits 4 and 5


def bond_member_up(bond, member, link: Link | None) -> bool:
    """Able to carry traffic: MII up as the bond sees it (its monitor, not only the carrier);
    for 802.3ad also attached to the active aggregator and enabled by the LACP machinery
    (collecting/distributing), since a member outside it carries nothing although its link
    is up."""
    up = member.mii_status == "up" if member.mii_status is not None else bool(link and link.up)
    if not up or bond.mode != "802.3ad":
        return up
    active = bond.ad.aggregator_id if bond.ad is not None else None
    if active is not None and (active == 0 or member.aggregator_id != active):
        return False
    # bond_3ad.c enables a port (slave state "active") when its mux enters
    # COLLECTING_DISTRIBUTING, and every port of a partner-less active aggregator
    # (ad_agg_selection_logic): the state is the kernel's own "carries traffic"
    if member.state is not None:
        return member.state == "active"
    if member.actor_state is not None:
        return member.actor_state & _LACP_COLLECTING_DISTRIBUTING == _LACP_COLLECTING_DISTRIBUTING
    return True


def bond_groups(bonds: Iterable, links: Mapping[str, Link]) -> list[Group]:
    """Linux bonds (collectors.bond_linux.Bond) -> kind="bond" groups.  Member bytes and
    speed are the member NIC's own counters (the master's are their sum: never add both)."""
    out = []
    for b in bonds:
        members = []
        for m in b.members:
            link = links.get(m.name)
            base = link_member(m.name, link)
            members.append(dataclasses.replace(base, up=bond_member_up(b, m, link), sample=(_link_common.SAMPLE_SOURCE, m.name)))
        out.append(
            Group(
                kind="bond",
                name=b.name,
                policy=b.mode,
                balancing="failover" if b.mode in BOND_FAILOVER_MODES else "load",
                members=tuple(members),
                expected=len(members),
            )
        )
    return out


# ------------------------------------------------------------------ illumos: aggr (dladm aggregations)


def aggr_groups(summaries: Mapping[str, object], ports: Sequence[object], links: Mapping[str, Link]) -> list[Group]:
    """dladm aggregations (collectors/aggr_illumos.py): kind="aggr", one member per port.

    ``summaries``: aggregation name -> AggrSummary (``policy`` is dladm's hashing policy,
    L2/L3/L4); ``ports``: PortStatus items (``aggr``, ``port``, ``up``, ``speed_bytes``).
    A member is up when attached, its link up and, with LACP, collecting and distributing.
    Every port of a trunk aggregation carries traffic: balancing="load"."""
    by_aggr: dict[str, list] = {name: [] for name in summaries}
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
                    sample=(_link_common.SAMPLE_SOURCE, p.port),
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


# ------------------------------------------------------------------ multipath and iscsi (Linux dm-multipath, open-iscsi)


def _nic_speed(links: Mapping[str, Link], netdev: str | None) -> int | None:
    link = links.get(netdev) if netdev else None
    return link.speed_bytes if link else None


def multipath_groups(maps: Iterable, links: Mapping[str, Link], config=None) -> list[Group]:
    """kind="multipath": group = map (alias or WWID), member = path device (sdX).
    ``maps`` are ``multipath_linux.MapView`` values (duck-typed).  policy = the active
    group's selector name and the grouping it shows (``round-robin/multibus``,
    ``service-time/failover``); balancing ``load`` when more than one path shares the active
    path group (dm-mpath.c choose_pgpath only balances inside the current group),
    ``failover`` otherwise.  Without multipathd or the dm status line the groups are
    unknown: every path is taken to share the load.  Bytes are the path's own
    /proc/diskstats (never the map's), speed is its NIC's."""
    out = []
    for m in maps:
        members = tuple(
            Member(
                name=p.dev,
                up=p.up,
                rx_bytes=p.read_bytes,
                tx_bytes=p.written_bytes,
                speed_bytes=_nic_speed(links, p.netdev),
                sample=("disk", p.dev),
            )
            for p in sorted(m.paths, key=lambda p: p.dev)
        )
        if m.state is not None:
            active = [g for g in m.state.groups if g.state == "active"]
            sharing = len(active[0].paths) if active else max((len(g.paths) for g in m.state.groups), default=0)
        else:
            sharing = len(members)
        selector = (m.selector.split() or ["unknown"])[0] if m.selector else "unknown"
        out.append(
            Group(
                kind="multipath",
                name=m.name,
                policy=f"{selector}/{m.policy}",
                balancing="load" if sharing > 1 else "failover",
                members=members,
                expected=max(expected_members(config, "multipath", m.name), expected_members(config, "multipath", m.wwid)),
            )
        )
    return out


def iscsi_groups(sessions: Mapping, records: Iterable, disks: Mapping, links: Mapping[str, Link], config=None) -> list[Group]:
    """kind="iscsi" (Linux): group = target IQN, member = session named ``<portal>@<iface>``
    (stable across relogins, unlike the session number).  ``sessions`` are
    ``iscsi_linux.Session`` values, ``records`` the node records: a record with no session
    is a member that is down (logged out, or never logged in).  A session is up when its
    state is LOGGED_IN; its bytes are the sum of its disks; speed is its NIC's.  Sessions of
    one target are used together by dm-multipath (or stand alone): balancing ``load``."""
    by_target: dict[str, dict[str, Member]] = {}
    for s in sessions.values():
        i = s.identity
        d = [disks[x] for x in s.disks if x in disks]
        by_target.setdefault(i.target, {})[i.member] = Member(
            name=i.member,
            up=s.state == "LOGGED_IN",
            rx_bytes=sum(x.read_bytes for x in d) if d else (0 if not s.disks else None),
            tx_bytes=sum(x.write_bytes for x in d) if d else (0 if not s.disks else None),
            speed_bytes=_nic_speed(links, s.netdev),
            sample=s.sample,
        )
    for r in records:
        members = by_target.setdefault(r.target, {})
        if r.member not in members:
            members[r.member] = Member(name=r.member, up=False)
    return [
        Group(
            kind="iscsi",
            name=target,
            policy="open-iscsi",
            balancing="load",
            members=tuple(members[k] for k in sorted(members)),
            expected=expected_members(config, "iscsi", target),
        )
        for target, members in sorted(by_target.items())
    ]


# ------------------------------------------------------------------ illumos: ipmp (IP multipathing)


def ipmp_groups(ipmp: Mapping[str, object], interfaces: Mapping[str, object], links: Mapping[str, Link]) -> list[Group]:
    """IPMP groups (collectors/ipmp_illumos.py): kind="ipmp", group = the IPMP interface
    (ipmp0), one member per IP interface in it.

    A member is up when in.mpathd calls it usable (STATE ok, not down): an inactive
    standby that is ok counts, it takes over on failure.  Policy is the configuration in
    Oracle's IPMP words: "active-standby" when a standby interface is configured, else
    "active-active"; balancing="load" when more than one interface is meant to carry
    traffic (outbound load is spread per destination), "failover" otherwise."""
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
            up = i.usable if i is not None else ifname in g.active
            members.append(
                Member(
                    name=ifname,
                    up=up,
                    rx_bytes=link.rx_bytes if link else None,
                    tx_bytes=link.tx_bytes if link else None,
                    speed_bytes=link.speed_bytes if link else None,
                    sample=(_link_common.SAMPLE_SOURCE, ifname),
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


# ------------------------------------------------------------------ team (Linux teamd)

#: teamd runners whose ports back each other up (activebackup) or all carry the same
#: frames (broadcast) instead of sharing the load (teamd.conf(5) runner.name)
TEAM_FAILOVER_RUNNERS = frozenset({"activebackup", "broadcast"})


def team_port_up(team, port, link: Link | None) -> bool:
    """Able to carry traffic: teamd's link-watch verdict (else the port's carrier); for the
    lacp runner also attached to the selected aggregator, which is when teamd enables the
    port in the kernel (libteam teamd/teamd_runner_lacp.c lacp_port_should_be_enabled)."""
    if port.link_watch_up is not None:
        up = port.link_watch_up
    elif port.link_up is not None:
        up = port.link_up
    else:
        up = bool(link and link.up)
    if not up or team.runner != "lacp":
        return up
    return port.lacp_selected is not False and port.aggregator_selected is not False


def team_groups(teams: Iterable, links: Mapping[str, Link]) -> list[Group]:
    """teamd teams (collectors.team_linux.Team) -> kind="team" groups; bytes and speed are
    the port NICs' own counters."""
    out = []
    for t in teams:
        members = []
        for p in t.ports:
            link = links.get(p.name)
            base = link_member(p.name, link)
            speed = base.speed_bytes if base.speed_bytes else (p.speed_mbps * 125_000 if p.speed_mbps else None)
            members.append(dataclasses.replace(base, up=team_port_up(t, p, link), speed_bytes=speed, sample=(_link_common.SAMPLE_SOURCE, p.name)))
        out.append(
            Group(
                kind="team",
                name=t.name,
                policy=t.runner or "unknown",
                balancing="failover" if t.runner in TEAM_FAILOVER_RUNNERS else "load",
                members=tuple(members),
                expected=len(members),
            )
        )
    return out
