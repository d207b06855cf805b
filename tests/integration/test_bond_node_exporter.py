"""Cross-check with node_exporter's bonding collector on the same scenario trees.

node_exporter (collector/bonding_linux.go) reads ``/sys/class/net/bonding_masters``, each
bond's ``bonding/slaves`` and every member's ``bonding_slave/mii_status`` through
``lower_<member>`` or the old ``slave_<member>`` link, and exports
``node_bonding_slaves{master}`` (members) and ``node_bonding_active{master}`` (members whose
mii_status is exactly ``up``).  lanes must agree:

* ``node_bonding_slaves``  == ``lanes_group_members{kind="bond"}``
* ``node_bonding_active``  == members with ``lanes_bond_member_mii_status{state="up"} 1``

Where lanes deliberately differs: ``lanes_group_members_up`` of an 802.3ad bond counts only
members the bond can send on (in the active aggregator and enabled by LACP), so it is lower
than ``node_bonding_active`` when members sit outside the active aggregator
(linux-bond-lacp-split: 2 against 4) or are not collecting/distributing
(linux-bond-lacp-mismatch: 2 against 3).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request

import pytest
from helpers import SCENARIOS, lanes, parse_exposition, require_tool, scenario_args

BOND_SCENARIOS = sorted(n for n in os.listdir(SCENARIOS) if n.startswith("linux-bond-"))
NODE_EXPORTER = "prometheus-node-exporter"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_exporter_bonding(binary: str, root: str) -> dict[str, tuple[float, float]]:
    """{bond: (slaves, active)} from one node_exporter scrape of the tree below root."""
    port = _free_port()
    proc = subprocess.Popen(
        [binary, f"--path.sysfs={root}/sys", f"--path.procfs={root}/proc", "--collector.disable-defaults",
         "--collector.bonding", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        body = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    body = r.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert body is not None, f"node_exporter did not answer: {proc.stderr.read().decode() if proc.poll() is not None else 'timeout'}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    samples = parse_exposition(body)
    assert samples.get(("node_scrape_collector_success", (("collector", "bonding"),))) == 1, body
    out: dict[str, list[float]] = {}
    for (name, labels), v in samples.items():
        if name in ("node_bonding_slaves", "node_bonding_active"):
            master = dict(labels)["master"]
            out.setdefault(master, [0.0, 0.0])[0 if name == "node_bonding_slaves" else 1] = v
    return {k: (v[0], v[1]) for k, v in out.items()}


def lanes_bonding(name: str) -> tuple[dict[str, tuple[float, float]], dict[str, float]]:
    r = lanes(*scenario_args(name))
    assert r.returncode == 0, r.stderr
    samples = parse_exposition(r.stdout)
    members: dict[str, float] = {}
    mii_up: dict[str, float] = {}
    members_up: dict[str, float] = {}
    for (metric, labels), v in samples.items():
        lab = dict(labels)
        if metric == "lanes_group_members" and lab["kind"] == "bond":
            members[lab["group"]] = v
        elif metric == "lanes_group_members_up" and lab["kind"] == "bond":
            members_up[lab["group"]] = v
        elif metric == "lanes_bond_member_mii_status" and lab["state"] == "up":
            mii_up[lab["bond"]] = mii_up.get(lab["bond"], 0.0) + v
    return {b: (members[b], mii_up.get(b, 0.0)) for b in members}, members_up


@pytest.mark.tools
@pytest.mark.parametrize("name", BOND_SCENARIOS)
def test_node_exporter_agrees_on_member_counts(name):
    binary = require_tool(NODE_EXPORTER)
    theirs = node_exporter_bonding(binary, os.path.join(SCENARIOS, name, "root"))
    ours, _ = lanes_bonding(name)
    assert theirs, "node_exporter found no bond"
    assert ours == theirs


@pytest.mark.tools
@pytest.mark.parametrize(("name", "bond", "active", "usable"), [("linux-bond-lacp-split", "bond0", 4, 2), ("linux-bond-lacp-mismatch", "bond0", 3, 2)])
def test_lanes_members_up_differs_for_8023ad_on_purpose(name, bond, active, usable):
    binary = require_tool(NODE_EXPORTER)
    theirs = node_exporter_bonding(binary, os.path.join(SCENARIOS, name, "root"))
    _, members_up = lanes_bonding(name)
    assert theirs[bond][1] == active
    assert members_up[bond] == usable
