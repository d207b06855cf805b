"""Collector ``iscsi`` (FreeBSD): iscsictl(8)/iscsid(8) initiator sessions (kind=iscsi).

Source (every scrape): ``iscsictl -L`` (usr.bin/iscsictl/iscsictl.c kernel_list, the
non-verbose branch): a header ``Target name`` (``%-36s``) ``Target portal`` (``%-16s``)
``State``, then one row per session: target, portal, and either the failure reason
(``iss_reason``, e.g. ``Connection refused``, printed while the session is enabled and
not connected), ``Discovery``, ``Disabled``, ``Connected: da0 da1 `` (the CAM peripherals
of the session, usr.bin/iscsictl/periphs.c, each followed by a blank) or
``Disconnected``.  ``iscsictl -L -v`` is not used: it prints the CHAP ``Secret:`` and
``Mutual secret:`` of every session, which must never land in a ``--record`` bundle.

/dev/iscsi is root:wheel 0600: iscsictl runs as root or through a ``commands:`` prefix
(``[/usr/local/bin/sudo, -n, /usr/bin/iscsictl]``).  Without the iscsi module
(``failed to open /dev/iscsi``) the collector reports nothing and succeeds.

Group model: one group per target (its IQN), a member per session named by its portal
(``10.0.1.10`` or ``10.0.1.10:3260`` as configured); up when connected.  Discovery
sessions carry no I/O and are left out of the groups; a disabled session is a member down.
Sessions of one target are paths of gmultipath or ZFS (balancing load).  Per-session
bytes are not in iscsictl's output: absent.

By hand: ``iscsictl -L``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from collectors import _freebsd, _ifconfig
from collectors._iscsictl import ARGS, SOURCE, STATES, Session, parse_iscsictl_list, portal_address
from exporter.api import Collected, Collector, Family, Group, Member, expected_members, gauge, info

__all__ = ["ARGS", "STATES", "IscsiFreebsd", "Session", "member_names", "parse_iscsictl_list", "portal_address", "to_groups"]

def member_names(sessions: Iterable[Session]) -> list[tuple[str, Session]]:
    """The portal names the member; a second session to one portal gets ``#2``."""
    out = []
    seen: dict[tuple[str, str], int] = {}
    for s in sessions:
        key = (s.target, s.portal)
        seen[key] = seen.get(key, 0) + 1
        out.append((s.portal if seen[key] == 1 else f"{s.portal}#{seen[key]}", s))
    return out


def to_groups(sessions: Sequence[Session], config=None, speeds: Mapping[str, int | None] | None = None) -> list[Group]:
    """``speeds``: portal -> speed of the local NIC the portal is reached by."""
    by_target: dict[str, list[Member]] = {}
    for member, s in member_names(x for x in sessions if x.state != "discovery"):
        speed = (speeds or {}).get(s.portal)
        by_target.setdefault(s.target, []).append(Member(name=member, up=s.up, speed_bytes=speed))
    return [
        Group(
            kind="iscsi",
            name=target,
            policy="iscsictl",
            balancing="load",
            members=tuple(sorted(members, key=lambda m: m.name)),
            expected=expected_members(config, "iscsi", target),
        )
        for target, members in sorted(by_target.items())
    ]


class IscsiFreebsd(Collector):
    name = "iscsi"
    platforms = frozenset({"freebsd"})
    description = "iscsictl initiator sessions: target, portal, state, devices (kind=iscsi)"


    def collect(self) -> Collected | list[Family]:
        sessions = _freebsd.iscsi_sessions(self.host, self.ctx)
        if sessions is None:
            return []
        K = ("target", "member")
        si = info("iscsi_session_info", f"iSCSI session identity; value 1. reason is the failure reason iscsictl prints (empty unless failed); netdev the local interface whose network holds the portal (ifconfig -a; empty for a routed portal). From {SOURCE}.", ("target", "member", "portal", "netdev", "devices", "reason"))
        st = gauge("iscsi_session_state", f"iSCSI session state: one series, value 1, state connected, disconnected, disabled, discovery or failed (enabled but not connected, with a reason). From {SOURCE}.", ("target", "member", "state"))
        nd = gauge("iscsi_session_disks", f"CAM peripherals (da) of the session. From {SOURCE} Connected: list.", K)
        interfaces, links = _freebsd.nic_table(self.host, self.ctx)
        netdevs = {s.portal: _ifconfig.interface_for(portal_address(s.portal), interfaces.values()) for s in sessions}
        speeds = {p: (links[n].speed_bytes if n in links else None) for p, n in netdevs.items()}
        for member, s in member_names(sessions):
            lv = (s.target, member)
            si.add((*lv, s.portal, netdevs.get(s.portal, ""), " ".join(s.devices), s.reason), 1)
            st.add((*lv, s.state), 1)  # current state only (SPEC §9)
            nd.add(lv, len(s.devices))
        return Collected([si, st, nd], to_groups(sessions, self.ctx.config, speeds))
