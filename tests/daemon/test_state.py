"""Remembered members across restarts and SIGHUP (SPEC §3 --state.dir, §12), and declared
members that do not exist.

The host: one dm-multipath map over two iSCSI paths (sda over eth0, sdb over eth1) in the
kernel's sysfs layout with multipathd's reply (bench/gen.py).  "The kernel forgets a path":
its /sys/block entry, the map's slaves/ link and multipathd's path entry go, as after
``echo 1 > /sys/block/sdb/device/delete`` or a session logout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest
import rules_tools as rt
from conftest import ROOT
from helpers import lanes, parse_exposition, value

from exporter import state

MAP = "mpath0"


@pytest.fixture
def host(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    try:
        import gen
    finally:
        sys.path.remove(os.path.join(ROOT, "bench"))
    return gen.generate(str(tmp_path / "host"), nics=2, bonds=0, maps=1, paths=2)


def forget_path(snapshot: str, dev: str) -> None:
    root = os.path.join(snapshot, "root")
    os.unlink(os.path.join(root, "sys/block", dev))
    os.unlink(os.path.join(root, "sys/block/dm-0/slaves", dev))
    path = os.path.join(snapshot, "commands", "multipathd_show_maps_json.out")
    with open(path) as f:
        doc = json.load(f)
    for m in doc["maps"]:
        for g in m["path_groups"]:
            g["paths"] = [p for p in g["paths"] if p["dev"] != dev]
    with open(path, "w") as f:
        json.dump(doc, f)


def once(snapshot: str, *extra: str):
    r = lanes("--snapshot", snapshot, "--once", "--collector.disable-defaults", "--collector.multipath", "--sampler.interval", "0", *extra)
    assert r.returncode == 0, r.stderr
    return parse_exposition(r.stdout), r.stderr


def model(samples) -> tuple:
    return (
        value(samples, "lanes_group_members", kind="multipath", group=MAP),
        value(samples, "lanes_group_members_up", kind="multipath", group=MAP),
        value(samples, "lanes_member_up", kind="multipath", group=MAP, member="sdb"),
    )


def test_a_restart_while_a_path_is_gone_keeps_the_group_degraded(host, tmp_path):
    sd = tmp_path / "state"
    sd.mkdir()
    assert model(once(host, "--state.dir", str(sd))[0]) == (2, 2, 1)
    saved = json.loads((sd / state.FILE).read_text())
    assert saved["format"] == state.FORMAT and saved["groups"][0]["members"].keys() == {"sda", "sdb"}
    forget_path(host, "sdb")
    # a new process (a restart) with the state: still two members, one of them down
    assert model(once(host, "--state.dir", str(sd))[0]) == (2, 1, 0)
    # without the state the group looks healthy and smaller: what --state.dir prevents
    assert model(once(host, "--state.dir", "")[0]) == (1, 1, None)


def test_corrupt_or_foreign_state_is_logged_and_ignored(host, tmp_path):
    for name, text in (
        ("corrupt", '{"format": "lanes-members", "version": 1, "groups": [{"kind": '),
        ("foreign", json.dumps({"format": "something-else", "groups": []})),
        ("other-host", state.dump({("multipath", MAP): {"sda": None, "sdb": None, "sdc": None}}, "another-host", "linux")),
        ("bad-speed", json.dumps({"format": state.FORMAT, "version": 1, "groups": [{"kind": "multipath", "group": MAP, "members": {"sdz": -1}}]})),
    ):
        sd = tmp_path / name
        sd.mkdir()
        (sd / state.FILE).write_text(text)
        samples, err = once(host, "--state.dir", str(sd), "--log.format", "json")
        assert model(samples) == (2, 2, 1), name
        logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        assert any(e["msg"].startswith("state file ignored") for e in logged), (name, err)
        assert (sd / (state.FILE + ".ignored")).read_text() == text, "the ignored file is kept aside"
        assert json.loads((sd / state.FILE).read_text())["hostname"], "and a good one written"


def test_a_bad_state_dir_is_a_bad_flag(host, tmp_path):
    r = lanes("--snapshot", host, "--once", "--state.dir", str(tmp_path / "missing"))
    assert r.returncode == 2 and "--state.dir" in r.stderr and "not a directory" in r.stderr and "Traceback" not in r.stderr


def test_writes_are_atomic_and_only_on_change(tmp_path):
    store = state.MemberStore(str(tmp_path), hostname="h", platform="linux")
    store.update(store.generation, {("bond", "bond0"): {"eth0": 125000000, "eth1": None}})
    assert sorted(os.listdir(tmp_path)) == [state.FILE], "no temporary file left behind"
    again = state.MemberStore(str(tmp_path), hostname="h", platform="linux")
    assert again.remembered("bond") == {("bond", "bond0"): {"eth0": 125000000, "eth1": None}}
    # a memory from before a forget() (SIGHUP) cannot write its old view back
    old = again.generation
    again.forget()
    again.update(old, {("bond", "bond0"): {"eth0": None}})
    assert state.MemberStore(str(tmp_path), hostname="h", platform="linux").count() == 0
    # the member memory writes only when the set of members changes
    from exporter.model import Group, Member, MemberMemory

    store = state.MemberStore(str(tmp_path), hostname="h", platform="linux")
    mem = MemberMemory(store)
    g = Group("bond", "bond0", "802.3ad", "load", (Member("eth0", True), Member("eth1", True)))
    for _ in range(5):
        mem.apply([g])
    assert store.writes == 1


def _scrape(port: int):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return parse_exposition(r.read().decode())


def test_sighup_forgets_vanished_members_and_the_state_follows(host, tmp_path):
    sd = tmp_path / "state"
    sd.mkdir()
    port = rt.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--snapshot", host, "--collector.disable-defaults", "--collector.multipath", "--sampler.interval", "0",
         "--state.dir", str(sd), "--web.listen-address", f"127.0.0.1:{port}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert model(rt.wait_until("lanes answers", lambda: _scrape(port), 30)) == (2, 2, 1)
        forget_path(host, "sdb")
        assert model(_scrape(port)) == (2, 1, 0)
        proc.send_signal(signal.SIGHUP)  # systemctl reload lanes
        rt.wait_until("the reload forgot sdb", lambda: model(_scrape(port)) == (1, 1, None), 15)
        groups = json.loads((sd / state.FILE).read_text())["groups"]
        assert [g["members"] for g in groups] == [{"sda": groups[0]["members"]["sda"]}]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    # and a restart after the reload keeps it forgotten
    assert model(once(host, "--state.dir", str(sd))[0]) == (1, 1, None)


def test_declared_groups_of_another_host_are_named_not_paged(tmp_path):
    """The example config copied as is onto a host without its NICs: --check-config and
    the log name the missing members, and no group of them is exported (so nothing pages);
    a group with one member present still reports the missing one as down."""
    snap = os.path.join(ROOT, "tests", "scenarios", "linux-declared-mpio")
    cfg = tmp_path / "config.yml"
    cfg.write_text("groups:\n  elsewhere: {members: [nosuch0, nosuch1]}\n  here: {members: [ens1f0, nosuch2]}\n")
    r = lanes("--snapshot", snap, "--config.file", str(cfg), "--check-config")
    assert r.returncode == 0, r.stderr
    for g, m in (("elsewhere", "nosuch0"), ("elsewhere", "nosuch1"), ("here", "nosuch2")):
        assert f"warning: declared group {g}: member {m} does not exist on this host" in r.stdout
    assert "ens1f0 does not exist" not in r.stdout
    r = lanes("--snapshot", snap, "--config.file", str(cfg), "--once", "--collector.disable-defaults", "--collector.groups", "--sampler.interval", "0")
    assert r.returncode == 0, r.stderr
    samples = parse_exposition(r.stdout)
    assert value(samples, "lanes_group_members", kind="declared", group="elsewhere") is None
    assert value(samples, "lanes_group_members", kind="declared", group="here") == 2
    assert value(samples, "lanes_member_up", kind="declared", group="here", member="nosuch2") == 0


def test_serve_logs_missing_declared_members(tmp_path):
    snap = os.path.join(ROOT, "tests", "scenarios", "linux-declared-mpio")
    cfg = tmp_path / "config.yml"
    cfg.write_text("groups:\n  elsewhere: {members: [nosuch0]}\n")
    port = rt.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--snapshot", snap, "--config.file", str(cfg), "--web.listen-address", f"127.0.0.1:{port}", "--log.format", "json"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        rt.wait_until("lanes answers", lambda: _scrape(port), 30)
    finally:
        proc.terminate()
        err = proc.communicate(timeout=10)[1]
    logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(e["msg"].startswith("declared member does not exist") and e.get("group") == "elsewhere" and e.get("member") == "nosuch0" for e in logged), err


def test_serving_a_live_host_defaults_to_var_lib_lanes_or_says_why_not(monkeypatch, tmp_path):
    from exporter import cli

    args = cli.build_parser().parse_args([])
    monkeypatch.setattr(state, "DEFAULT_DIR", str(tmp_path))
    assert cli.state_dir(args, True) == (str(tmp_path), "default")
    monkeypatch.setattr(state, "DEFAULT_DIR", str(tmp_path / "absent"))
    directory, why = cli.state_dir(args, True)
    assert directory is None and "not a directory" in why and "forgotten at restart" in why
    assert cli.state_dir(args, False)[0] is None


@pytest.mark.parametrize("scenario", ["linux-declared-mpio", "linux-bond-ab-healthy", "illumos-net-ipmp-degraded"])
def test_the_example_config_copied_as_is_pages_nobody(scenario):
    snap = os.path.join(ROOT, "tests", "scenarios", scenario)
    r = lanes("--snapshot", snap, "--config.file", os.path.join(ROOT, "deploy", "config.example.yml"), "--once", "--sampler.interval", "0")
    assert r.returncode == 0, r.stderr
    assert 'kind="declared"' not in r.stdout
