"""Grafana dashboards (SPEC §8): committed JSON equals a fresh generation, and the lint rules
of research/conventions.md §4.5 (grafana/dashboard-linter's rules, re-implemented): fixed
uids, datasource/job/instance variables used by every panel and query, units, rates over
$__rate_interval, transmit on negative Y, UP/DOWN state timelines, no panel without a query,
and every metric name exists in some golden exposition.  That every query returns data from
a real Prometheus is tests/integration/test_prometheus_queries.py."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys

import helpers
import pytest
import rules_tools as rt
import yaml
from conftest import ROOT

GRAFANA = os.path.join(ROOT, "grafana")
#: SPEC §8: file -> (uid, title)
SPEC_DASHBOARDS = {
    "lanes-overview.json": ("lanes-overview", "lanes / Overview"),
    "lanes-group.json": ("lanes-group", "lanes / Group"),
    "lanes-storage.json": ("lanes-storage", "lanes / Storage paths"),
    "lanes-links.json": ("lanes-links", "lanes / Links"),
}
UNITS = {"Bps", "binBps", "percentunit", "pps", "none", "short", "s", "bytes", "bool", "bool_yes_no"}


def load_generator():
    try:
        import grafana_foundation_sdk  # noqa: F401
    except ImportError:
        helpers.require(False, "grafana-foundation-sdk not installed (pip install -e '.[test]')")
    spec = importlib.util.spec_from_file_location("lanes_grafana_generate", os.path.join(GRAFANA, "generate.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def dashboards() -> dict[str, dict]:
    out = {}
    for name in SPEC_DASHBOARDS:
        with open(os.path.join(GRAFANA, name), encoding="utf-8") as f:
            out[name] = json.load(f)
    return out


def panels(d: dict) -> list[dict]:
    return [p for p in d["panels"] if p["type"] != "row"]


queries = rt.queries


def test_committed_json_equals_fresh_generation():
    gen = load_generator()
    assert set(gen.DASHBOARDS) == set(SPEC_DASHBOARDS)
    for name, builder in gen.DASHBOARDS.items():
        with open(os.path.join(GRAFANA, name), encoding="utf-8") as f:
            assert f.read() == gen.render(builder), f"grafana/{name} is stale: python3 grafana/generate.py"


def test_sdk_is_pinned_exactly():
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        text = f.read()
    assert re.search(r'"grafana-foundation-sdk==\d+\.\d+\.\d+"', text), "pin grafana-foundation-sdk exactly in the test extra"


def test_fixed_uids_and_titles():
    seen = set()
    for name, d in dashboards().items():
        uid, title = SPEC_DASHBOARDS[name]
        assert d["uid"] == uid and d["title"] == title
        assert len(uid) <= 40 and uid not in seen
        seen.add(uid)
        assert "id" not in d or d["id"] is None
        assert "lanes" in d["tags"]


def test_variables():
    for name, d in dashboards().items():
        vs = {v["name"]: v for v in d["templating"]["list"]}
        assert vs["datasource"]["type"] == "datasource" and vs["datasource"]["query"] == "prometheus", name
        assert vs["job"]["query"] == "label_values(lanes_exporter_build_info, job)", name
        assert vs["instance"]["query"] == 'label_values(lanes_exporter_build_info{job=~"$job"}, instance)', name
        for v in vs.values():
            if v["type"] == "query":
                assert v["datasource"]["uid"] == "${datasource}", f"{name} ${v['name']}"
        if name != "lanes-links.json":
            assert {"kind", "group"} <= set(vs), f"{name}: kind and group variables (SPEC §8)"


def lint(name: str, d: dict) -> list[str]:
    """Problems of one dashboard (the dashboard-linter style rules); [] when clean."""
    out = []
    ids = [p.get("id") for p in d["panels"]]
    if len(ids) != len(set(ids)):
        out.append(f"{name}: panel ids must be unique")
    for p in panels(d):
        where = f"{name}/{p['title']}"
        if p.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
            out.append(f"{where}: panel datasource must be ${{datasource}}")
        if not p.get("targets"):
            out.append(f"{where}: panel without a query")
        for t in p.get("targets", []):
            if t.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
                out.append(f"{where}: query datasource must be ${{datasource}}")
            if not t.get("expr", "").strip():
                out.append(f"{where}: empty query")
        unit = p["fieldConfig"]["defaults"].get("unit")
        if unit not in UNITS:
            out.append(f"{where}: unit {unit!r}")
        g = p["gridPos"]
        if not (0 < g["w"] and g["x"] + g["w"] <= 24):
            out.append(f"{where}: outside the 24-column grid")
        if not p.get("description"):
            out.append(f"{where}: say what the panel shows")
        if p["type"] == "timeseries":
            exprs = {t.get("refId"): t.get("expr", "") for t in p.get("targets", [])}
            if any(re.search(r"rate\(lanes_[a-z_]+_bytes_total", e) for e in exprs.values()) and unit not in ("Bps", "binBps", "percentunit"):
                out.append(f"{where}: byte rates need Bps, got {unit}")
            negative = {
                o["matcher"]["options"]
                for o in p["fieldConfig"]["overrides"]
                if o["matcher"]["id"] == "byFrameRefID" and {"id": "custom.transform", "value": "negative-Y"} in o["properties"]
            }
            for ref, e in exprs.items():
                if re.search(r"lanes_(member|link)_transmit_", e) and ref not in negative:
                    out.append(f"{where}: transmit query {ref} must be on the negative Y axis")
                elif re.search(r"lanes_(member|link)_receive_", e) and ref in negative:
                    out.append(f"{where}: receive query {ref} belongs above the axis")
    for where, expr in queries(d):
        for rng in re.findall(r"\[([^\]]*)\]", expr):
            if rng != "$__rate_interval":
                out.append(f"{where}: range [{rng}] must be [$__rate_interval]")
        for fn in re.findall(r"\b(rate|irate|increase|delta|changes)\(", expr):
            if fn not in ("rate", "increase"):
                out.append(f"{where}: {fn}()")
        if where.endswith("/$job"):
            continue
        # every selector of a lanes metric, recording rule or ALERTS carries job and instance
        for m in re.finditer(r"(?<![:\w])(lanes_[a-z0-9_]+|[a-z_]+:lanes_[a-z0-9_]+:[a-z0-9_]+|ALERTS)(\{[^}]*\})?", expr):
            if m.group(1) == "lanes_exporter_build_info" and where.endswith("/$instance"):
                continue
            sel = m.group(2) or ""
            if 'job=~"$job"' not in sel or 'instance=~"$instance"' not in sel:
                out.append(f"{where}: {m.group(0)} lacks job/instance matchers")
    return out


def test_dashboards_pass_the_lint():
    problems = [p for name, d in dashboards().items() for p in lint(name, d)]
    assert not problems, "\n".join(problems)


def _mutations():
    """(what, how to break a copy of the Group dashboard): the lint must notice each."""

    def panel(d, title):
        return next(p for p in d["panels"] if p.get("title") == title and p["type"] != "row")

    def drop_negative(d):
        panel(d, "Member throughput")["fieldConfig"]["overrides"] = []

    def fixed_range(d):
        t = panel(d, "Member throughput")["targets"][0]
        t["expr"] = t["expr"].replace("$__rate_interval", "5m")

    def no_instance(d):
        t = panel(d, "Share of traffic")["targets"][0]
        t["expr"] = t["expr"].replace(', instance=~"$instance"', "")

    def no_unit(d):
        del panel(d, "Member state")["fieldConfig"]["defaults"]["unit"]

    def no_query(d):
        panel(d, "Members")["targets"] = []

    def own_datasource(d):
        panel(d, "Peak utilization")["datasource"] = {"type": "prometheus", "uid": "prom1"}

    def irate(d):
        t = panel(d, "Member throughput")["targets"][1]
        t["expr"] = t["expr"].replace("rate(", "irate(")

    def bits(d):
        panel(d, "Member throughput")["fieldConfig"]["defaults"]["unit"] = "bps"

    return [drop_negative, fixed_range, no_instance, no_unit, no_query, own_datasource, irate, bits]


@pytest.mark.parametrize("mutate", _mutations(), ids=lambda f: f.__name__)
def test_lint_catches(mutate):
    d = json.loads(json.dumps(dashboards()["lanes-group.json"]))
    assert lint("lanes-group.json", d) == []
    mutate(d)
    assert lint("lanes-group.json", d), f"lint missed {mutate.__name__}"


def test_state_timelines_map_up_and_down():
    found = set()
    for name, d in dashboards().items():
        for p in panels(d):
            if p["type"] != "state-timeline":
                continue
            found.add(name)
            opts = p["fieldConfig"]["defaults"]["mappings"][0]["options"]
            assert opts["0"]["text"] == "DOWN" and opts["1"]["text"] == "UP", f"{name}/{p['title']}"
    # member state (Group), path state (Storage), link state (Links)
    assert {"lanes-group.json", "lanes-storage.json", "lanes-links.json"} <= found


def test_stat_panels_show_zero_not_no_data():
    for name, d in dashboards().items():
        for p in panels(d):
            if p["type"] == "stat":
                for t in p["targets"]:
                    assert t["expr"].endswith("or vector(0)"), f"{name}/{p['title']}"


def test_spec_content():
    ds = dashboards()
    titles = {name: {p["title"] for p in panels(d)} for name, d in ds.items()}
    assert {"Degraded groups", "Firing lanes alerts", "Groups", "Group throughput", "Group utilization", "Imbalance"} <= titles["lanes-overview.json"]
    assert {"Member throughput", "Share of traffic", "Peak rate and speed", "Member state"} <= titles["lanes-group.json"]
    assert {"Path → session → NIC → portal", "Per-path throughput", "Path state", "Multipath maps", "iSCSI sessions", "NVMe paths"} <= titles["lanes-storage.json"]
    assert {"Throughput", "Utilization", "Errors and drops", "Carrier changes", "Link state"} <= titles["lanes-links.json"]
    member = next(p for p in panels(ds["lanes-group.json"]) if p["title"] == "Member throughput")
    assert member["fieldConfig"]["defaults"]["custom"]["stacking"]["mode"] == "normal"


def test_every_metric_name_exists_in_a_golden_and_every_recorded_name_in_the_rules():
    have = rt.golden_names()
    with open(rt.RULES_YML, encoding="utf-8") as f:
        records = {r["record"] for g in yaml.safe_load(f)["groups"] for r in g["rules"] if "record" in r}
    missing: dict[str, list[str]] = {}
    for d in dashboards().values():
        for where, expr in queries(d):
            for name in rt.metric_names(expr):
                if name not in have:
                    missing.setdefault(name, []).append(where)
            for name in rt.recorded_names(expr):
                assert name in records, f"{where}: {name} is not a recording rule of deploy/prometheus/lanes-rules.yml"
    assert not missing, f"metric names no tests/scenarios/*/expected.prom has: {json.dumps(missing, indent=1)}"


@pytest.mark.parametrize("expr, names", [("rate(lanes_link_receive_bytes_total{a=\"b\"}[1m])", {"lanes_link_receive_bytes_total"}), ("group:lanes_member_share:ratio", set())])
def test_metric_name_extraction(expr, names):
    assert rt.metric_names(expr) == names


def test_overview_is_fleet_sized_and_links_to_the_group_dashboard():
    """SPEC §12: the overview works for 500 hosts: worst-N tables (topk) of degraded,
    imbalanced, saturated groups and non-preferred I/O, each row linking to lanes / Group
    with its job, instance, kind and group; no graph with a line per group of the fleet."""
    d = dashboards()["lanes-overview.json"]
    by_title = {p["title"]: p for p in panels(d)}
    worst = ["Most degraded groups", "Most imbalanced groups", "Most saturated members", "I/O on non-preferred members"]
    for title in worst:
        p = by_title[title]
        assert p["type"] == "table", title
        (t,) = p["targets"]
        assert re.match(r"sort_desc\(topk\(\d+, ", t["expr"]) and t.get("instant"), f"{title}: {t['expr']}"
    for title in worst + ["Groups"]:
        links = [
            link["url"]
            for o in by_title[title]["fieldConfig"]["overrides"]
            if o["matcher"] == {"id": "byName", "options": "group"}
            for prop in o["properties"]
            if prop["id"] == "links"
            for link in prop["value"]
        ]
        assert links and links[0].startswith("/d/lanes-group/"), title
        for var in ("job", "instance", "kind", "group"):
            assert f"var-{var}=${{__data.fields.{var}}}" in links[0], (title, var)
        hidden = next(t for t in by_title[title]["transformations"] if t["id"] == "organize")["options"]["excludeByName"]
        assert not {"job", "instance", "kind", "group"} & {k for k, v in hidden.items() if v}, f"{title}: the link needs these fields"
    for p in panels(d):
        if p["type"] != "timeseries":
            continue
        for t in p["targets"]:
            # a line per group (or member) is only allowed for the N busiest
            per_group = re.search(r"\bby \([^)]*\bgroup\b", t["expr"]) or re.match(r"group:lanes_\w+:\w+\{", t["expr"])
            assert not per_group or t["expr"].startswith("topk("), f"{p['title']}: {t['expr']}"


def test_group_dashboard_shows_preferred_members():
    d = dashboards()["lanes-group.json"]
    by_title = {p["title"]: p for p in panels(d) if p["type"] != "row"}
    p = by_title["Preferred vs non-preferred members"]
    exprs = [t["expr"] for t in p["targets"]]
    assert any("lanes_member_preferred" in e and "== 1" in e for e in exprs) and any("lanes_member_preferred" in e and "== 0" in e for e in exprs)
    members = by_title["Members"]
    assert any("lanes_member_preferred" in t["expr"] for t in members["targets"])
    texts = json.dumps(members["fieldConfig"]["overrides"])
    assert '"preferred"' in texts and '"standby"' in texts
