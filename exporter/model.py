"""The lanes model (SPEC §6.2): groups of members, whatever the technology.

A technology collector maps its own model onto ``Group`` and ``Member`` (its
``to_groups``) and returns them in ``Collected.groups``; the scrape runner applies the
collector's ``MemberMemory``, adds the sampler's peaks and renders the ``lanes_group_*``
and ``lanes_member_*`` series with ``group_families`` inside the collector's
all-or-nothing boundary.  Nothing here knows a technology.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import threading
from collections.abc import Iterable, Sequence

from exporter import state
from exporter.metrics import Family, counter, gauge, info

BALANCING = ("load", "failover")

#: a frozen dataclass with ``__slots__`` where Python has them (3.10+): a large storage host
#: keeps tens of thousands of these (members, paths, sessions), and a per-instance
#: ``__dict__`` costs about 100 bytes each
record = functools.partial(dataclasses.dataclass, frozen=True, **({"slots": True} if sys.version_info >= (3, 10) else {}))


@record
class Member:
    name: str
    up: bool
    rx_bytes: int | None = None  # NIC: received; storage path: read
    tx_bytes: int | None = None  # NIC: transmitted; storage path: written
    speed_bytes: int | None = None  # bytes/s; for a storage path the speed of its NIC
    #: (sampler source, key) whose counters feed the peak rates, e.g. ("link", "eth0")
    sample: tuple[str, str] | None = None
    #: the technology means this member to carry traffic now (SPEC §12): ALUA
    #: active/optimized, the active port of an active-backup bond, ...  None: no such
    #: distinction, every up member carries (lanes_member_preferred = up)
    preferred: bool | None = None

    @property
    def is_preferred(self) -> bool:
        """What lanes_member_preferred says: never for a member that is down."""
        return self.up and (self.preferred is None or self.preferred)


@record
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
    #: exported only when the member memory knows the group already (seen earlier, also
    #: before a restart): a declared group none of whose links exists is another host's
    only_if_known: bool = False


class MemberMemory:
    """Members seen earlier, per (kind, group): a path that the kernel forgets (logged-out
    session, removed sdX) still counts and shows as down.  One per collector (the runner
    owns it): a whole group that is gone is forgotten.  What it remembers is kept across
    restarts by the process-wide state store (exporter/state.py, ``--state.dir``), which
    SIGHUP empties (members gone on purpose are then forgotten)."""

    def __init__(self, store=None) -> None:
        self._store = store if store is not None else state.current()
        self._generation = self._store.generation
        #: (kind, group) -> member -> last known speed
        self._seen: dict[tuple[str, str], dict[str, int | None]] = {}
        self._kinds: set[str] = set()
        self._lock = threading.Lock()

    def _learn(self, kind: str) -> None:
        """First sight of this kind: take what the store kept (called under the lock)."""
        if kind not in self._kinds:
            self._kinds.add(kind)
            for key, members in self._store.remembered(kind).items():
                self._seen.setdefault(key, {}).update(members)

    def apply(self, groups: Iterable[Group]) -> list[Group]:
        out = []
        changes: dict[tuple[str, str], dict[str, int | None] | None] = {}
        with self._lock:
            current = set()
            for g in groups:
                self._learn(g.kind)
                key = (g.kind, g.name)
                if g.only_if_known and key not in self._seen:
                    continue
                current.add(key)
                seen = self._seen.get(key)
                if seen is None:
                    seen = self._seen[key] = {}
                    changes[key] = seen
                for m in g.members:
                    if m.name not in seen:
                        changes[key] = seen
                    seen[m.name] = m.speed_bytes if m.speed_bytes is not None else seen.get(m.name)
                if len(seen) > len(g.members):
                    now = {m.name for m in g.members}
                    vanished = tuple(
                        Member(name=n, up=False, speed_bytes=speed, preferred=False) for n, speed in sorted(seen.items()) if n not in now
                    )
                    g = dataclasses.replace(g, members=g.members + vanished) if vanished else g
                if g.members or g.expected or not g.needs_members:
                    out.append(g)
            # each collector owns its memory: a whole group that is gone is forgotten
            for key in [k for k in self._seen if k not in current and k[0] in self._kinds]:
                del self._seen[key]
                changes[key] = None
            if changes:
                self._store.update(self._generation, {k: (dict(v) if v is not None else None) for k, v in changes.items()})
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
    pf = gauge(
        "member_preferred",
        "1 if the technology means this member to carry traffic now (ALUA active/optimized path or the active path group of a map, "
        "NVMe ANA optimized, MPxIO path to the active target port group, active port of an active-backup bond or team, IPMP active "
        "interface, iSCSI session under a preferred path; every up member of a load-balancing group), 0 if it should stay idle or is down. "
        f"{HELP_SRC}",
        ML,
    )
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
            pf.add(lv, m.is_preferred)
            rx.add(lv, m.rx_bytes)
            tx.add(lv, m.tx_bytes)
            sp.add(lv, m.speed_bytes)
            if m.sample and sampler is not None:
                wanted.setdefault(m.sample[0], set()).add(m.sample[1])
                peak = sampler.peak(*m.sample)
                if peak is not None:  # whole bytes per second: an int renders in half the time of a float
                    prx.add(lv, round(peak[0]))
                    ptx.add(lv, round(peak[1]))
    if sampler is not None:
        for source, keys in wanted.items():
            sampler.want(source, keys)
    return [gi, gm, gu, mu, pf, rx, tx, sp, prx, ptx]
