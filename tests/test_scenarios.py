"""Every scenario under tests/scenarios replays into its golden exposition.

``pytest tests/test_scenarios.py --update-golden`` rewrites the goldens; review the diff
against the scenario's source formats before committing.
"""

import os
import subprocess

import pytest
from helpers import GOLDEN, lanes, normalize, require_tool, scenario_args, scenario_names

NAMES = scenario_names()


@pytest.mark.parametrize("name", NAMES)
def test_scenario_matches_golden(name, update_golden):
    r = lanes(*scenario_args(name))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    got = normalize(r.stdout)
    path = os.path.join(GOLDEN, f"{name}.prom")
    if update_golden:
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w") as f:
            f.write(got)
    assert os.path.exists(path), f"no golden for {name}: run pytest --update-golden"
    with open(path) as f:
        want = f.read()
    assert got == want


@pytest.mark.parametrize("name", NAMES)
def test_scenario_collectors_all_succeed(name):
    """A scenario is a healthy recording: every collector understood its sources."""
    with open(os.path.join(GOLDEN, f"{name}.prom")) as f:
        text = f.read()
    failed = [line for line in text.splitlines() if line.startswith("lanes_collector_success{") and line.endswith(" 0")]
    assert not failed, failed


def test_every_golden_has_a_scenario():
    stale = sorted(f[:-5] for f in os.listdir(GOLDEN) if f.endswith(".prom") and f[:-5] not in NAMES)
    assert not stale


@pytest.mark.tools
@pytest.mark.parametrize("name", NAMES)
def test_golden_passes_promtool(name):
    promtool = require_tool("promtool")
    with open(os.path.join(GOLDEN, f"{name}.prom"), "rb") as f:
        body = f.read()
    r = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()


@pytest.mark.parametrize("name", NAMES)
def test_snapshot_metadata_says_where_it_came_from(name):
    import yaml

    with open(os.path.join(os.path.dirname(GOLDEN), "scenarios", name, "snapshot.yml")) as f:
        meta = yaml.safe_load(f)
    assert meta.get("platform") in ("linux", "illumos", "freebsd")
    assert meta.get("notes"), "snapshot.yml must say how the snapshot was made"
    if meta.get("captured") == "hand-made":
        assert "hand-made" in meta["notes"] or "from" in meta["notes"]
