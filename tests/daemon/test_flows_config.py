"""collectors.flows options are checked when the config is loaded (exit 2 naming file,
line and problem), so what passes --check-config never fails at run time."""

from __future__ import annotations

import pytest
from helpers import lanes


@pytest.mark.parametrize(
    "ports, why",
    [("[3205, 70000]", "70000 is not a TCP port"), ("[0]", "0 is not a TCP port"), ("[iscsi]", "'iscsi' is not a TCP port"), ("3260", "expected a list of TCP ports")],
)
def test_bad_ports_exit_2_with_file_and_line(tmp_path, ports, why):
    cfg = tmp_path / "lanes.yml"
    cfg.write_text(f"collectors:\n  flows:\n    ports: {ports}\n")
    r = lanes("--config.file", str(cfg), "--check-config")
    assert r.returncode == 2
    assert f"{cfg}:3: collectors.flows.ports: {why}" in r.stderr


def test_good_options_pass(tmp_path):
    cfg = tmp_path / "lanes.yml"
    cfg.write_text("collectors:\n  flows:\n    ports: [3205, 860]\n    max_flows: 64\n    route_cache: 30s\n")
    r = lanes("--config.file", str(cfg), "--check-config")
    assert r.returncode == 0, r.stderr
    assert "flows" in r.stdout
