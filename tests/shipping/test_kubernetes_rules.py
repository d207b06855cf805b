"""Kubernetes: the PrometheusRule selects the job the ServiceMonitor gives lanes (issue:
"Kubernetes never alerts" — jobLabel yielded job="lanes-exporter" while the rules selected
job="lanes": no alert, no recording rule, empty panels).

Reads both manifests: the job a Prometheus Operator assigns to the ServiceMonitor's targets
(prometheus-operator Documentation/api.md, ServiceMonitorSpec.jobLabel: "the label on the
Kubernetes Service whose value is used as the job; if empty, the Service name"; endpoint
relabelings run after and may set `job` themselves), and every series selector of the
PrometheusRule.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess

import helpers
import rules_tools as rt
import yaml
from conftest import ROOT

K8S = os.path.join(ROOT, "deploy", "kubernetes")
RULE = os.path.join(K8S, "prometheusrule.yaml")


def docs() -> dict[str, dict]:
    out = {}
    for name in os.listdir(K8S):
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(K8S, name), encoding="utf-8") as f:
                for d in yaml.safe_load_all(f):
                    if d:
                        out[d["kind"]] = d
    return out


def operator_job(sm: dict, svc: dict) -> str:
    """The ``job`` label of the ServiceMonitor's targets."""
    job = svc["metadata"]["name"]
    label = sm["spec"].get("jobLabel")
    if label:
        job = svc["metadata"].get("labels", {}).get(label, job)
    for ep in sm["spec"]["endpoints"]:
        for r in ep.get("relabelings", []):
            if r.get("targetLabel") == "job" and r.get("action", "replace") == "replace" and not r.get("sourceLabels"):
                job = r["replacement"]
    return job


def selector_mismatches(rule: dict, job: str) -> list[str]:
    """Series selectors of the rules that do not select ``job``."""
    bad = []
    for g in rule["spec"]["groups"]:
        for r in g["rules"]:
            expr = r["expr"]
            for m in re.finditer(r"(?<![:\w])(lanes_[a-z0-9_]+|up)(\{[^}]*\})?", expr):
                if re.match(r"\s*\(", expr[m.end(1):]) and not m.group(2):
                    continue  # a function name
                if f'job="{job}"' not in (m.group(2) or ""):
                    bad.append(f"{r.get('alert') or r.get('record')}: {m.group(0)}")
    return bad


def test_prometheusrule_is_a_fresh_rendering_of_rules_py():
    mod = rt.load_rules_module()
    with open(RULE, encoding="utf-8") as f:
        assert f.read() == mod.render_kubernetes(), "stale: python3 deploy/prometheus/rules.py --kubernetes > deploy/kubernetes/prometheusrule.yaml"
    # the same rules as the plain file, only the job differs
    with open(rt.RULES_YML, encoding="utf-8") as f:
        plain = yaml.safe_load(f)
    k8s = docs()["PrometheusRule"]["spec"]
    assert [r.get("alert") or r.get("record") for g in k8s["groups"] for r in g["rules"]] == [
        r.get("alert") or r.get("record") for g in plain["groups"] for r in g["rules"]
    ]


def test_servicemonitor_job_is_the_job_the_rules_select():
    d = docs()
    job = operator_job(d["ServiceMonitor"], d["Service"])
    assert job == "lanes-exporter"
    assert selector_mismatches(d["PrometheusRule"], job) == []
    assert d["PrometheusRule"]["metadata"]["namespace"] == d["ServiceMonitor"]["metadata"]["namespace"]


def test_the_check_catches_a_disagreement():
    """The check above can fail: the old pair (rules for job="lanes") and a ServiceMonitor
    relabelled to another job are both caught."""
    d = docs()
    mod = rt.load_rules_module()
    old = yaml.safe_load(mod.render_kubernetes(mod.Params(selector='job="lanes"')))
    assert selector_mismatches(old, operator_job(d["ServiceMonitor"], d["Service"]))
    sm = copy.deepcopy(d["ServiceMonitor"])
    sm["spec"]["endpoints"][0].setdefault("relabelings", []).append({"action": "replace", "targetLabel": "job", "replacement": "storage"})
    assert selector_mismatches(d["PrometheusRule"], operator_job(sm, d["Service"]))


def test_promtool_accepts_the_prometheusrule_groups(tmp_path):
    promtool = helpers.require_tool("promtool")
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(docs()["PrometheusRule"]["spec"]))
    p = subprocess.run([promtool, "check", "rules", "--lint=all", "--lint-fatal", str(path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
