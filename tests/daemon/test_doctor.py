"""``--doctor`` on every bundled scenario: text against tests/scenarios/<name>/expected-doctor.txt
(``--update-golden`` rewrites them; review each against the scenario), JSON that scripts can
read, and the same findings as ``lanes_finding`` in the scenario's exposition."""

from __future__ import annotations

import json
import os

import pytest
from helpers import EXPECTED_DOCTOR, SCENARIOS, expected_path, lanes, scenario_args, scenario_names

NAMES = scenario_names()


def _doctor(name: str, *extra: str):
    args = [a for a in scenario_args(name) if a != "--once"]
    r = lanes(*args, "--doctor", *extra)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    return r.stdout.replace(os.path.join(SCENARIOS, name), f"<scenarios>/{name}")


@pytest.mark.parametrize("name", NAMES)
def test_doctor_text_matches_golden(name, update_golden):
    got = _doctor(name)
    path = os.path.join(SCENARIOS, name, EXPECTED_DOCTOR)
    if update_golden:
        with open(path, "w") as f:
            f.write(got)
    with open(path) as f:
        assert got == f.read()


@pytest.mark.parametrize("name", NAMES)
def test_doctor_json_agrees_with_the_exposition(name):
    doc = json.loads(_doctor(name, "--doctor.format", "json"))
    assert doc["collectors_failed"] == {}
    found = {(f["check"], f["severity"], f["kind"], f["group"], f["subject"]) for f in doc["findings"]}
    for f in doc["findings"]:
        assert f["text"] and f["evidence"] and f["fix"]
    with open(expected_path(name)) as f:
        prom = [line for line in f if line.startswith("lanes_finding{")]
    assert len(prom) == len(found)
    for check, severity, kind, group, subject in found:
        assert f'lanes_finding{{check="{check}",severity="{severity}",kind="{kind}",group="{group}",subject="{subject}"}} 1\n' in prom


def test_doctor_says_what_one_lane_means():
    text = _doctor("linux-flows-iscsi-bond")
    assert "Initiator 10.0.0.21 reaches this target with 1 iSCSI connection" in text
    assert "4 × 10 Gbit/s: its I/O can never exceed 10 Gbit/s" in text
    assert "nconnect=" in text


def test_doctor_reports_a_failed_collector_and_still_exits_0(tmp_path):
    import shutil

    d = tmp_path / "snap"
    shutil.copytree(os.path.join(SCENARIOS, "linux-flows-iscsi-bond"), d, symlinks=True)
    (d / "commands" / "sock_diag_tcp.out").write_text("10.0.0.1:3260 10.0.0.21:40002 dev=- bytes_acked=12\n")
    r = lanes("--snapshot", str(d), "--doctor")
    assert r.returncode == 0, r.stderr
    assert "collector flows failed: sock_diag tcp:1: expected LOCAL REMOTE" in r.stdout
