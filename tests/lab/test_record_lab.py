"""Live lab: ``--record`` of a namespace with several link kinds, then ``--snapshot --once``
on the bundle, gives exactly the series set (names and labels) of the live scrape.

One namespace made here (``lanes-lab-rec-*``) holds veth pairs and, when the kernel has
them, a bond (802.3ad over two veths), a VLAN, a bridge (over a veth), a dummy and an ifb.  lanes learns
each link's kind live from netlink (IFLA_INFO_KIND); sysfs has no source for most of them
(a veth's uevent carries no DEVTYPE), so the bundle must carry the link dump
(``netlink/links.json``) for the replay to say the same.
"""

from __future__ import annotations

import contextlib
import os
import sys

import pytest
from conftest import ROOT
from helpers import parse_exposition, require

from lab import netns as nx

pytestmark = pytest.mark.lab

ARGS = ["--collector.disable-defaults", "--collector.link", "--collector.bond", "--collector.groups"]
#: differ between any two runs, or name the source (live netlink vs snapshot)
VOLATILE = {"lanes_collector_duration_seconds", "lanes_collector_last_success_timestamp_seconds", "lanes_exporter_build_info"}


def _try(ns: nx.Netns, *args: str) -> bool:
    return ns.ip(*args, check=False).returncode == 0


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    ok, why = nx.can_use_namespaces()
    require(ok, why)
    ns = nx.Netns("rec")
    try:
        kinds = {"veth"}
        links = []
        for i in range(3):  # veth pairs: members for the bond and the bridge when they exist
            ns.ip("link", "add", f"rv{i}", "type", "veth", "peer", "name", f"rp{i}")
            links += [f"rv{i}", f"rp{i}"]
        if _try(ns, "link", "add", "rbond0", "type", "bond", "mode", "802.3ad", "miimon", "100"):
            for m in ("rv1", "rv2"):
                ns.ip("link", "set", m, "master", "rbond0")
            kinds.add("bond")
            links.append("rbond0")
        if _try(ns, "link", "add", "link", "rp0", "name", "rp0.42", "type", "vlan", "id", "42"):
            kinds.add("vlan")
            links.append("rp0.42")
        if _try(ns, "link", "add", "rbr0", "type", "bridge"):
            kinds.add("bridge")
            ns.ip("link", "set", "rp1", "master", "rbr0")
            links.append("rbr0")
        for name, kind in (("rdum0", "dummy"), ("rifb0", "ifb")):
            if _try(ns, "link", "add", name, "type", kind):
                kinds.add(kind)
                links.append(name)
        for link in links:
            ns.ip("link", "set", link, "up", check=False)
        require(len(kinds) >= 3, f"the kernel offers too few link kinds for this test: {sorted(kinds)}")
        yield ns, kinds, str(tmp_path_factory.mktemp("rec"))
    finally:
        with contextlib.suppress(Exception):
            ns.close()


def lanes_in(ns: nx.Netns, *args: str) -> str:
    return ns.exec([sys.executable, "-m", "exporter", *ARGS, *args], cwd=ROOT, timeout=60).stdout


def series(text: str) -> set[tuple[str, tuple]]:
    return {(name, labels) for name, labels in parse_exposition(text) if name not in VOLATILE}


def kinds_of(text: str) -> dict[str, str]:
    return {dict(lbl)["link"]: dict(lbl)["kind"] for name, lbl in parse_exposition(text) if name == "lanes_link_info"}


@pytest.mark.parametrize("scrub", [False, True], ids=["plain", "scrubbed"])
def test_recording_replays_the_live_series_set(lab, scrub):
    ns, kinds, tmp = lab
    bundle = os.path.join(tmp, f"bundle-{'scrub' if scrub else 'plain'}")
    live = lanes_in(ns, "--once")
    ns.exec([sys.executable, "-m", "exporter", *ARGS, "--record", bundle, *(["--record.scrub"] if scrub else [])], cwd=ROOT, timeout=60)
    assert os.path.exists(os.path.join(bundle, "netlink", "links.json"))
    replay = lanes_in(ns, "--snapshot", bundle, "--once")

    live_kinds, replay_kinds = kinds_of(live), kinds_of(replay)
    assert kinds <= set(live_kinds.values()), live_kinds  # the lab is what it claims
    if not scrub:
        assert replay_kinds == live_kinds
        assert series(replay) == series(live)
    else:
        # the same links and kinds, MAC labels replaced: compare without the mac label
        def strip(s):
            return {(n, tuple(kv for kv in lbl if kv[0] != "mac")) for n, lbl in s}

        assert sorted(replay_kinds.values()) == sorted(live_kinds.values())
        assert strip(series(replay)) == strip(series(live))
        with open(os.path.join(bundle, "netlink", "links.json")) as f:
            raw = f.read()
        for mac in {dict(lbl)["mac"] for n, lbl in parse_exposition(live) if n == "lanes_link_info"} - {"", "00:00:00:00:00:00"}:
            assert mac not in raw
