#!/usr/bin/env python3
"""lanes Grafana dashboards (SPEC §8), generated with grafana-foundation-sdk (pinned exactly
in pyproject.toml's test extra; a build/test dependency only, lanes does not import it).

    python3 grafana/generate.py            # rewrites grafana/lanes-*.json
    python3 grafana/generate.py --check    # exit 1 if a committed file differs

Dashboards (fixed uids): lanes / Overview (lanes-overview), lanes / Group (lanes-group),
lanes / Storage paths (lanes-storage), lanes / Links (lanes-links).  Conventions
(research/conventions.md §4): a ``datasource`` variable used by every panel, ``job`` and
``instance`` from ``lanes_exporter_build_info`` in every query, ``$__rate_interval`` in every
rate, byte rates in ``Bps`` with transmit/write on the negative Y axis, state timelines with
UP/DOWN mappings for members, paths and links, instant tables for inventory, stat panels
with ``or vector(0)``.  The queries speak the group model (SPEC §6.2), so new group kinds
show up without a change; some panels read the recording rules of
deploy/prometheus/lanes-rules.yml (``group:lanes_*``), which must be loaded.
"""

from __future__ import annotations

import json
import os
import sys

from grafana_foundation_sdk.builders import common, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders.dashboard import (
    Dashboard,
    DashboardLink,
    DatasourceVariable,
    QueryVariable,
    Row,
    ThresholdsConfig,
)
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    DataSourceRef,
    GraphTransform,
    LegendDisplayMode,
    LegendPlacement,
    SortOrder,
    StackingMode,
    TooltipDisplayMode,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataTransformerConfig,
    DynamicConfigValue,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

HERE = os.path.dirname(os.path.abspath(__file__))
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
S = 'job=~"$job", instance=~"$instance"'
G = f'{S}, kind=~"$kind", group=~"$group"'
RI = "$__rate_interval"
STORAGE_KINDS = "multipath|mpxio|nvme|iscsi|iscsi_target"
UPDOWN = [ValueMap(options={"0": ValueMappingResult(text="DOWN", color="red"), "1": ValueMappingResult(text="UP", color="green")})]
PREFERRED = [ValueMap(options={"0": ValueMappingResult(text="standby", color="text"), "1": ValueMappingResult(text="preferred", color="green")})]
NEGATIVE_Y = [DynamicConfigValue(id_val="custom.transform", value=GraphTransform.NEGATIVE_Y)]


def q(expr: str, legend: str | None = None, ref: str = "A") -> Dataquery:
    b = Dataquery().expr(expr).datasource(DS).ref_id(ref)
    if legend:
        b = b.legend_format(legend)
    return b


def legend_opts():
    return common.VizLegendOptions().show_legend(True).display_mode(LegendDisplayMode.LIST).placement(LegendPlacement.BOTTOM)


def tooltip_opts():
    return common.VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.DESCENDING)


def graph(title: str, description: str, unit: str, span: int = 12) -> timeseries.Panel:
    return timeseries.Panel().title(title).description(description).datasource(DS).unit(unit).height(8).span(span).legend(legend_opts()).tooltip(tooltip_opts())


def qt(expr: str, ref: str) -> Dataquery:
    """Instant query for a table."""
    return q(expr, ref=ref).instant().format(PromQueryFormat.TABLE)


def red_from(n: float | None) -> ThresholdsConfig:
    steps = [Threshold(value=None, color="green")] + ([Threshold(value=n, color="red")] if n is not None else [])
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps)


def count_stat(title: str, expr: str, description: str, red_at: float | None = 1) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .unit("none")
        .height(4)
        .span(4)
        .thresholds(red_from(red_at))
        .with_target(q(f"{expr} or vector(0)"))
    )


def rates(title: str, rx: str, tx: str, legend: str, description: str, stacked: bool = False, unit: str = "Bps", span: int = 12) -> timeseries.Panel:
    """Receive/read above the axis, transmit/write below it (legend suffix in/out)."""
    p = (
        graph(title, description, unit, span)
        .fill_opacity(20 if stacked else 10)
        .with_target(q(rx, f"{legend} in", "A"))
        .with_target(q(tx, f"{legend} out", "B"))
        .override_by_query("B", NEGATIVE_Y)
    )
    if stacked:
        p = p.stacking(common.StackingConfig().mode(StackingMode.NORMAL))
    return p


def series(title: str, expr: str, legend: str, unit: str, description: str, span: int = 12, max_val: float | None = None) -> timeseries.Panel:
    p = graph(title, description, unit, span).min(0).with_target(q(expr, legend))
    if max_val is not None:
        p = p.max(max_val)
    return p


def updown(title: str, expr: str, legend: str, description: str, span: int = 24) -> statetimeline.Panel:
    return (
        statetimeline.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .unit("none")
        .height(8)
        .span(span)
        .mappings(UPDOWN)
        .legend(legend_opts())
        .thresholds(ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps([Threshold(value=None, color="red"), Threshold(value=1, color="green")]))
        .with_target(q(expr, legend))
    )


def inventory(title: str, targets: list[tuple[str, str]], description: str, hide: list[str] | None = None, rename: dict | None = None, units: dict | None = None, span: int = 24) -> table.Panel:
    """Instant table; several queries are merged into one row per label set."""
    p = table.Panel().title(title).description(description).datasource(DS).unit("none").height(8).span(span)
    for ref, expr in targets:
        p = p.with_target(qt(expr, ref))
    if len(targets) > 1:
        p = p.with_transformation(DataTransformerConfig(id_val="merge", options={}))
    exclude = {"Time": True, "__name__": True, **{h: True for h in hide or []}}
    p = p.with_transformation(DataTransformerConfig(id_val="organize", options={"excludeByName": exclude, "renameByName": rename or {}}))
    for field, unit in (units or {}).items():
        # overrides match the field name after the organize transformation renamed it
        p = p.override_by_name((rename or {}).get(field, field), [DynamicConfigValue(id_val="unit", value=unit)])
    return p


#: a table cell that opens lanes / Group on the row's group (job, instance, kind and group of
#: the row; the dashboard's time range kept)
GROUP_LINK = [
    DynamicConfigValue(
        id_val="links",
        value=[
            {
                "title": "lanes / Group: ${__data.fields.group} on ${__data.fields.instance}",
                "url": "/d/lanes-group/lanes-group?var-datasource=${datasource}&var-job=${__data.fields.job}&var-instance=${__data.fields.instance}"
                "&var-kind=${__data.fields.kind}&var-group=${__data.fields.group}&${__url_time_range}",
            }
        ],
    )
]
#: rows of a worst-N table: a fleet of 500 hosts has thousands of groups
WORST_N = 20
MEMBER = "job, instance, kind, group, member"
GROUP = "job, instance, kind, group"


def worst(title: str, expr: str, value: str, unit: str, description: str) -> table.Panel:
    """The ``WORST_N`` worst rows of ``expr`` (topk, largest first), each linking to the
    group dashboard: fleet-sized, never a graph with a line per group."""
    p = (
        table.Panel()
        .title(title)
        .description(f"{description} The {WORST_N} worst now; click a group for lanes / Group.")
        .datasource(DS)
        .unit("none")
        .height(8)
        .span(12)
        .with_target(qt(f"sort_desc(topk({WORST_N}, {expr}))", "A"))
        .with_transformation(DataTransformerConfig(id_val="organize", options={"excludeByName": {"Time": True, "__name__": True}, "renameByName": {"Value": value}}))
        .override_by_name("group", GROUP_LINK)
        .override_by_name(value, [DynamicConfigValue(id_val="unit", value=unit)])
    )
    return p


def base(title: str, uid: str, description: str, extra_vars: list) -> Dashboard:
    d = (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["lanes"])
        .editable()
        .refresh("30s")
        .time("now-3h", "now")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .link(DashboardLink("lanes").type(DashboardLinkType.DASHBOARDS).tags(["lanes"]).as_dropdown(True).include_vars(True).keep_time(True))
        .with_variable(DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(
            QueryVariable("job")
            .label("Job")
            .datasource(DS)
            .query("label_values(lanes_exporter_build_info, job)")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".+")
        )
        .with_variable(
            QueryVariable("instance")
            .label("Host")
            .datasource(DS)
            .query('label_values(lanes_exporter_build_info{job=~"$job"}, instance)')
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".+")
        )
    )
    for v in extra_vars:
        d = d.with_variable(v)
    return d


def group_vars() -> list:
    return [
        QueryVariable("kind")
        .label("Kind")
        .datasource(DS)
        .query(f"label_values(lanes_group_info{{{S}}}, kind)")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".+"),
        QueryVariable("group")
        .label("Group")
        .datasource(DS)
        .query(f'label_values(lanes_group_info{{{S}, kind=~"$kind"}}, group)')
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".+"),
    ]


# ------------------------------------------------------------------ lanes / Overview


def overview() -> Dashboard:
    d = base("lanes / Overview", "lanes-overview", "Every group of lanes on every host: members up, balancing, throughput, utilization, imbalance; degraded groups and firing lanes alerts.", group_vars())
    d = (
        d.with_row(Row("Health"))
        .with_panel(count_stat("Groups", f"count(lanes_group_info{{{G}}})", "Groups of lanes (bonds, aggregations, IPMP, multipath maps, iSCSI targets, NVMe namespaces, declared).", red_at=None))
        .with_panel(count_stat("Degraded groups", f"count(lanes_group_members_up{{{G}}} < lanes_group_members{{{G}}})", "Groups with fewer members up than they should have."))
        .with_panel(
            count_stat(
                "Groups without redundancy",
                f"count(lanes_group_members_up{{{G}}} <= 1 and on (job, instance, kind, group) lanes_group_members{{{G}}} > 1)",
                "Groups of several members that run on one member or none.",
            )
        )
        .with_panel(count_stat("Members down", f"count(lanes_member_up{{{G}}} == 0)", "Members (NICs, ports, paths, sessions) that cannot carry traffic."))
        .with_panel(
            count_stat("Firing lanes alerts", f'count(ALERTS{{alertname=~"Lanes.+", alertstate="firing", {S}}})', "Alerts of the lanes rules that fire now (needs deploy/prometheus/lanes-rules.yml).")
        )
        .with_panel(count_stat("Collectors failing", f"count(lanes_collector_success{{{S}}} == 0)", "lanes collectors that could not read or understand their sources."))
        .with_row(Row("Worst groups"))
        .with_panel(
            worst(
                "Most degraded groups",
                f"lanes_group_members{{{G}}} - on ({GROUP}) lanes_group_members_up{{{G}}} > 0",
                "members missing",
                "none",
                "Groups with members down or vanished, most missing first.",
            )
        )
        .with_panel(
            worst(
                "Most imbalanced groups",
                f'group:lanes_group_imbalance:ratio{{{G}}} and on ({GROUP}) lanes_group_info{{{G}, balancing="load"}}',
                "imbalance",
                "none",
                "Load-balancing groups by imbalance of their preferred members (1 = fair share, N = all on one of N).",
            )
        )
        .with_panel(
            worst(
                "Most saturated members",
                f"group:lanes_member_preferred_utilization:ratio{{{G}}}",
                "utilization",
                "percentunit",
                "Preferred members by peak (else 5m) utilization of their busier direction: near 100% beside an idle sibling is LanesMemberSaturated.",
            )
        )
        .with_panel(
            worst(
                "I/O on non-preferred members",
                f"group:lanes_member_share:ratio{{{G}}} and on ({MEMBER}) (lanes_member_preferred{{{G}}} == 0)",
                "share of group bytes",
                "percentunit",
                "Members the technology means to stay idle (non-optimized ALUA paths, backup ports) by their share of the group's bytes: "
                "proxied I/O or a failover (LanesNonPreferredPathIO).",
            )
        )
        .with_row(Row("Groups"))
        .with_panel(
            inventory(
                "Groups",
                [
                    ("A", f"lanes_group_info{{{G}}}"),
                    ("B", f"lanes_group_members_up{{{G}}}"),
                    ("C", f"lanes_group_members{{{G}}}"),
                    ("D", f"sum by (job, instance, kind, group) (rate(lanes_member_receive_bytes_total{{{G}}}[{RI}]) + rate(lanes_member_transmit_bytes_total{{{G}}}[{RI}]))"),
                    ("E", f"group:lanes_group_utilization:ratio{{{G}}}"),
                    ("F", f"group:lanes_group_imbalance:ratio{{{G}}}"),
                ],
                "One row per group: members up of members, balancing, throughput (both directions), utilization of the members that are up, imbalance (1 = fair share, N = all on one member).",
                hide=["Value #A"],
                rename={"Value #B": "up", "Value #C": "members", "Value #D": "throughput", "Value #E": "utilization", "Value #F": "imbalance"},
                units={"Value #D": "Bps", "Value #E": "percentunit", "Value #F": "none"},
            ).override_by_name("group", GROUP_LINK)
        )
        .with_panel(
            rates(
                "Group throughput",
                f"topk(10, sum by (instance, kind, group) (rate(lanes_member_receive_bytes_total{{{G}}}[{RI}])))",
                f"topk(10, sum by (instance, kind, group) (rate(lanes_member_transmit_bytes_total{{{G}}}[{RI}])))",
                "{{instance}} {{kind}} {{group}}",
                "Bytes per second of the 10 busiest groups per direction (a fleet has thousands: the table above lists all); receive/read up, transmit/write down.",
            )
        )
        .with_panel(
            series(
                "Group utilization",
                f"topk(10, group:lanes_group_utilization:ratio{{{G}}})",
                "{{instance}} {{kind}} {{group}}",
                "percentunit",
                "The 10 most used groups: busier direction's bytes over the speed of the members that are up (members of unknown speed left out).",
                span=12,
            )
        )
        .with_panel(
            series(
                "Imbalance",
                f'topk(10, group:lanes_group_imbalance:ratio{{{G}}} and on ({GROUP}) lanes_group_info{{{G}, balancing="load"}})',
                "{{instance}} {{kind}} {{group}}",
                "none",
                "The 10 most imbalanced load-balancing groups: busiest preferred member's share of the preferred members' bytes times their number "
                "(1 = fair, 2 = one of two carries all).",
                span=12,
            )
        )
        .with_row(Row("Alerts and collectors"))
        .with_panel(
            inventory(
                "Firing lanes alerts",
                [("A", f'ALERTS{{alertname=~"Lanes.+", alertstate="firing", {S}}}')],
                "Lanes alerts firing now, with their labels.",
                hide=["Value", "alertstate", "job"],
            )
        )
        .with_panel(
            series(
                "Collector duration",
                f"lanes_collector_duration_seconds{{{S}}}",
                "{{instance}} {{collector}}",
                "s",
                "Time each collector took per scrape.",
                span=24,
            )
        )
    )
    return d


# ------------------------------------------------------------------ lanes / Group


def group() -> Dashboard:
    d = base("lanes / Group", "lanes-group", "One group of lanes: per-member throughput, share of traffic, peak against speed, member states and the technology's own detail.", group_vars())
    d = (
        d.with_row(Row("Members"))
        .with_panel(
            rates(
                "Member throughput",
                f"sum by (instance, group, member) (rate(lanes_member_receive_bytes_total{{{G}}}[{RI}]))",
                f"sum by (instance, group, member) (rate(lanes_member_transmit_bytes_total{{{G}}}[{RI}]))",
                "{{instance}} {{group}} {{member}}",
                "Per member, stacked: receive/read up, transmit/write down.",
                stacked=True,
                span=24,
            )
        )
        .with_panel(
            graph(
                "Preferred vs non-preferred members",
                "Share of the group's bytes (both directions) on the members the technology means to carry traffic now (ALUA active/optimized "
                "paths, the active port, IPMP active interfaces, ...) and on the others. Non-preferred stays near 0 on a healthy group; when it "
                "rises, I/O is proxied through the other controller or a failover happened (LanesNonPreferredPathIO above 5%).",
                "percentunit",
                span=24,
            )
            .with_target(q(f"sum by (instance, kind, group) (group:lanes_member_share:ratio{{{G}}} and on ({MEMBER}) (lanes_member_preferred{{{G}}} == 1))", "{{instance}} {{group}} preferred", "A"))
            .with_target(q(f"sum by (instance, kind, group) (group:lanes_member_share:ratio{{{G}}} and on ({MEMBER}) (lanes_member_preferred{{{G}}} == 0))", "{{instance}} {{group}} non-preferred", "B"))
            .min(0)
            .max(1)
        )
        .with_panel(
            series(
                "Share of traffic",
                f"group:lanes_member_share:ratio{{{G}}}",
                "{{instance}} {{group}} {{member}}",
                "percentunit",
                "Member bytes over group bytes (5m): 1/N each when balanced.",
                max_val=1,
            )
        )
        .with_panel(
            graph("Peak rate and speed", "The sampler's highest 1 s rate per scrape interval (receive up, transmit down) and the member's speed.", "Bps")
            .with_target(q(f"lanes_member_receive_peak_bytes_per_second{{{G}}}", "{{instance}} {{member}} peak in", "A"))
            .with_target(q(f"lanes_member_transmit_peak_bytes_per_second{{{G}}}", "{{instance}} {{member}} peak out", "B"))
            .with_target(q(f"lanes_member_speed_bytes{{{G}}}", "{{instance}} {{member}} speed", "C"))
            .override_by_query("B", NEGATIVE_Y)
        )
        .with_panel(
            series(
                "Peak utilization",
                f"group:lanes_member_peak_utilization:ratio{{{G}}}",
                "{{instance}} {{group}} {{member}}",
                "percentunit",
                "Peak rate of the busier direction over the member's speed; alert LanesMemberSaturated at 90% while another preferred member uses less than 50%.",
            )
        )
        .with_panel(
            series(
                "Member utilization",
                f"group:lanes_member_utilization:ratio{{{G}}}",
                "{{instance}} {{group}} {{member}}",
                "percentunit",
                "5m rate of the busier direction over the member's speed.",
            )
        )
        .with_panel(updown("Member state", f"lanes_member_up{{{G}}}", "{{instance}} {{group}} {{member}}", "Up/down history of each member."))
        .with_panel(
            inventory(
                "Members",
                [("A", f"lanes_member_up{{{G}}}"), ("C", f"lanes_member_preferred{{{G}}}"), ("B", f"lanes_member_speed_bytes{{{G}}}")],
                "Members now: state, whether the technology means them to carry traffic (preferred: ALUA active/optimized, active port, "
                "IPMP active; standby: waits for a failure or proxies), and speed.",
                hide=["job"],
                rename={"Value #A": "up", "Value #C": "preferred", "Value #B": "speed"},
                units={"Value #B": "Bps"},
            )
            .override_by_name("up", [DynamicConfigValue(id_val="mappings", value=UPDOWN)])
            .override_by_name("preferred", [DynamicConfigValue(id_val="mappings", value=PREFERRED)])
        )
        .with_row(Row("Technology detail"))
        .with_panel(
            updown(
                "LACP actor port state (Linux bond)",
                f'lanes_bond_member_lacp_actor_port_state{{{S}, bond=~"$group", bit=~"synchronization|collecting|distributing"}}',
                "{{instance}} {{bond}} {{member}} {{bit}}",
                "IEEE 802.1AX actor state bits per member: all three must be set for the member to carry traffic.",
                span=12,
            )
        )
        .with_panel(
            updown(
                "LACP actor port state (Linux team)",
                f'lanes_team_port_lacp_actor_port_state{{{S}, team=~"$group", bit=~"synchronization|collecting|distributing"}}',
                "{{instance}} {{team}} {{port}} {{bit}}",
                "teamd lacp runner: actor state bits per port.",
                span=12,
            )
        )
        .with_panel(
            updown(
                "LACP actor port state (illumos aggr)",
                f'lanes_aggr_port_lacp_actor_state{{{S}, aggr=~"$group", bit=~"synchronization|collecting|distributing"}}',
                "{{instance}} {{aggr}} {{port}} {{bit}}",
                "dladm show-aggr -L state bits per port.",
                span=12,
            )
        )
        .with_panel(
            inventory(
                "IPMP group state",
                [("A", f'lanes_ipmp_group_state{{{S}, group=~"$group"}} == 1')],
                "illumos IPMP groups: ok, degraded or failed.",
                hide=["job", "Value"],
                span=12,
            )
        )
        .with_panel(
            inventory(
                "LACP checks",
                [
                    ("A", f'lanes_bond_member_lacp_sync_missing{{{S}, bond=~"$group"}}'),
                    ("B", f'lanes_bond_member_lacp_outside_active_aggregator{{{S}, bond=~"$group"}}'),
                    ("C", f'lanes_bond_member_lacp_aggregator_id{{{S}, bond=~"$group"}}'),
                ],
                "Linux bond members: sync/collecting/distributing missing, outside the active aggregator, aggregator id.",
                hide=["job"],
                rename={"Value #A": "sync missing", "Value #B": "outside active aggregator", "Value #C": "aggregator"},
            )
        )
        .with_panel(
            inventory(
                "Multipath path groups",
                [("A", f'lanes_multipath_path_group{{{S}, map=~"$group"}}'), ("B", f'lanes_multipath_path_dm_state{{{S}, map=~"$group"}} == 1')],
                "dm-multipath: path group of each path and its dm state.",
                hide=["job", "Value #B"],
                rename={"Value #A": "path group"},
            )
        )
    )
    return cars_per_lane(d)


# ------------------------------------------------------------------ cars per lane (SPEC §13)

FLOW = "job, instance, protocol, local, remote"


def cars_per_lane(d: Dashboard) -> Dashboard:
    """The flows collector's view of one group: how many connections (cars) ride each member
    (lane), the busiest one against its member's speed, and what the group can move with the
    flows it has against its total speed."""
    flow_peak = (
        f"max by ({FLOW}) (lanes_flow_receive_peak_bytes_per_second{{{S}}} "
        f'or label_replace(lanes_flow_transmit_peak_bytes_per_second{{{S}}}, "direction", "transmit", "", ""))'
    )
    on_member = f'* on ({FLOW}) group_left (kind, group, member) lanes_flow_info{{{G}, member!=""}}'
    return (
        d.with_row(Row("Cars per lane (flows)"))
        .with_panel(
            series(
                "Flows per member",
                f'count by (instance, group, member) (lanes_flow_info{{{G}, member!=""}})',
                "{{instance}} {{group}} {{member}}",
                "none",
                "Storage TCP connections (iSCSI, NVMe/TCP, NFS, SMB) riding each member: one connection always rides one member.",
            )
        )
        .with_panel(
            graph("Busiest flow against its member's speed", "Highest peak rate of any one connection on the member (busier direction) and the member's speed: a flow near its member's speed cannot go faster however many members the group has (LanesFlowAtLaneLimit).", "Bps")
            .min(0)
            .with_target(q(f"max by (instance, group, member) ({flow_peak} {on_member})", "{{instance}} {{member}} busiest flow", "A"))
            .with_target(q(f"lanes_member_speed_bytes{{{G}}}", "{{instance}} {{member}} speed", "B"))
        )
        .with_panel(
            graph("Reachable speed against total speed", "What the group can move with the flows it has (the members its flows ride) against the speed of all its members: the gap is capacity no current flow can use.", "Bps")
            .min(0)
            .with_target(q(f"lanes_group_reachable_speed_bytes{{{G}}}", "{{instance}} {{group}} reachable", "A"))
            .with_target(q(f"sum by (instance, group) (lanes_member_speed_bytes{{{G}}})", "{{instance}} {{group}} total", "B"))
        )
        .with_panel(
            inventory(
                "Flows",
                [("A", f"lanes_flow_info{{{G}}}"), ("B", f"rate(lanes_flow_transmit_bytes_total{{{S}}}[{RI}]) {on_member}")],
                "Each storage connection, the NIC it leaves by and the member it rides (a bond: computed as the kernel's xmit hash does), with its transmit rate.",
                hide=["job", "Value #A"],
                rename={"Value #B": "transmit"},
                units={"Value #B": "Bps"},
                span=12,
            )
        )
    )


# ------------------------------------------------------------------ lanes / Storage paths


def storage() -> Dashboard:
    k = f'{S}, kind=~"{STORAGE_KINDS}"'
    d = base("lanes / Storage paths", "lanes-storage", "Multipath maps, iSCSI sessions, NVMe and MPxIO paths: which path runs over which session, NIC and portal, its throughput and state.", group_vars())
    d = (
        d.with_row(Row("Paths"))
        .with_panel(
            inventory(
                "Path → session → NIC → portal",
                [("A", f'lanes_path_info{{{S}, kind=~"$kind", group=~"$group"}} * on (job, instance, kind, group, member) group_left () lanes_member_up{{{k}}}')],
                "Each storage path with the iSCSI session, local NIC and address and target portal it uses; up = 1.",
                hide=["job"],
                rename={"Value": "up"},
            ).mappings(UPDOWN)
        )
        .with_panel(
            rates(
                "Per-path throughput",
                f'sum by (instance, kind, group, member) (rate(lanes_member_receive_bytes_total{{{k}, kind=~"$kind", group=~"$group"}}[{RI}]))',
                f'sum by (instance, kind, group, member) (rate(lanes_member_transmit_bytes_total{{{k}, kind=~"$kind", group=~"$group"}}[{RI}]))',
                "{{instance}} {{group}} {{member}}",
                "Read (up) and write (down) bytes per second over each path.",
                stacked=True,
                span=24,
            )
        )
        .with_panel(updown("Path state", f'lanes_member_up{{{k}, kind=~"$kind", group=~"$group"}}', "{{instance}} {{kind}} {{group}} {{member}}", "Up/down history of every storage path."))
        .with_row(Row("Multipath (Linux)"))
        .with_panel(
            inventory(
                "Multipath maps",
                [
                    ("A", f'lanes_multipath_map_info{{{S}, map=~"$group"}}'),
                    ("B", f'lanes_multipath_map_paths{{{S}, map=~"$group"}}'),
                    ("C", f'lanes_multipath_map_paths_usable{{{S}, map=~"$group"}}'),
                    ("D", f'lanes_multipath_map_queue_if_no_path{{{S}, map=~"$group"}}'),
                ],
                "dm-multipath maps: identity, selector and policy, paths usable of paths, queue_if_no_path.",
                hide=["job", "Value #A"],
                rename={"Value #B": "paths", "Value #C": "usable", "Value #D": "queue if no path"},
            )
        )
        .with_row(Row("iSCSI, NVMe, MPxIO"))
        .with_panel(
            inventory(
                "iSCSI sessions",
                [("A", f'lanes_iscsi_session_info{{{S}, target=~"$group"}}')],
                "iSCSI initiator sessions: target, portal, local NIC and address; on Linux also its current session and connection state and its recovery timeout.",
                hide=["job", "Value"],
            )
        )
        .with_panel(
            inventory(
                "NVMe paths",
                [("A", f'lanes_nvme_path_info{{{S}, kind=~"$kind", group=~"$group"}}')],
                "NVMe native multipath: namespace, controller, transport address and NIC per path.",
                hide=["job", "Value"],
            )
        )
        .with_panel(
            inventory(
                "MPxIO logical units",
                [("A", f"lanes_mpxio_lu_paths{{{S}}}"), ("B", f"lanes_mpxio_lu_operational_paths{{{S}}}")],
                "illumos MPxIO: total and operational paths per logical unit.",
                hide=["job"],
                rename={"Value #A": "paths", "Value #B": "operational"},
            )
        )
    )
    return d


# ------------------------------------------------------------------ lanes / Links


def links() -> Dashboard:
    link_var = (
        QueryVariable("link")
        .label("Link")
        .datasource(DS)
        .query(f"label_values(lanes_link_info{{{S}}}, link)")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".+")
    )
    L = f'{S}, link=~"$link"'
    d = base("lanes / Links", "lanes-links", "Every NIC / datalink: throughput, utilization, errors and drops, carrier changes and state.", [link_var])
    d = (
        d.with_row(Row("Traffic"))
        .with_panel(
            rates(
                "Throughput",
                f"rate(lanes_link_receive_bytes_total{{{L}}}[{RI}])",
                f"rate(lanes_link_transmit_bytes_total{{{L}}}[{RI}])",
                "{{instance}} {{link}}",
                "Bytes per second: receive up, transmit down.",
                span=24,
            )
        )
        .with_panel(
            rates(
                "Utilization",
                f"rate(lanes_link_receive_bytes_total{{{L}}}[{RI}]) / (lanes_link_speed_bytes{{{L}}} > 0)",
                f"rate(lanes_link_transmit_bytes_total{{{L}}}[{RI}]) / (lanes_link_speed_bytes{{{L}}} > 0)",
                "{{instance}} {{link}}",
                "Rate over link speed per direction (links of unknown speed left out).",
                unit="percentunit",
            )
        )
        .with_panel(
            graph("Errors and drops", "Packets per second in error or dropped; receive up, transmit down.", "pps")
            .with_target(q(f"rate(lanes_link_receive_errors_total{{{L}}}[{RI}])", "{{instance}} {{link}} errors in", "A"))
            .with_target(q(f"rate(lanes_link_receive_dropped_total{{{L}}}[{RI}])", "{{instance}} {{link}} dropped in", "B"))
            .with_target(q(f"rate(lanes_link_transmit_errors_total{{{L}}}[{RI}])", "{{instance}} {{link}} errors out", "C"))
            .with_target(q(f"rate(lanes_link_transmit_dropped_total{{{L}}}[{RI}])", "{{instance}} {{link}} dropped out", "D"))
            .override_by_query("C", NEGATIVE_Y)
            .override_by_query("D", NEGATIVE_Y)
        )
        .with_row(Row("State"))
        .with_panel(
            series(
                "Carrier changes",
                f"increase(lanes_link_carrier_changes_total{{{L}}}[{RI}])",
                "{{instance}} {{link}}",
                "none",
                "Carrier up/down changes per interval: flapping links.",
            )
        )
        .with_panel(updown("Link state", f"lanes_link_up{{{L}}}", "{{instance}} {{link}}", "Up/down history of each link.", span=12))
        .with_panel(
            inventory(
                "Links",
                [("A", f"lanes_link_info{{{L}}}"), ("B", f"lanes_link_speed_bytes{{{L}}}"), ("C", f"lanes_link_mtu_bytes{{{L}}}"), ("D", f"lanes_link_up{{{L}}}")],
                "Every link now: kind, MAC, driver, master, speed, MTU, state.",
                hide=["job", "Value #A"],
                rename={"Value #B": "speed", "Value #C": "MTU", "Value #D": "up"},
                units={"Value #B": "Bps", "Value #C": "bytes"},
            )
        )
    )
    return d


DASHBOARDS = {
    "lanes-overview.json": overview,
    "lanes-group.json": group,
    "lanes-storage.json": storage,
    "lanes-links.json": links,
}


def render(builder) -> str:
    doc = json.loads(json.dumps(builder().build(), cls=JSONEncoder))
    # the SDK leaves panel ids unset (rows get 0); Grafana links and the linters want unique ids
    for n, panel in enumerate(doc["panels"], start=1):
        panel["id"] = n
    return json.dumps(doc, sort_keys=True, indent=2) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, builder in DASHBOARDS.items():
        path = os.path.join(HERE, name)
        text = render(builder)
        if check:
            with open(path, encoding="utf-8") as f:
                if f.read() != text:
                    stale.append(name)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    if stale:
        print(f"stale (run python3 grafana/generate.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
