"""Collector ``team`` (Linux): teamd team devices, their ports and the lacp runner's LACP state.

Sources
  team devices  the shared link table: netlink IFLA_INFO_KIND "team" on the live host; on
                snapshots and other roots, the masters of other links that are neither bonds
                (``bonding/``), bridges (``bridge/``) nor typed by ``DEVTYPE=`` in their uevent
                (the team driver, drivers/net/team/team_core.c team_setup(), sets no device
                type), confirmed by a recorded teamd dump.
  team state    teamd's control socket, a SOCK_SEQPACKET unix socket at
                ``/var/run/teamd/<team>.sock`` (libteam teamd/teamd_usock.c): request
                ``REQUEST\\nStateDump\\n``, reply ``REPLY_SUCCESS\\n<JSON>`` or
                ``REPLY_ERROR\\n<code>\\n<message>`` (libteamdctl/cli_usock.c,
                teamd/teamd_usock_common.h).  When no socket answers: ``teamdctl <team>
                state dump`` (man teamdctl(8)).  The JSON layout is teamd/teamd_state.c with
                the runner's part from teamd_runner_lacp.c / teamd_runner_activebackup.c;
                every key may be missing (a real RHEL 7 dump has no ``ports`` at all,
                real-captures.md L-3): missing means unknown, never zero.
  bytes, speed  the member NICs' own counters from the shared link table (never the team's).

Metrics (label ``team``; ports add ``port``)
  lanes_team_info{runner,kernel_mode,lacp_rate,select_policy}, lanes_team_port_active,
  lanes_team_port_link_up, lanes_team_port_link_watch_up, lanes_team_port_link_watch_down_total,
  lacp runner: lanes_team_port_lacp_state{state}, lanes_team_port_lacp_selected,
  lanes_team_port_lacp_aggregator_id, lanes_team_port_lacp_actor_port_state{bit},
  lanes_team_port_lacp_partner_port_state{bit}, lanes_team_port_lacp_partner_info{partner_system};
  derived 0/1 checks: lanes_team_port_lacp_outside_selected_aggregator,
  lanes_team_port_lacp_sync_missing, lanes_team_lacp_no_partner,
  lanes_team_lacp_members_on_different_partners, lanes_team_mixed_port_speeds;
  and the lanes group model (kind="team").

Platforms: Linux.  teamd is deprecated in RHEL 9 and removed in RHEL 10: best effort.

By hand: ``teamdctl team0 state dump`` (as root), ``ip -d link show type team``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence

from collectors import _facts, _lacp
from collectors._link_common import SAMPLE_SOURCE, Link, LinkFilter, link_member
from collectors._parse import mac as parse_mac
from exporter.api import Collected, Collector, CommandNotFound, Family, Group, Host, ParseError, add_stateset, counter, gauge, info

REQUEST = b"REQUEST\nStateDump\n"  # teamd_usock_common.h TEAMD_USOCK_REQUEST_PREFIX, method name
REPLY_OK = "REPLY_SUCCESS"
REPLY_ERR = "REPLY_ERROR"
RUN_DIRS = ("/var/run/teamd", "/run/teamd")  # teamd.h TEAMD_RUN_DIR, and its usual target
# teamd_runner_lacp.c lacp_port_state: disabled, current, expired, defaulted
LACP_PORT_STATES = ("current", "expired", "defaulted", "disabled")
FAILOVER_RUNNERS = frozenset({"activebackup", "broadcast"})
DEFAULT_TIMEOUT = 5.0


@dataclasses.dataclass(frozen=True)
class TeamPort:
    name: str
    link_up: bool | None = None  # ports.<p>.link.up (the kernel port's carrier)
    speed_mbps: int | None = None
    link_watch_up: bool | None = None  # ports.<p>.link_watches.up (teamd's verdict)
    link_watch_downs: int | None = None  # sum of link_watches.list.*.down_count
    lacp_state: str | None = None  # runner.state
    lacp_selected: bool | None = None  # runner.selected: port attached to an aggregator
    aggregator_id: int | None = None  # runner.aggregator.id: ifindex of the aggregator's lead port
    aggregator_selected: bool | None = None  # runner.aggregator.selected: the chosen aggregator
    actor_state: int | None = None
    partner_state: int | None = None
    partner_system: str | None = None


@dataclasses.dataclass(frozen=True)
class Team:
    name: str
    runner: str = ""  # setup.runner_name
    kernel_mode: str = ""  # setup.kernel_team_mode_name
    active_port: str | None = None  # activebackup runner.active_port
    fast_rate: bool | None = None  # lacp runner.fast_rate
    select_policy: str = ""  # lacp runner.select_policy
    ports: tuple[TeamPort, ...] = ()

    @property
    def lacp(self) -> bool:
        return self.runner == "lacp"


# ----------------------------------------------------------------------------- parser


def _get(obj, key: str, kind, src: str):
    """obj[key] if present and of the expected type; None if missing; ParseError if mistyped."""
    if not isinstance(obj, dict) or key not in obj or obj[key] is None:
        return None
    v = obj[key]
    if kind is int and isinstance(v, bool):
        raise ParseError(src, None, f"{key}: boolean where a number belongs")
    if not isinstance(v, kind):
        raise ParseError(src, None, f"{key}: expected {getattr(kind, '__name__', kind)}, got {type(v).__name__}")
    return v


def _obj(obj, key: str, src: str) -> dict:
    return _get(obj, key, dict, src) or {}


def _state_byte(v: int | None, src: str) -> int | None:
    if v is not None and not 0 <= v <= 0xFF:
        raise ParseError(src, None, f"LACP state {v} out of range")
    return v


def parse_port(name: str, p: dict, src: str, selected_aggregator: int | None = None) -> TeamPort:
    link = _obj(p, "link", src)
    watches = _obj(p, "link_watches", src)
    downs = None
    for w in _obj(watches, "list", src).values():
        if not isinstance(w, dict):
            raise ParseError(src, None, f"port {name}: link watch is not an object")
        d = _get(w, "down_count", int, src)
        if d is not None:
            downs = (downs or 0) + d
    runner = _obj(p, "runner", src)
    agg = _obj(runner, "aggregator", src)
    actor = _obj(runner, "actor_lacpdu_info", src)
    partner = _obj(runner, "partner_lacpdu_info", src)
    agg_id = _get(agg, "id", int, src)
    agg_selected = _get(agg, "selected", bool, src)
    if agg_id is None:
        # libteam before v1.1 (2013): a flat per-port aggregator_id and a team-level
        # selected_aggregator_id instead of the aggregator object
        agg_id = _get(runner, "aggregator_id", int, src)
        if agg_id is not None and selected_aggregator is not None:
            agg_selected = agg_id != 0 and agg_id == selected_aggregator
    return TeamPort(
        name=name,
        link_up=_get(link, "up", bool, src),
        speed_mbps=_get(link, "speed", int, src),
        link_watch_up=_get(watches, "up", bool, src),
        link_watch_downs=downs,
        lacp_state=_get(runner, "state", str, src),
        lacp_selected=_get(runner, "selected", bool, src),
        aggregator_id=agg_id,
        aggregator_selected=agg_selected,
        actor_state=_state_byte(_get(actor, "state", int, src), src),
        partner_state=_state_byte(_get(partner, "state", int, src), src),
        partner_system=parse_mac(_get(partner, "system", str, src), src),
    )


def parse_team_dump(text: str, team: str = "team") -> Team:
    """``teamdctl <team> state dump`` JSON (teamd_state.c).  Raises ParseError on anything
    that is not a JSON object, or on a key of the wrong type; missing keys stay unknown."""
    src = f"teamdctl {team} state dump"
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ParseError(src, None, f"not JSON: {str(e)[:80]}") from None
    if not isinstance(doc, dict):
        raise ParseError(src, None, "top level is not an object")
    setup = _obj(doc, "setup", src)
    runner = _obj(doc, "runner", src)
    ports = []
    for name, p in sorted(_obj(doc, "ports", src).items()):
        if not isinstance(p, dict):
            raise ParseError(src, None, f"port {name[:40]!r} is not an object")
        ports.append(parse_port(name, p, src, _get(runner, "selected_aggregator_id", int, src)))
    return Team(
        name=team,
        runner=_get(setup, "runner_name", str, src) or "",
        kernel_mode=_get(setup, "kernel_team_mode_name", str, src) or "",
        active_port=_get(runner, "active_port", str, src),
        fast_rate=_get(runner, "fast_rate", bool, src),
        select_policy=_get(runner, "select_policy", str, src) or "",
        ports=tuple(ports),
    )


def unpack_reply(buf: bytes, eof: bool) -> str | None:
    """One SOCK_SEQPACKET message is the whole reply (teamd_usock_recv_msg)."""
    if not buf:
        return "" if eof else None
    text = buf.decode("utf-8", "replace")
    head, _, rest = text.partition("\n")
    if head.strip() == REPLY_OK:
        return rest
    # REPLY_ERROR\n<code>\n<message>: kept as text, the JSON parser rejects it with the message
    return text


# ----------------------------------------------------------------------------- reading


def team_candidates(links: Mapping[str, Link], host: Host) -> list[str]:
    """Team device names.  Netlink says kind "team"; sysfs gives no type for team devices,
    so there every master of a link that is not a bond, a bridge or otherwise typed is a
    candidate, confirmed only by a teamd dump (read_teams)."""
    names = {n for n, link in links.items() if link.kind == "team"}
    if names or host.live:
        return sorted(names)
    masters = {link.master for link in links.values() if link.master}
    out = []
    for m in sorted(masters):
        link = links.get(m)
        if link is None or link.kind:
            continue  # bonds, bridges, vlans... carry a kind from their uevent DEVTYPE
        base = f"/sys/class/net/{m}"
        if host.exists(f"{base}/bonding") or host.exists(f"{base}/bridge"):
            continue
        out.append(m)
    return out


def read_team(host: Host, name: str, timeout: float) -> Team:
    argv = ["teamdctl", name, "state", "dump"]
    try:
        r = host.unix_request(argv, [f"{d}/{name}.sock" for d in RUN_DIRS], REQUEST, timeout=timeout, unpack=unpack_reply, seqpacket=True)
    except (CommandNotFound, PermissionError):
        # no teamd socket answers (or it is root-only): teamdctl, possibly through a
        # configured argv prefix (commands: {teamdctl: [sudo, -n, /usr/bin/teamdctl]})
        r = host.run("teamdctl", argv[1:], timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"teamdctl {name} state dump: exit {r.returncode}: {r.stderr.strip()[:200]}")
    return parse_team_dump(r.stdout, name)


def read_teams(host: Host, links: Mapping[str, Link], timeout: float) -> list[Team]:
    teams = []
    confirmed = host.live or any(link.kind == "team" for link in links.values())
    for name in team_candidates(links, host):
        try:
            teams.append(read_team(host, name, timeout))
        except CommandNotFound:
            if confirmed:
                raise  # a team device without a reachable teamd is broken, not absent
            # an unconfirmed sysfs candidate with no recorded dump is some other master
    return teams


# ----------------------------------------------------------------------------- derived checks


def outside_selected_aggregator(team: Team, p: TeamPort) -> bool | None:
    if not team.lacp or p.aggregator_selected is None or p.link_watch_up is None:
        return None
    return p.link_watch_up and not (p.aggregator_selected and p.lacp_selected is not False)


def sync_missing(team: Team, p: TeamPort) -> bool | None:
    if not team.lacp or p.actor_state is None or p.link_watch_up is None:
        return None
    return p.link_watch_up and not _lacp.in_sync(p.actor_state, p.partner_state)


def no_partner(team: Team) -> bool | None:
    """No selected aggregator, or every port of it reached no partner system."""
    if not team.lacp or not team.ports:
        return None
    if all(p.aggregator_selected is None for p in team.ports):
        return None
    chosen = [p for p in team.ports if p.aggregator_selected]
    if not chosen:
        return True
    systems = [p.partner_system for p in chosen if p.partner_system is not None]
    if not systems:
        return None
    return _lacp.no_partner_system(systems)


def different_partners(team: Team) -> bool | None:
    if not team.lacp:
        return None
    systems = _lacp.partner_systems(p.partner_system for p in team.ports)
    if not any(p.partner_system for p in team.ports):
        return None
    return len(systems) > 1


def mixed_speeds(team: Team, links: Mapping[str, Link]) -> bool | None:
    speeds = set()
    for p in team.ports:
        if p.link_watch_up is False or p.link_up is False:
            continue
        if p.speed_mbps:
            speeds.add(p.speed_mbps * 125_000)
        elif links.get(p.name) and links[p.name].speed_bytes:
            speeds.add(links[p.name].speed_bytes)
    if not speeds:
        return None
    return len(speeds) > 1


# ----------------------------------------------------------------------------- exposition

SRC = "From teamd's state dump (control socket /var/run/teamd/<team>.sock, else teamdctl <team> state dump)"


def team_families(teams: Sequence[Team], links: Mapping[str, Link]) -> list[Family]:
    T, P = ("team",), ("team", "port")
    ti = info("team_info", f"Team configuration; value 1. {SRC}: setup.runner_name, setup.kernel_team_mode_name, runner.fast_rate, runner.select_policy.", ("team", "runner", "kernel_mode", "lacp_rate", "select_policy"))
    act = gauge("team_port_active", f"1 for the activebackup runner's active port, 0 for the others. {SRC}: runner.active_port.", P)
    lup = gauge("team_port_link_up", f"1 if the port's link is up. {SRC}: ports.<port>.link.up.", P)
    wup = gauge("team_port_link_watch_up", f"1 if teamd's link watches consider the port up. {SRC}: ports.<port>.link_watches.up.", P)
    wdown = counter("team_port_link_watch_down_total", f"Times teamd's link watches saw the port go down. {SRC}: ports.<port>.link_watches.list.*.down_count.", P)
    lst = gauge("team_port_lacp_state", f"LACP state of the port in the lacp runner (current = partner info fresh). {SRC}: ports.<port>.runner.state.", (*P, "state"))
    lsel = gauge("team_port_lacp_selected", f"1 if the port is attached to an aggregator. {SRC}: ports.<port>.runner.selected.", P)
    lagg = gauge("team_port_lacp_aggregator_id", f"Aggregator of the port: the ifindex of its lead port, 0 for none. {SRC}: ports.<port>.runner.aggregator.id.", P)
    abits = gauge("team_port_lacp_actor_port_state", f"LACP actor (this host) port state bits (IEEE 802.1AX), one 0/1 series per bit. {SRC}: actor_lacpdu_info.state.", (*P, "bit"))
    pbits = gauge("team_port_lacp_partner_port_state", f"LACP partner (switch) port state bits (IEEE 802.1AX), one 0/1 series per bit. {SRC}: partner_lacpdu_info.state.", (*P, "bit"))
    pinfo = info("team_port_lacp_partner_info", f"Partner system the port's LACPDUs come from; value 1. {SRC}: partner_lacpdu_info.system.", (*P, "partner_system"))
    c_out = gauge("team_port_lacp_outside_selected_aggregator", f"Check: 1 if the port is up but not in the selected aggregator (teamd keeps it disabled). {SRC}.", P)
    c_sync = gauge("team_port_lacp_sync_missing", f"Check: 1 if the port is up but its actor or partner state lacks synchronization, collecting or distributing. {SRC}.", P)
    c_nop = gauge("team_lacp_no_partner", f"Check: 1 if no aggregator is selected or its ports see no LACP partner (partner system 00:00:00:00:00:00). {SRC}.", T)
    c_diff = gauge("team_lacp_members_on_different_partners", f"Check: 1 if ports reach more than one partner system. {SRC}.", T)
    c_speed = gauge("team_mixed_port_speeds", f"Check: 1 if up ports run at different speeds. {SRC}: ports.<port>.link.speed, else /sys/class/net/<port>/speed.", T)
    for t in teams:
        rate = "" if t.fast_rate is None or not t.lacp else ("fast" if t.fast_rate else "slow")
        ti.add((t.name, t.runner, t.kernel_mode, rate, t.select_policy if t.lacp else ""), 1)
        c_speed.add((t.name,), mixed_speeds(t, links))
        if t.lacp:
            c_nop.add((t.name,), no_partner(t))
            c_diff.add((t.name,), different_partners(t))
        for p in t.ports:
            pl = (t.name, p.name)
            if t.active_port is not None:
                act.add(pl, p.name == t.active_port)
            lup.add(pl, p.link_up)
            wup.add(pl, p.link_watch_up)
            wdown.add(pl, p.link_watch_downs)
            if not t.lacp:
                continue
            add_stateset(lst, pl, LACP_PORT_STATES, p.lacp_state)
            lsel.add(pl, p.lacp_selected)
            lagg.add(pl, p.aggregator_id)
            for bits, fam in ((p.actor_state, abits), (p.partner_state, pbits)):
                if bits is not None:
                    for bit, mask in _lacp.LACP_BITS:
                        fam.add((*pl, bit), 1 if bits & mask else 0)
            if p.partner_system:
                pinfo.add((*pl, p.partner_system), 1)
            c_out.add(pl, outside_selected_aggregator(t, p))
            c_sync.add(pl, sync_missing(t, p))
    return [ti, act, lup, wup, wdown, lst, lsel, lagg, abits, pbits, pinfo, c_out, c_sync, c_nop, c_diff, c_speed]


# ------------------------------------------------------------------ groups


def member_up(team: Team, port: TeamPort, link: Link | None) -> bool:
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


def port_preferred(team: Team, port) -> bool | None:
    """The activebackup runner's active port (teamd state runner.active_port, teamd.conf(5));
    None for the other runners (every up port carries traffic) or when teamd does not say."""
    if team.runner != "activebackup" or not team.active_port:
        return None
    return port.name == team.active_port


def to_groups(teams: Iterable[Team], links: Mapping[str, Link]) -> list[Group]:
    """kind="team": one group per team, one member per port; bytes and speed are the port
    NICs' own counters (else the speed teamd reports).  activebackup and broadcast runners
    (teamd.conf(5) runner.name) back ports up instead of sharing the load."""
    out = []
    for t in teams:
        members = []
        for p in t.ports:
            link = links.get(p.name)
            base = link_member(p.name, link)
            speed = base.speed_bytes if base.speed_bytes else (p.speed_mbps * 125_000 if p.speed_mbps else None)
            members.append(
                dataclasses.replace(
                    base, up=member_up(t, p, link), speed_bytes=speed, sample=(SAMPLE_SOURCE, p.name), preferred=port_preferred(t, p)
                )
            )
        out.append(
            Group(
                kind="team",
                name=t.name,
                policy=t.runner or "unknown",
                balancing="failover" if t.runner in FAILOVER_RUNNERS else "load",
                members=tuple(members),
                expected=len(members),
            )
        )
    return out


class TeamLinux(Collector):
    name = "team"
    platforms = frozenset({"linux"})
    OPTIONS = {"include": "regex", "exclude": "regex"}
    description = "Linux teamd teams: runner, ports, lacp runner state and derived checks"

    def __init__(self, host, ctx):
        super().__init__(host, ctx)
        self.filter = LinkFilter(ctx.option("include"), ctx.option("exclude"))

    def collect(self) -> Collected | list[Family]:
        links = _facts.links(self.host, self.ctx)
        timeout = min(float(self.ctx.option("timeout", DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT), DEFAULT_TIMEOUT)
        teams = [t for t in read_teams(self.host, links, timeout) if self.filter(t.name)]
        if not teams:
            return []
        return Collected(team_families(teams, links), to_groups(teams, links))
