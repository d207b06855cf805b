"""The alert and recording rules (SPEC §7), the example Prometheus and Alertmanager configs.

- the committed deploy/prometheus/lanes-rules.yml equals a fresh rendering of rules.py;
- every SPEC §7 alert exists with its severity and the three annotations, links a runbook
  section that exists, and its annotations only use labels the alert has;
- promtool: ``check rules`` (all lints fatal), ``test rules`` (every alert: not yet, firing,
  resolved), ``check config`` on the example prometheus.yml;
- amtool: ``check-config`` and ``config routes test`` on the example alertmanager.yml, and
  a real Alertmanager proves the inhibition (warnings of a group held back while a critical
  of the same group fires);
- every lanes metric the rules read exists in some golden exposition.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile

import helpers
import pytest
import rules_tools as rt
import yaml

#: SPEC §7, copied from the spec's table (not from the code under test)
SPEC_ALERTS = {
    "LanesMemberDown": "warning",
    "LanesGroupDegraded": "warning",
    "LanesGroupNoRedundancy": "critical",
    "LanesGroupDown": "critical",
    "LanesGroupImbalanced": "warning",
    "LanesGroupFailoverOnly": "info",
    "LanesMemberSaturated": "warning",
    "LanesMemberFlapping": "warning",
    "LanesLinkErrors": "warning",
    "LanesLacpNotAggregating": "warning",
    "LanesMultipathQueueingWithoutPaths": "critical",
    "LanesCollectorFailed": "warning",
    # SPEC §12
    "LanesNonPreferredPathIO": "warning",
    "LanesExporterDown": "warning",
    "LanesFlowAtLaneLimit": "warning",  # SPEC §13
}
#: SPEC §7 for: durations where the spec gives one
SPEC_FOR = {
    "LanesMemberDown": "1m",
    "LanesGroupDegraded": "2m",
    "LanesGroupNoRedundancy": "1m",
    "LanesGroupDown": "1m",
    "LanesGroupImbalanced": "15m",
    "LanesGroupFailoverOnly": "30m",
    "LanesMemberSaturated": "10m",
    "LanesLinkErrors": "15m",
    "LanesLacpNotAggregating": "2m",
    "LanesCollectorFailed": "5m",
    "LanesNonPreferredPathIO": "15m",
    "LanesExporterDown": "5m",
    "LanesFlowAtLaneLimit": "10m",
}


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="module")
def rules_doc():
    return load(rt.RULES_YML)


@pytest.fixture(scope="module")
def alerts(rules_doc):
    return {r["alert"]: r for g in rules_doc["groups"] for r in g["rules"] if "alert" in r}


@pytest.fixture(scope="module")
def records(rules_doc):
    return {r["record"]: r for g in rules_doc["groups"] for r in g["rules"] if "record" in r}


def test_committed_rules_equal_fresh_rendering():
    mod = rt.load_rules_module()
    with open(rt.RULES_YML, encoding="utf-8") as f:
        committed = f.read()
    assert committed == mod.render(), "deploy/prometheus/lanes-rules.yml is stale: python3 deploy/prometheus/rules.py > deploy/prometheus/lanes-rules.yml"


def test_every_spec_alert_with_severity_for_and_annotations(alerts):
    assert set(alerts) == set(SPEC_ALERTS)
    for name, severity in SPEC_ALERTS.items():
        rule = alerts[name]
        assert rule["labels"]["severity"] == severity, name
        if name in SPEC_FOR:
            assert rule.get("for") == SPEC_FOR[name], name
        ann = rule["annotations"]
        assert set(ann) == {"summary", "description", "runbook_url"}, name
        assert "{{" not in ann["summary"] and ann["summary"].endswith("."), f"{name}: summary must be a static sentence"
        assert "$labels.instance" in ann["description"], f"{name}: description must name the host"
        assert ann["runbook_url"].endswith("#" + name.lower()), name


def test_descriptions_name_group_and_member_where_the_alert_has_them(alerts):
    # alerts on the group model name kind and group; member-level ones also the member
    member_level = {"LanesMemberDown", "LanesMemberSaturated", "LanesMemberFlapping", "LanesLacpNotAggregating", "LanesNonPreferredPathIO"}
    group_level = {"LanesGroupDegraded", "LanesGroupNoRedundancy", "LanesGroupDown", "LanesGroupImbalanced", "LanesGroupFailoverOnly", "LanesMultipathQueueingWithoutPaths"}
    for name in member_level | group_level:
        d = alerts[name]["annotations"]["description"]
        assert "$labels.group" in d, name
        if name in member_level:
            assert "$labels.member" in d, name


def test_runbook_has_a_section_per_alert(alerts):
    with open(rt.RUNBOOKS, encoding="utf-8") as f:
        text = f.read()
    headings = {h.strip().lower() for h in re.findall(r"^## +(\S+)\s*$", text, flags=re.M)}
    for name in alerts:
        assert name.lower() in headings, f"docs/runbooks.md has no '## {name}' section"
        section = text.split(f"## {name}", 1)[1].split("\n## ", 1)[0]
        for part in ("Meaning", "Confirm", "Fix"):
            assert f"### {part}" in section, f"{name}: runbook section lacks ### {part}"
        assert "Linux" in section and "illumos" in section, f"{name}: runbook must cover Linux and illumos"


def test_imbalance_and_saturation_only_for_load_groups_with_a_floor(alerts):
    for name in ("LanesGroupImbalanced", "LanesGroupFailoverOnly", "LanesMemberSaturated"):
        assert 'balancing="load"' in alerts[name]["expr"], name
    for name in ("LanesGroupImbalanced", "LanesGroupFailoverOnly"):
        assert re.search(r"group:lanes_group_preferred_bytes:rate5m > \d+", alerts[name]["expr"]), f"{name}: needs a load floor"
    assert re.search(r"group:lanes_group_bytes:rate5m > \d+", alerts["LanesNonPreferredPathIO"]["expr"]), "LanesNonPreferredPathIO: needs a load floor"
    d = alerts["LanesMemberSaturated"]["annotations"]["description"]
    assert "MPIO" in d and "LACP" in d, "saturation must say: MPIO spreads one stream, more LACP links do not"


def test_selector_is_one_parameter():
    mod = rt.load_rules_module()
    text = mod.render(mod.Params(selector='job="storage-lanes"'))
    assert 'job="lanes"' not in text
    doc = yaml.safe_load(text)
    for g in doc["groups"]:
        for r in g["rules"]:
            # every raw lanes_ selector carries the job matcher
            for m in re.finditer(r"(?<![:\w])lanes_[a-z0-9_]+(\{[^}]*\})?", r["expr"]):
                if m.group(0).startswith("lanes_") and not re.match(r"lanes_[a-z0-9_]+\s*\(", r["expr"][m.start():]):
                    assert m.group(1) and 'job="storage-lanes"' in m.group(1), f"{r.get('alert') or r.get('record')}: {m.group(0)}"


def test_recording_rule_names_follow_level_metric_operations(records):
    for name in records:
        assert re.fullmatch(r"group:lanes_[a-z_]+:[a-z0-9_]+", name), name
        assert "_total" not in name, name
    # the SPEC §7 examples exist
    for name in ("group:lanes_member_transmit_bytes:rate5m", "group:lanes_member_share:ratio", "group:lanes_group_utilization:ratio"):
        assert name in records


def test_every_recorded_name_used_is_defined(rules_doc, records):
    for g in rules_doc["groups"]:
        for r in g["rules"]:
            for used in rt.recorded_names(r["expr"]):
                assert used in records, f"{r.get('alert') or r.get('record')} uses undefined {used}"


def test_every_metric_the_rules_read_exists_in_a_golden(rules_doc):
    have = rt.golden_names()
    used: dict[str, set[str]] = {}
    for g in rules_doc["groups"]:
        for r in g["rules"]:
            for name in rt.metric_names(r["expr"]):
                used.setdefault(name, set()).add(r.get("alert") or r.get("record"))
    assert used, "found no metric names in the rules"
    missing = {n: sorted(by) for n, by in used.items() if n not in have}
    assert not missing, f"metric names read by the rules that no tests/scenarios/*/expected.prom has (expected outputs: {len(have)} names): {json.dumps(missing, indent=1)}"


#: SPEC §9: enumerations of a path or a session export their current state only (one
#: series, value 1): a 0-valued series of these never exists
CURRENT_STATE_ONLY = (
    "lanes_multipath_path_scsi_state", "lanes_multipath_path_alua_state", "lanes_multipath_path_dm_state",
    "lanes_multipath_path_checker_state", "lanes_iscsi_session_state",
    "lanes_nvme_controller_state", "lanes_nvme_path_ana_state", "lanes_mpxio_path_state", "lanes_mpxio_tpg_access_state",
)  # fmt: skip


def test_no_rule_depends_on_a_zero_valued_state_series(rules_doc):
    """SPEC §9: alert rules never depend on a state series being present with value 0."""
    bad = []
    for g in rules_doc["groups"]:
        for r in g["rules"]:
            for name in CURRENT_STATE_ONLY:
                if re.search(rf"\b{name}\b(\{{[^}}]*\}})?\s*(==\s*0\b|!=\s*1\b|<\s*1\b)", r["expr"]):
                    bad.append((r.get("alert") or r.get("record"), name))
    assert not bad, bad


# ------------------------------------------------------------------ promtool unit tests


def _unit_tests():
    return load(rt.RULES_TEST_YML)


def _dur(s: str) -> int:
    m = re.fullmatch(r"(\d+)([smh])", str(s))
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]


def test_unit_tests_show_every_alert_not_yet_firing_and_resolved(alerts):
    doc = _unit_tests()
    assert doc["rule_files"] == ["../lanes-rules.yml"]
    for name in alerts:
        proven = False
        for t in doc["tests"]:
            cases = sorted((_dur(c["eval_time"]), bool(c.get("exp_alerts"))) for c in t.get("alert_rule_test", []) if c["alertname"] == name)
            firing = [at for at, fires in cases if fires]
            if not firing:
                continue
            before = [at for at, fires in cases if not fires and at < firing[0]]
            after = [at for at, fires in cases if not fires and at > firing[-1]]
            if before and after:
                proven = True
        assert proven, f"{name}: promtool tests need one test with not-yet, firing and resolved evaluations"


def test_annotations_only_use_labels_the_alert_has(alerts):
    doc = _unit_tests()
    for name, rule in alerts.items():
        used = set()
        for text in rule["annotations"].values():
            # a label read only inside {{ with $labels.x }} is optional (netdev where known)
            text = re.sub(r"\{\{ with \$labels\.[A-Za-z_]+ \}\}", "", text)
            used |= set(re.findall(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)", text))
        fired = [exp for t in doc["tests"] for c in t.get("alert_rule_test", []) if c["alertname"] == name for exp in c.get("exp_alerts") or []]
        assert fired, name
        for exp in fired:
            missing = used - set(exp["exp_labels"])
            assert not missing, f"{name}: annotations use {sorted(missing)} which the firing alert does not have ({sorted(exp['exp_labels'])})"
            # and promtool checked the expanded text: nothing may expand to an empty slot
            for text in exp["exp_annotations"].values():
                assert "  " not in text and " on ." not in text and "<no value>" not in text, f"{name}: {text}"


def test_promtool_check_rules():
    promtool = helpers.require_tool("promtool")
    p = subprocess.run([promtool, "check", "rules", "--lint=all", "--lint-fatal", rt.RULES_YML], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS" in p.stdout


def test_promtool_test_rules():
    promtool = helpers.require_tool("promtool")
    p = subprocess.run(
        [promtool, "test", "rules", os.path.basename(rt.RULES_TEST_YML)], cwd=os.path.dirname(rt.RULES_TEST_YML), capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS" in p.stdout


def test_promtool_unit_tests_fail_on_a_wrong_rendering(tmp_path):
    """The unit tests can fail: rendered with another imbalance factor and saturation
    threshold, the firing expectations of those alerts no longer hold."""
    promtool = helpers.require_tool("promtool")
    mod = rt.load_rules_module()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.yml").write_text(open(rt.RULES_TEST_YML, encoding="utf-8").read())
    (tmp_path / "lanes-rules.yml").write_text(mod.render(mod.Params(imbalance_factor=1.7, saturated_member=0.96)))
    p = subprocess.run([promtool, "test", "rules", "t.yml"], cwd=tmp_path / "tests", capture_output=True, text=True, timeout=120)
    assert p.returncode != 0
    assert "LanesGroupImbalanced" in p.stdout + p.stderr and "LanesMemberSaturated" in p.stdout + p.stderr


def test_promtool_check_config_example_prometheus():
    promtool = helpers.require_tool("promtool")
    p = subprocess.run([promtool, "check", "config", rt.PROMETHEUS_YML], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "1 rule files found" in p.stdout
    cfg = load(rt.PROMETHEUS_YML)
    assert cfg["rule_files"] == ["lanes-rules.yml"]
    assert [j["job_name"] for j in cfg["scrape_configs"]] == ["lanes"]


# ------------------------------------------------------------------ Alertmanager


def test_amtool_check_config():
    amtool = helpers.require_tool("amtool")
    p = subprocess.run([amtool, "check-config", rt.ALERTMANAGER_YML], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS" in p.stdout


@pytest.mark.parametrize(
    "labels, receiver",
    [
        (["severity=critical", "alertname=LanesGroupNoRedundancy"], "lanes-page"),
        (["severity=critical", "alertname=LanesMultipathQueueingWithoutPaths"], "lanes-page"),
        (["severity=warning", "alertname=LanesMemberDown"], "lanes-ticket"),
        (["severity=info", "alertname=LanesGroupFailoverOnly"], "lanes-null"),
        (["alertname=Watchdog"], "lanes-default"),
    ],
)
def test_amtool_routes_by_severity(labels, receiver):
    amtool = helpers.require_tool("amtool")
    p = subprocess.run([amtool, "config", "routes", "test", f"--config.file={rt.ALERTMANAGER_YML}", *labels], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip() == receiver


def test_alertmanager_inhibits_group_warnings_while_a_critical_of_that_group_fires():
    """Real Alertmanager with the shipped config: alerts posted to its API; a critical of
    group A holds back A's group-level warnings, not A's member-down warning, and not B's."""
    am = helpers.require_tool("prometheus-alertmanager")
    with tempfile.TemporaryDirectory(prefix="lanes-am-") as tmp:
        port = rt.free_port()
        proc = rt.start_alertmanager(am, rt.ALERTMANAGER_YML, tmp, port)
        try:
            base = f"http://127.0.0.1:{port}"
            host = {"job": "lanes", "instance": "h1:10147", "kind": "declared"}

            def alert(name, severity, group, **extra):
                return {"labels": {"alertname": name, "severity": severity, "group": group, **host, **extra}, "annotations": {"summary": "x"}}

            posted = [
                alert("LanesGroupNoRedundancy", "critical", "A"),
                alert("LanesGroupDegraded", "warning", "A"),
                alert("LanesMemberDown", "warning", "A", member="eth1"),
                alert("LanesGroupDegraded", "warning", "B"),
            ]
            status, body = rt.http_request("POST", f"{base}/api/v2/alerts", json.dumps(posted).encode())
            assert status == 200, body

            def states():
                got = rt.get_json(f"{base}/api/v2/alerts")
                out = {(a["labels"]["alertname"], a["labels"]["group"]): a["status"] for a in got}
                # inhibition is computed when the alerts are listed (a moment after they are
                # processed on a loaded machine); wait until all four are in and A's warning is held
                done = len(out) == 4 and all(s["state"] != "unprocessed" for s in out.values())
                return out if done and out[("LanesGroupDegraded", "A")]["state"] == "suppressed" else None

            got = rt.wait_until("Alertmanager to list the posted alerts", states, 15)
            assert got[("LanesGroupDegraded", "A")]["state"] == "suppressed"
            assert got[("LanesGroupDegraded", "A")]["inhibitedBy"], got
            assert got[("LanesGroupNoRedundancy", "A")]["state"] == "active"
            assert got[("LanesMemberDown", "A")]["state"] == "active"
            assert got[("LanesGroupDegraded", "B")]["state"] == "active"
        finally:
            proc.stop()
