"""Live lab: a real 802.3ad bond between two network namespaces, read by lanes over netlink.

Two namespaces (``lanes-bond-a-*``, ``lanes-bond-b-*``), each with a bond (mode 802.3ad,
lacp_rate fast, miimon 100) over two veths; the veth pairs join the two bonds, so each bond
is the other's LACP partner.  lanes runs inside namespace A (live host: the netlink path,
IFLA_BOND_AD_INFO and IFLA_BOND_SLAVE_* attributes) and must show:

(a) after LACP converges, both members in the active aggregator, collecting and
    distributing, the partner MAC equal to bond B's MAC and no derived check firing;
(b) after ``ip link set <peer> down`` in namespace B, the member MII down and
    ``lanes_group_members_up`` 1 of 2 within a bounded wait.

Needs root, iproute2 and a kernel with the bonding driver.  A kernel built without it
(``CONFIG_BONDING`` unset, as in this project's CI VM) is expected: the test then skips with
that reason instead of failing, because the snapshot tier (tests/scenarios/linux-bond-*)
carries the proof there.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import time

import pytest
from conftest import ROOT
from helpers import parse_exposition, require, value

from lab import netns as nx

pytestmark = pytest.mark.lab
PREFIX = "lanes-bond-"


class BondNetns(nx.Netns):
    """A namespace with this test's own name prefix (other labs run at the same time)."""

    def __init__(self, tag: str):
        self.name = f"{PREFIX}{tag}-{os.getpid()}-{secrets.token_hex(2)}"
        nx.run([nx.IP, "netns", "add", self.name])
        self.procs = []
        self.ip("link", "set", "lo", "up")


def kernel_has_bonding(ns: nx.Netns) -> tuple[bool, str]:
    r = ns.ip("link", "add", "probe0", "type", "bond", check=False)
    if r.returncode != 0:
        return False, f"kernel lacks the bonding driver (ip link add type bond: {r.stderr.strip()})"
    ns.ip("link", "del", "probe0", check=False)
    return True, ""


def make_bond(ns: nx.Netns, members: list[str]) -> str:
    ns.ip("link", "add", "bond0", "type", "bond", "mode", "802.3ad", "lacp_rate", "fast", "miimon", "100", "xmit_hash_policy", "layer3+4")
    for m in members:
        ns.ip("link", "set", m, "down")
        ns.ip("link", "set", m, "master", "bond0")
        ns.ip("link", "set", m, "up")
    ns.ip("link", "set", "bond0", "up")
    return ns.link_stats()["bond0"]["address"]


def scrape(ns: nx.Netns) -> dict:
    out = ns.exec([sys.executable, "-m", "exporter", "--collector.disable-defaults", "--collector.bond", "--collector.link", "--once"],
                  cwd=ROOT, timeout=60).stdout  # fmt: skip
    return parse_exposition(out)


def wait_for(ns: nx.Netns, predicate, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    samples = scrape(ns)
    while not predicate(samples) and time.monotonic() < deadline:
        time.sleep(0.5)
        samples = scrape(ns)
    return samples


@pytest.fixture
def namespaces():
    ok, why = nx.can_use_namespaces()
    require(ok, why)
    made: list[nx.Netns] = []
    try:
        a = BondNetns("a")
        made.append(a)
        has, why = kernel_has_bonding(a)
        if not has:
            pytest.skip(why)  # expected on kernels without CONFIG_BONDING: not a missing tier
        b = BondNetns("b")
        made.append(b)
        yield a, b
    finally:
        for ns in made:
            with contextlib.suppress(Exception):
                ns.close()


def test_live_lacp_bond(namespaces):
    a, b = namespaces
    nx.veth_pair(a, "lb0", b, "pb0")
    nx.veth_pair(a, "lb1", b, "pb1")
    make_bond(a, ["lb0", "lb1"])
    mac_b = make_bond(b, ["pb0", "pb1"])

    def converged(s):
        return value(s, "lanes_group_members_up", kind="bond", group="bond0") == 2

    s = wait_for(a, converged)
    assert value(s, "lanes_collector_success", collector="bond") == 1
    assert converged(s), "LACP did not converge within 20 s"
    assert value(s, "lanes_bond_lacp_no_partner", bond="bond0") == 0
    assert value(s, "lanes_bond_lacp_partner_partial", bond="bond0") == 0  # netlink needs no privilege
    partner = [dict(labels)["partner_mac"] for (name, labels) in s if name == "lanes_bond_lacp_partner_info"]
    assert partner == [mac_b]
    for m in ("lb0", "lb1"):
        for bit in ("synchronization", "collecting", "distributing"):
            assert value(s, "lanes_bond_member_lacp_actor_port_state", bond="bond0", member=m, bit=bit) == 1
            assert value(s, "lanes_bond_member_lacp_partner_port_state", bond="bond0", member=m, bit=bit) == 1
        assert value(s, "lanes_bond_member_lacp_outside_active_aggregator", bond="bond0", member=m) == 0
        assert value(s, "lanes_bond_member_lacp_sync_missing", bond="bond0", member=m) == 0
        assert value(s, "lanes_bond_member_lacp_timeout_mismatch", bond="bond0", member=m) == 0

    b.ip("link", "set", "pb1", "down")
    s = wait_for(a, lambda s: value(s, "lanes_group_members_up", kind="bond", group="bond0") == 1, timeout=10)
    assert value(s, "lanes_group_members_up", kind="bond", group="bond0") == 1
    assert value(s, "lanes_group_members", kind="bond", group="bond0") == 2
    assert value(s, "lanes_bond_member_mii_status", bond="bond0", member="lb1", state="down") == 1
