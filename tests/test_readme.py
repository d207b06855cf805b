"""The README tells the truth: its metrics tables match the goldens, and it opens with the
two commands (run lanes; run the tests) that .ci/run relies on."""

import os
import re

from helpers import GOLDEN, ROOT


def readme() -> str:
    with open(os.path.join(ROOT, "README.md")) as f:
        return f.read()


def golden_families() -> set[str]:
    names = set()
    for f in os.listdir(GOLDEN):
        if f.endswith(".prom"):
            with open(os.path.join(GOLDEN, f)) as fh:
                names |= {line.split()[2] for line in fh if line.startswith("# TYPE ")}
    return names


def documented() -> set[str]:
    """Metric names in README table rows (first cell)."""
    names = set()
    for line in readme().splitlines():
        if line.startswith("| `lanes_"):
            names |= set(re.findall(r"`(lanes_[a-z0-9_]+)`", line.split("|")[1]))
    return names


def test_every_exported_metric_is_documented():
    missing = sorted(golden_families() - documented())
    assert not missing, f"metrics in goldens but not in a README metrics table: {missing}"


def test_every_documented_metric_exists():
    stale = sorted(documented() - golden_families())
    assert not stale, f"README documents metrics no scenario produces: {stale}"


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second():
    text = readme()
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2
    assert "lanes_exporter" in commands[0]
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        ci = f.read()
    assert commands[1] in ci and "LANES_TEST_REQUIRE=1" in ci
