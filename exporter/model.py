"""The lanes model (SPEC §6.2): groups of members, whatever the technology.

A technology collector maps its own model onto ``Group`` and ``Member`` (its
``to_groups``) and returns them in ``Collected.groups``; the scrape runner applies the
collector's ``MemberMemory``, adds the sampler's peaks and renders the ``lanes_group_*``
and ``lanes_member_*`` series with ``group_families`` inside the collector's
all-or-nothing boundary.  Nothing here knows a technology.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Sequence

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
    #: the path the technology prefers when all are up (SPEC §12); None: no preference known
    preferred: bool | None = None


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
    #: True: a group with no member, now or remembered, and no expectation is left out
    #: (a target nobody ever logged in to is not a set of paths)
    needs_members: bool = False


class MemberMemory:
    """Members seen earlier in this process's life, per (kind, group): a path that the
    kernel forgets (logged-out session, removed sdX) still counts and shows as down.
    One per collector (the runner owns it): a whole group that is gone is forgotten."""

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
                g = dataclasses.replace(g, members=g.members + vanished) if vanished else g
                if g.members or g.expected or not g.needs_members:
                    out.append(g)
            for key in [k for k in self._seen if k not in current]:
                del self._seen[key]
        return out


def expected_members(config, kind: str, group: str) -> int:
    """``expect: {kind: {group: N}}`` from the config file."""
    expect = getattr(config, "expect", None) or {}
    return int((expect.get(kind) or {}).get(group, 0))


def load_groups(kind: str, policy: str, by_group, config) -> list[Group]:
    """Groups whose members all carry traffic together (balancing load), members sorted
    by name; ``by_group``: group name -> members."""
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


HELP_SRC = (
    "Lanes model (SPEC §6.2), filled by the technology's collector: NIC members from the link's counters "
    "(netlink IFLA_STATS64, /proc/net/dev, kstat link/mac), Linux storage paths from /proc/diskstats "
    "(sectors x 512), illumos sessions and LUs from their kstats."
)


def group_families(groups: Sequence[Group], sampler=None) -> list[Family]:
    """The lanes_group_* and lanes_member_* series of ``groups``; with a sampler also the
    peak rates, and the sampler is told which counters to follow."""
    G, ML = ("kind", "group"), ("kind", "group", "member")
    peak = "over any sampling interval since the previous scrape, from the background sampler."
    gi = info(
        "group_info",
        f"A group of lanes; value 1. policy is the technology's own word, balancing load or failover. {HELP_SRC}",
        (*G, "policy", "balancing"),
    )
    gm = gauge("group_members", f"Members the group should have: present plus vanished (remembered, expect:, node records). {HELP_SRC}", G)
    gu = gauge("group_members_up", f"Members able to carry traffic now. {HELP_SRC}", G)
    mu = gauge("member_up", f"1 if the member can carry traffic now, 0 if not (also for vanished members). {HELP_SRC}", ML)
    rx = counter(
        "member_receive_bytes_total",
        f"Bytes received over the member as seen from this host (NIC received; storage path read). {HELP_SRC}",
        ML,
    )
    tx = counter(
        "member_transmit_bytes_total",
        f"Bytes transmitted over the member as seen from this host (NIC transmitted; storage path written). {HELP_SRC}",
        ML,
    )
    sp = gauge("member_speed_bytes", f"Member capacity in bytes per second (a storage path: the speed of its NIC). {HELP_SRC}", ML)
    prx = gauge("member_receive_peak_bytes_per_second", f"Highest receive rate {peak}", ML)
    ptx = gauge("member_transmit_peak_bytes_per_second", f"Highest transmit rate {peak}", ML)
    wanted: dict[str, set[str]] = {}
    for g in groups:
        gk = (str(g.kind), str(g.name))
        gi.add((*gk, g.policy, g.balancing), 1)
        gm.add(gk, max(g.expected, len(g.members)))
        gu.add(gk, sum(1 for m in g.members if m.up))
        for m in g.members:
            lv = (*gk, str(m.name))
            mu.add(lv, m.up)
            rx.add(lv, m.rx_bytes)
            tx.add(lv, m.tx_bytes)
            sp.add(lv, m.speed_bytes)
            if m.sample and sampler is not None:
                wanted.setdefault(m.sample[0], set()).add(m.sample[1])
                peak = sampler.peak(*m.sample)
                if peak is not None:
                    prx.add(lv, peak[0])
                    ptx.add(lv, peak[1])
    if sampler is not None:
        for source, keys in wanted.items():
            sampler.want(source, keys)
    return [gi, gm, gu, mu, rx, tx, sp, prx, ptx]
