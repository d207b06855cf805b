#!/usr/bin/env python3
"""lanes alert and recording rules: the one source of truth (SPEC §7).

Renders ``deploy/prometheus/lanes-rules.yml``.  Everything a site may want to tune is a
parameter: the job selector, the thresholds, the ``for:`` durations, the rate window and the
base URL of the runbooks.  Re-render after changing one:

    python3 deploy/prometheus/rules.py > deploy/prometheus/lanes-rules.yml
    python3 deploy/prometheus/rules.py --selector 'job="storage-lanes"' --for LanesGroupImbalanced=30m > my-rules.yml

The rules speak only the lanes group model (SPEC §6.2: ``lanes_group_*``, ``lanes_member_*``)
plus links (§6.3), collector health (§6.1) and two technology checks, so every group kind
(bond, team, aggr, ipmp, multipath, mpxio, nvme, iscsi, declared, ...) is covered without a
rule change.

Conventions followed (research/conventions.md §3): recording rules named
``level:metric:operations`` and aggregated by at least job and instance (prometheus/docs
``practices/rules.md``); alert annotations ``summary`` (static sentence), ``description``
(templated from labels that exist on the alert) and ``runbook_url`` (monitoring-mixins
docs); severities critical|warning|info.  Imbalance and saturation only look at
``balancing="load"`` groups and need a load floor, as node-mixin's bonding and
awesome-prometheus-alerts' saturation rules suggest (``speed > 0`` guard).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys

import yaml

GROUP = "job, instance, kind, group"
MEMBER = "job, instance, kind, group, member"

#: SPEC §7 for: durations.  LanesMemberFlapping has none: its expression already spans a window.
DEFAULT_FOR = {
    "LanesMemberDown": "1m",
    "LanesGroupDegraded": "2m",
    "LanesGroupNoRedundancy": "1m",
    "LanesGroupDown": "1m",
    "LanesGroupImbalanced": "15m",
    "LanesGroupFailoverOnly": "30m",
    "LanesMemberSaturated": "10m",
    "LanesMemberFlapping": "0s",
    "LanesLinkErrors": "15m",
    "LanesLacpNotAggregating": "2m",
    "LanesMultipathQueueingWithoutPaths": "1m",
    "LanesCollectorFailed": "5m",
    "LanesFlowAtLaneLimit": "10m",  # SPEC §13
}

ALERTS = tuple(DEFAULT_FOR)


@dataclasses.dataclass(frozen=True)
class Params:
    #: one matcher (or several, comma separated) that selects the lanes scrape job
    selector: str = 'job="lanes"'
    #: window of rate() in the recording rules; also part of their names (rate5m)
    rate_window: str = "5m"
    #: a load-balancing group counts as busy above this many bytes/s (both directions)
    load_floor_bytes: int = 1_000_000
    #: busiest up member carries more than this many times its fair share (1/members up)
    imbalance_factor: float = 1.5
    #: top member's share of the bytes that makes a group "failover only"
    failover_only_share: float = 0.95
    #: member peak rate / speed at or above which the member counts as saturated ...
    saturated_member: float = 0.9
    #: ... while the group as a whole uses less than this of its capacity
    saturated_group_below: float = 0.5
    #: SPEC §13 (LanesFlowAtLaneLimit): one flow's peak / its member's speed at or above this ...
    flow_at_limit: float = 0.9
    #: ... while another up member of its group peaks below this share of its speed
    flow_free_member_below: float = 0.5
    #: more than this many up/down changes within flap_window is flapping
    flap_changes: int = 3
    flap_window: str = "10m"
    #: errors per packet (either direction) above which a link alerts
    link_error_ratio: float = 0.01
    #: where docs/runbooks.md is published; each alert links to its section anchor
    runbook_base: str = "https://lanes.invalid/docs/runbooks.md"
    #: alert name -> for: duration (missing names use DEFAULT_FOR)
    for_: tuple[tuple[str, str], ...] = ()

    def for_of(self, alert: str) -> str:
        return dict(self.for_).get(alert, DEFAULT_FOR[alert])


def _num(x: float) -> str:
    """A PromQL number literal without float noise: 0.9, 1000000, 1.5."""
    return repr(int(x)) if float(x).is_integer() else repr(float(x))


def anchor(alert: str) -> str:
    """GitHub-style anchor of the runbook section titled with the alert name."""
    return alert.lower()


def recording_rules(p: Params) -> list[dict]:
    s, w = p.selector, p.rate_window
    rx, tx = f"group:lanes_member_receive_bytes:rate{w}", f"group:lanes_member_transmit_bytes:rate{w}"
    mb, gb = f"group:lanes_member_bytes:rate{w}", f"group:lanes_group_bytes:rate{w}"

    def both(left: str, right: str, by: str) -> str:
        # the larger direction: full duplex lanes fill up per direction; label_replace keeps
        # the two sides apart for `or` (which matches on all labels but the name)
        return f'max by ({by}) (\n  {left}\n  or\n  label_replace({right}, "direction", "transmit", "", "")\n)'

    return [
        {"record": rx, "expr": f"rate(lanes_member_receive_bytes_total{{{s}}}[{w}])"},
        {"record": tx, "expr": f"rate(lanes_member_transmit_bytes_total{{{s}}}[{w}])"},
        {"record": mb, "expr": f"{rx} + {tx}"},
        {"record": gb, "expr": f"sum by ({GROUP}) ({mb})"},
        # member bytes / group bytes: 1/N when balanced, 1 when one member carries it all
        {"record": "group:lanes_member_share:ratio", "expr": f"{mb}\n/ on ({GROUP}) group_left ()\n({gb} > 0)"},
        {
            "record": "group:lanes_member_utilization:ratio",
            "expr": f"{both(rx, tx, MEMBER)}\n/ on ({MEMBER})\n(lanes_member_speed_bytes{{{s}}} > 0)",
        },
        # the sampler's highest 1 s rate since the previous scrape (SPEC §6.2), over speed
        {
            "record": "group:lanes_member_peak_utilization:ratio",
            "expr": f"{both(f'lanes_member_receive_peak_bytes_per_second{{{s}}}', f'lanes_member_transmit_peak_bytes_per_second{{{s}}}', MEMBER)}"
            f"\n/ on ({MEMBER})\n(lanes_member_speed_bytes{{{s}}} > 0)",
        },
        # bytes of the group over the capacity of its members that are up (known speeds)
        {
            "record": "group:lanes_group_utilization:ratio",
            "expr": f"{both(f'sum by ({GROUP}) ({rx})', f'sum by ({GROUP}) ({tx})', GROUP)}"
            f"\n/ on ({GROUP})\n(sum by ({GROUP}) (lanes_member_speed_bytes{{{s}}} and on ({MEMBER}) (lanes_member_up{{{s}}} == 1)) > 0)",
        },
        # busiest up member's share times the members up: 1 = fair, N = all on one member
        {
            "record": "group:lanes_group_imbalance:ratio",
            "expr": f"max by ({GROUP}) (group:lanes_member_share:ratio and on ({MEMBER}) (lanes_member_up{{{s}}} == 1))\n"
            f"* on ({GROUP})\nlanes_group_members_up{{{s}}}",
        },
    ]


def alert_rules(p: Params) -> list[dict]:
    s, w = p.selector, p.rate_window
    gb = f"group:lanes_group_bytes:rate{w}"
    load = f'lanes_group_info{{{s}, balancing="load"}}'
    where_g = "{{ $labels.kind }} group {{ $labels.group }} on {{ $labels.instance }}"
    where_m = "Member {{ $labels.member }} of {{ $labels.kind }} group {{ $labels.group }} on {{ $labels.instance }}"

    def alert(name: str, expr: str, severity: str, summary: str, description: str) -> dict:
        rule = {"alert": name, "expr": expr}
        if p.for_of(name) not in ("0", "0s", "0m"):
            rule["for"] = p.for_of(name)
        rule["labels"] = {"severity": severity}
        rule["annotations"] = {
            "summary": summary,
            "description": description,
            "runbook_url": f"{p.runbook_base}#{anchor(name)}",
        }
        return rule

    return [
        alert(
            "LanesMemberDown",
            f"lanes_member_up{{{s}}} == 0",
            "warning",
            "A lane of a group is down.",
            f"{where_m} cannot carry traffic.",
        ),
        alert(
            "LanesGroupDegraded",
            f"lanes_group_members_up{{{s}}} < lanes_group_members{{{s}}}",
            "warning",
            "A group of lanes has lost members.",
            f"{where_g} has {{{{ $value }}}} member(s) up, fewer than it should have.",
        ),
        alert(
            "LanesGroupNoRedundancy",
            f"lanes_group_members_up{{{s}}} == 1\nand on ({GROUP})\nlanes_group_members{{{s}}} > 1",
            "critical",
            "A group of lanes runs on its last member.",
            f"{where_g} has one member up out of several: one more failure stops its traffic.",
        ),
        alert(
            "LanesGroupDown",
            f"lanes_group_members_up{{{s}}} == 0\nand on ({GROUP})\nlanes_group_members{{{s}}} > 0",
            "critical",
            "A group of lanes has no member up.",
            f"{where_g} has no member up: its traffic has no path.",
        ),
        alert(
            "LanesGroupImbalanced",
            f"group:lanes_group_imbalance:ratio > {_num(p.imbalance_factor)}\n"
            f"and on ({GROUP})\n{gb} > {_num(p.load_floor_bytes)}\n"
            f"and on ({GROUP})\n{load}",
            "warning",
            "Traffic over the members of a load-balancing group is unbalanced.",
            f"The busiest member of {where_g} carries {{{{ $value | printf \"%.1f\" }}}} times its fair share of the group's traffic. "
            "Check the balancing policy (bond xmit_hash_policy layer3+4, multipath path_selector and path_grouping_policy multibus) "
            "and whether a few large streams dominate: one stream never spreads over LACP links.",
        ),
        alert(
            "LanesGroupFailoverOnly",
            f"max by ({GROUP}) (group:lanes_member_share:ratio) >= {_num(p.failover_only_share)}\n"
            f"and on ({GROUP})\n{gb} > {_num(p.load_floor_bytes)}\n"
            f"and on ({GROUP})\nlanes_group_members_up{{{s}}} > 1\n"
            f"and on ({GROUP})\n{load}",
            "info",
            "A load-balancing group carries its traffic on one member only.",
            f"One member of {where_g} carries {{{{ $value | humanizePercentage }}}} of the group's bytes while other members are up: "
            "it works as failover only. For MPIO put all paths in one path group with a round-robin or service-time selector "
            "(multipath path_grouping_policy multibus; mpathadm load-balance round-robin); for LACP one flow hashes onto one link.",
        ),
        alert(
            "LanesMemberSaturated",
            "(group:lanes_member_peak_utilization:ratio or group:lanes_member_utilization:ratio)"
            f" >= {_num(p.saturated_member)}\n"
            f"and on ({GROUP})\ngroup:lanes_group_utilization:ratio < {_num(p.saturated_group_below)}\n"
            f"and on ({GROUP})\n{load}",
            "warning",
            "One lane is saturated while its group has spare capacity.",
            f"{where_m} peaks at {{{{ $value | humanizePercentage }}}} of its speed while the group uses less than "
            f"{_num(p.saturated_group_below * 100)}% of its capacity. One stream (one TCP connection, one iSCSI session) rides one lane: "
            "spread it with MPIO (more sessions or paths, round-robin); more LACP links do not make one stream faster.",
        ),
        alert(
            "LanesMemberFlapping",
            f"changes(lanes_member_up{{{s}}}[{p.flap_window}]) > {_num(p.flap_changes)}",
            "warning",
            "A lane keeps going down and up.",
            f"{where_m} changed state {{{{ $value }}}} times in {p.flap_window}.",
        ),
        alert(
            "LanesLinkErrors",
            "max by (job, instance, link) (\n"
            f"  rate(lanes_link_receive_errors_total{{{s}}}[{w}]) / (rate(lanes_link_receive_packets_total{{{s}}}[{w}]) > 0)\n"
            "  or\n"
            f"  label_replace(rate(lanes_link_transmit_errors_total{{{s}}}[{w}]) / (rate(lanes_link_transmit_packets_total{{{s}}}[{w}]) > 0), "
            '"direction", "transmit", "", "")\n'
            f") > {_num(p.link_error_ratio)}",
            "warning",
            "A link drops packets with errors.",
            "Link {{ $labels.link }} on {{ $labels.instance }} has {{ $value | humanizePercentage }} of its packets in error "
            "in one direction (cabling, optics, duplex or driver).",
        ),
        alert(
            "LanesLacpNotAggregating",
            lacp_expr(p),
            "warning",
            "An LACP member that is up does not carry traffic.",
            f"{where_m} is up but not aggregating (not in sync, collecting and distributing, or outside the active "
            "aggregator): it carries nothing and the group runs with less capacity than it shows.",
        ),
        alert(
            "LanesMultipathQueueingWithoutPaths",
            multipath_expr(p),
            "critical",
            "A multipath device queues I/O with no path left.",
            "Map {{ $labels.group }} on {{ $labels.instance }} has no usable path and queue_if_no_path is set: "
            "I/O to it hangs until a path returns.",
        ),
        alert(
            "LanesCollectorFailed",
            f"lanes_collector_success{{{s}}} == 0",
            "warning",
            "A lanes collector fails.",
            "Collector {{ $labels.collector }} on {{ $labels.instance }} has been failing: its series are missing. The lanes log says why.",
        ),
        *flow_alert_rules(p, alert),
    ]


# ------------------------------------------------------------------ cars and lanes (SPEC §13)

FLOW = "job, instance, protocol, local, remote"


def flow_alert_rules(p: Params, alert) -> list[dict]:
    """LanesFlowAtLaneLimit: one flow (collector ``flows``: lanes_flow_info joins a TCP
    connection to the group member it rides) peaks at >= 90% of that member's speed while
    another up member of its group peaks below 50%: one car at the lane's speed limit beside
    free lanes.  The flow's peak is the larger direction of the sampler's peaks."""
    s = p.selector
    peak = (
        f"max by ({FLOW}) (\n"
        f"  lanes_flow_receive_peak_bytes_per_second{{{s}}}\n"
        f"  or\n"
        f'  label_replace(lanes_flow_transmit_peak_bytes_per_second{{{s}}}, "direction", "transmit", "", "")\n'
        f")"
    )
    free = (
        f"count by ({GROUP}) (\n"
        f"  lanes_member_up{{{s}}} == 1\n"
        f"  unless on ({MEMBER})\n"
        f"  (group:lanes_member_peak_utilization:ratio or group:lanes_member_utilization:ratio) >= {_num(p.flow_free_member_below)}\n"
        f")"
    )
    expr = (
        f"(\n{peak}\n* on ({FLOW}) group_left (kind, group, member)\n"
        f'lanes_flow_info{{{s}, member!=""}}\n)\n'
        f"/ on ({MEMBER}) group_left ()\n(lanes_member_speed_bytes{{{s}}} > 0)\n"
        f">= {_num(p.flow_at_limit)}\n"
        f"and on ({GROUP})\n{free}"
    )
    return [
        alert(
            "LanesFlowAtLaneLimit",
            expr,
            "warning",
            "One storage connection runs at its lane's speed limit beside free lanes.",
            "The {{ $labels.protocol }} connection {{ $labels.local }} to {{ $labels.remote }} on {{ $labels.instance }} peaks at "
            "{{ $value | humanizePercentage }} of the speed of member {{ $labels.member }} of {{ $labels.kind }} group {{ $labels.group }}, "
            f"while another member of the group is up and below {_num(p.flow_free_member_below * 100)}%: one connection rides one lane. "
            "Spread the workload over more connections (iSCSI sessions per NIC with MPIO, NFS nconnect, NVMe/TCP one controller per NIC); "
            "more LACP links do not make one connection faster. lanes_exporter --doctor explains this host's setup.",
        ),
    ]


def lacp_expr(p: Params) -> str:
    """Up LACP members that are not collecting/distributing or sit outside the active
    aggregator: the derived 0/1 checks of the bond collector (Linux bonding, set only for
    MII-up members), the team collector (teamd lacp runner, up ports) and the aggr collector
    (illumos dladm, link-up ports), renamed onto the group model's kind/group/member labels
    so one alert covers all three."""
    s = p.selector
    bond = (
        f"max by (job, instance, bond, member) (\n"
        f"    lanes_bond_member_lacp_sync_missing{{{s}}} == 1\n"
        f"    or\n"
        f"    lanes_bond_member_lacp_outside_active_aggregator{{{s}}} == 1\n"
        f"  )"
    )
    team = (
        f"max by (job, instance, team, port) (\n"
        f"    lanes_team_port_lacp_sync_missing{{{s}}} == 1\n"
        f"    or\n"
        f"    lanes_team_port_lacp_outside_selected_aggregator{{{s}}} == 1\n"
        f"  )"
    )
    aggr = f'label_replace(lanes_aggr_port_lacp_not_aggregating{{{s}}} == 1, "member", "$1", "port", "(.*)")'
    return (
        f"max by ({MEMBER}) (\n"
        f'  label_replace(label_replace({bond}, "kind", "bond", "", ""), "group", "$1", "bond", "(.*)")\n'
        f"  or\n"
        f'  label_replace(label_replace(label_replace({team}, "kind", "team", "", ""), "group", "$1", "team", "(.*)"), "member", "$1", "port", "(.*)")\n'
        f"  or\n"
        f'  label_replace(label_replace({aggr}, "kind", "aggr", "", ""), "group", "$1", "aggr", "(.*)")\n'
        f")"
    )


def multipath_expr(p: Params) -> str:
    """Maps with queue_if_no_path set and no usable path, named by the group model (the
    multipath collector's group is the map name)."""
    s = p.selector
    return (
        f'lanes_group_members_up{{{s}, kind="multipath"}} == 0\n'
        f"and on (job, instance, group)\n"
        f'label_replace(lanes_multipath_map_queue_if_no_path{{{s}}} == 1, "group", "$1", "map", "(.*)")'
    )


def rule_groups(p: Params) -> dict:
    return {
        "groups": [
            {"name": "lanes.rules", "rules": recording_rules(p)},
            {"name": "lanes.alerts", "rules": alert_rules(p)},
        ]
    }


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, data: str):
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)

HEADER = """\
# lanes alert and recording rules (SPEC §7).  GENERATED by deploy/prometheus/rules.py:
# edit that file (or pass its parameters) and re-render, do not edit this one.
#   python3 deploy/prometheus/rules.py > deploy/prometheus/lanes-rules.yml
# Runbooks: docs/runbooks.md.
"""


def render(p: Params | None = None) -> str:
    body = yaml.dump(rule_groups(p or Params()), Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True)
    return HEADER + body


def _parse_for(items: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        name, sep, dur = item.partition("=")
        if not sep or name not in DEFAULT_FOR or not re.fullmatch(r"\d+(ms|s|m|h|d)", dur):
            raise SystemExit(f"--for {item!r}: expected ALERT=DURATION with ALERT one of {', '.join(ALERTS)}")
        out.append((name, dur))
    return tuple(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Render the lanes Prometheus rules to stdout.")
    d = Params()
    ap.add_argument("--selector", default=d.selector, help=f"matcher(s) selecting the lanes job (default {d.selector})")
    ap.add_argument("--rate-window", default=d.rate_window)
    ap.add_argument("--load-floor-bytes", type=int, default=d.load_floor_bytes)
    ap.add_argument("--runbook-base", default=d.runbook_base, help="URL where docs/runbooks.md is published")
    ap.add_argument("--for", dest="for_", action="append", default=[], metavar="ALERT=DURATION")
    ap.add_argument("-o", "--output", help="write here instead of stdout")
    a = ap.parse_args(argv)
    p = Params(
        selector=a.selector,
        rate_window=a.rate_window,
        load_floor_bytes=a.load_floor_bytes,
        runbook_base=a.runbook_base,
        for_=_parse_for(a.for_),
    )
    text = render(p)
    if a.output:
        with open(a.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
