"""Every scenario folder replays into its expected exposition.

A scenario is ``tests/scenarios/<name>/``: ``snapshot.yml`` (where it came from), ``root/``
(the files lanes reads), ``commands/`` (the outputs of the commands it runs), ``config.yml``
when the scenario has one, ``expected.prom`` (what ``--once`` prints, normalised by
helpers.normalize) and, where the doctor has something to say, ``expected-doctor.txt``.  ``pytest tests/test_scenarios.py --update-golden`` rewrites the
expected outputs; review the diff against the scenario's source formats before committing.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from helpers import (
    EXPECTED,
    EXPECTED_DOCTOR,
    SCENARIOS,
    expected_path,
    lanes,
    normalize,
    read_expected,
    require_tool,
    scenario_args,
    scenario_names,
)

NAMES = scenario_names()


@pytest.mark.parametrize("name", NAMES)
def test_scenario_matches_expected(name, update_golden):
    r = lanes(*scenario_args(name))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    got = normalize(r.stdout)
    path = expected_path(name)
    if update_golden:
        with open(path, "w", encoding="utf-8") as f:
            f.write(got)
    assert os.path.exists(path), f"no {EXPECTED} for {name}: run pytest tests/test_scenarios.py --update-golden -k {name}"
    assert got == read_expected(name)


@pytest.mark.parametrize("name", NAMES)
def test_scenario_collectors_all_succeed(name):
    """A scenario is a healthy recording: every collector understood its sources."""
    text = read_expected(name)
    failed = [line for line in text.splitlines() if line.startswith("lanes_collector_success{") and line.endswith(" 0")]
    assert not failed, failed


def test_every_scenario_folder_is_complete():
    """No stray folder: each one under tests/scenarios has a snapshot.yml and an expected.prom,
    and nothing but the parts a scenario may have."""
    allowed = {"snapshot.yml", "config.yml", "root", "commands", EXPECTED, EXPECTED_DOCTOR}
    bad = {}
    for name in sorted(os.listdir(SCENARIOS)):
        d = os.path.join(SCENARIOS, name)
        if not os.path.isdir(d) or name.startswith(("_", ".")):
            continue
        have = set(os.listdir(d))
        if not {"snapshot.yml", EXPECTED} <= have or have - allowed:
            bad[name] = sorted(have)
    assert not bad, bad
    assert len(NAMES) >= 25


@pytest.mark.tools
@pytest.mark.parametrize("name", NAMES)
def test_expected_passes_promtool(name):
    promtool = require_tool("promtool")
    with open(expected_path(name), "rb") as f:
        body = f.read()
    r = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()


@pytest.mark.parametrize("name", NAMES)
def test_snapshot_metadata_says_where_it_came_from(name):
    import yaml

    with open(os.path.join(SCENARIOS, name, "snapshot.yml")) as f:
        meta = yaml.safe_load(f)
    assert meta.get("platform") in ("linux", "illumos", "freebsd")
    assert meta.get("notes"), "snapshot.yml must say how the snapshot was made"
    if meta.get("captured") == "hand-made":
        assert "hand-made" in meta["notes"] or "from" in meta["notes"]


# ------------------------------------------------------------------ builders


def _tree(directory: str) -> dict[str, tuple[str, bytes | str]]:
    """relative path -> ("file", bytes) | ("link", target) for everything a builder writes
    (git keeps no empty directories, so neither does this)."""
    out: dict[str, tuple[str, bytes | str]] = {}
    for dirpath, dirnames, filenames in os.walk(directory):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, directory)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            elif os.path.isfile(p) and rel not in (EXPECTED, EXPECTED_DOCTOR):
                with open(p, "rb") as f:
                    out[rel] = ("file", f.read())
    return out


def test_every_hand_made_scenario_has_a_builder():
    import builders
    import yaml

    table = builders.builders()
    for name in NAMES:
        with open(os.path.join(SCENARIOS, name, "snapshot.yml")) as f:
            meta = yaml.safe_load(f)
        if meta.get("captured") == "hand-made":
            assert name in table, f"{name} is hand-made but no module of tests/builders builds it"
    assert not set(table) - set(NAMES), "a builder writes a scenario that is not committed"


def test_rebuilding_the_scenarios_gives_what_is_committed(tmp_path):
    """The builders are the source of the hand-made scenarios: ``python -m tests.builders``
    must reproduce the committed folders byte for byte (files and symlink targets)."""
    import builders

    built = builders.build(str(tmp_path))
    assert len(built) >= 25
    for name in built:
        want, got = _tree(os.path.join(SCENARIOS, name)), _tree(str(tmp_path / name))
        changed = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
        assert not changed, f"{name}: rebuild differs from the committed folder in {changed[:10]} (run python -m tests.builders {name})"
