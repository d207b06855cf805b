"""Least privilege, measured (issue 7 item 3).

lanes runs three ways on a live lab made here and on every bundled scenario:

* ``root``              uid 0 with every capability (what a careless install does);
* ``user``              uid/gid 65534 (nobody), no supplementary groups, no capability,
                        no_new_privs: what ``deploy/systemd/lanes.service`` runs as;
* ``user+CAP_NET_ADMIN`` the same user with CAP_NET_ADMIN as an ambient capability
                        (setpriv(1) ``--ambient-caps``; capabilities(7) "Ambient").

The lab: network namespace ``lanes-priv-<pid>-a`` with two veth pairs to
``lanes-priv-<pid>-b`` and a declared group over them (one member missing), plus, where the
kernel has the bonding driver, an 802.3ad bond whose two members reach two different
partner bonds (namespaces ``-b`` and ``-c``), so its members sit in two aggregators: the
case where /proc/net/bonding's root-only lines matter.  Each Linux collector in
``collectors.ALL`` runs alone (``--collector.disable-defaults --collector.NAME``) in each
mode; its series and values (counters, durations and peaks left out: they move) are
compared with root's.  Verdict per collector:

  ``unprivileged``   the user gets what root gets
  ``CAP_NET_ADMIN``  the user gets less, the user with CAP_NET_ADMIN gets what root gets
  ``root``           only root gets everything
  ``absent here``    root sees no series (the subsystem is not on this machine) and the
                     user's run succeeds too
  ``illumos``        not runnable on Linux

The privilege table of docs/deploy.md (section ``deploy``) has one row per collector of
``collectors.ALL`` and a "measured here" column that must equal the verdict.

The unprivileged runs use a copy of lanes and of its runtime dependencies in a
world-readable directory, with a system interpreter, so nothing depends on whether the
checkout or the interpreter happens to live below /root (mode 0700).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import ROOT
from helpers import SCENARIOS, normalize, parse_exposition, require, require_tool, scenario_names

import collectors

pytestmark = pytest.mark.lab

IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "/sbin/ip"
NOBODY = 65534
DEPENDENCIES = ("prometheus-client", "psutil", "pyroute2", "pyyaml", "bcrypt")
MODES = ("root", "user", "user+CAP_NET_ADMIN")
PRIVILEGES_DOC = os.path.join(ROOT, "docs", "deploy.md")  # its privilege table
PARALLEL = max(2, 2 * (os.cpu_count() or 1))
VERDICTS = ("unprivileged", "CAP_NET_ADMIN", "root", "absent here", "illumos", "FreeBSD")
#: the "measured here" cell of collectors of the platforms this Linux machine cannot run
NOT_HERE = {"illumos": "illumos", "freebsd": "FreeBSD"}
CONFIG = """\
groups:
  priv:
    members: [priv0, priv1, priv9]
    balancing: load
"""


# --------------------------------------------------------------------- runtime


def _readable_by_others(path: str) -> bool:
    """Others may read ``path`` (a file) or enter it (a directory), and enter every
    directory above it."""
    path = os.path.realpath(path)
    mode = os.stat(path).st_mode
    if not os.path.isdir(path) and not mode & 0o004:
        return False
    while True:
        if os.path.isdir(path) and not os.stat(path).st_mode & 0o001:
            return False
        if path == "/":
            return True
        path = os.path.dirname(path)


def _interpreter() -> str | None:
    """This interpreter if an unprivileged user can run it (stdlib included), else a
    system python of the same version."""
    mine = os.path.realpath(sys.executable)
    if _readable_by_others(mine) and _readable_by_others(sys.base_prefix) and os.access(mine, os.X_OK):
        return mine
    ver = f"{sys.version_info.major}.{sys.version_info.minor}"
    for cand in (f"/usr/bin/python{ver}", f"/usr/local/bin/python{ver}"):
        if os.access(cand, os.X_OK):
            return cand
    return None


def _copy_dist(name: str, dest: str) -> None:
    dist = importlib.metadata.distribution(name)
    for f in dist.files or ():
        src = str(f.locate())
        if not os.path.isfile(src) or "__pycache__" in str(f) or str(f).startswith(".."):
            continue
        out = os.path.join(dest, str(f))
        os.makedirs(os.path.dirname(out), exist_ok=True)
        shutil.copyfile(src, out)


class Runtime:
    """lanes and its dependencies below one world-readable directory."""

    def __init__(self, base: str):
        self.base = base
        self.python = _interpreter()
        require(self.python is not None, "no interpreter an unprivileged user can run")
        self.code = os.path.join(base, "code")
        self.deps = os.path.join(base, "deps")
        for sub in ("exporter", "collectors"):
            shutil.copytree(os.path.join(ROOT, sub), os.path.join(self.code, sub), ignore=shutil.ignore_patterns("__pycache__"))
        for dep in DEPENDENCIES:
            _copy_dist(dep, self.deps)
        self.scenarios = os.path.join(base, "scenarios")
        shutil.copytree(SCENARIOS, self.scenarios, symlinks=True)
        self.config = os.path.join(base, "config.yml")
        with open(self.config, "w") as f:
            f.write(CONFIG)
        for dirpath, _dirs, filenames in os.walk(base):
            os.chmod(dirpath, 0o755)
            for fn in filenames:
                p = os.path.join(dirpath, fn)
                if not os.path.islink(p):
                    os.chmod(p, 0o644)
        os.chmod(base, 0o755)

    def argv(self, mode: str, args: list[str], netns: str | None = None) -> list[str]:
        setpriv = require_tool("setpriv")
        env = [
            "env",
            "-i",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME=/nonexistent",
            "LC_ALL=C",
            "PYTHONDONTWRITEBYTECODE=1",
            f"PYTHONPATH={self.code}:{self.deps}",
        ]
        cmd = [*env, self.python, "-s", "-m", "exporter", *args]
        ident = [f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--no-new-privs"]
        if mode == "user":
            cmd = [setpriv, *ident, "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", *cmd]
        elif mode == "user+CAP_NET_ADMIN":
            cmd = [setpriv, *ident, "--inh-caps=-all,+net_admin", "--ambient-caps=+net_admin", "--bounding-set=-all,+net_admin", *cmd]
        else:
            assert mode == "root"
        if netns:
            cmd = [IP, "netns", "exec", netns, *cmd]
        return cmd

    def run(self, mode: str, args: list[str], netns: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(mode, args, netns), capture_output=True, text=True, timeout=60, cwd="/", stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def runtime():
    require(os.geteuid() == 0, "needs root (to switch to an unprivileged user and build namespaces)")
    require_tool("setpriv")
    # not below pytest's basetemp: /tmp/pytest-of-root is mode 0700
    base = tempfile.mkdtemp(prefix="lanes-priv-")
    try:
        rt = Runtime(base)
        require(_readable_by_others(os.path.join(rt.code, "exporter", "cli.py")), f"{base} is not reachable by other users")
        yield rt
    finally:
        shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------- lab


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([IP, *args], capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


class Lab:
    def __init__(self):
        tag = f"lanes-priv-{os.getpid()}"
        self.a, self.b, self.c = f"{tag}-a", f"{tag}-b", f"{tag}-c"
        self.made: list[str] = []
        self.bond = False

    def build(self) -> None:
        for ns in (self.a, self.b, self.c):
            _ip("netns", "add", ns)
            self.made.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        for i in (0, 1):
            _ip("-n", self.a, "link", "add", f"priv{i}", "type", "veth", "peer", "name", f"peer{i}", "netns", self.b)
            _ip("-n", self.a, "link", "set", f"priv{i}", "up")
            _ip("-n", self.b, "link", "set", f"peer{i}", "up")
        # 802.3ad bond, members towards two different partner systems (b and c)
        if _ip("-n", self.a, "link", "add", "bond0", "type", "bond", "mode", "802.3ad", "lacp_rate", "fast", "miimon", "100", check=False).returncode != 0:
            return  # no bonding driver in this kernel
        self.bond = True
        for i, peer_ns in ((2, self.b), (3, self.c)):
            _ip("-n", self.a, "link", "add", f"priv{i}", "type", "veth", "peer", "name", f"peer{i}", "netns", peer_ns)
            _ip("-n", self.a, "link", "set", f"priv{i}", "master", "bond0")
            _ip("-n", peer_ns, "link", "add", f"pbond{i}", "type", "bond", "mode", "802.3ad", "lacp_rate", "fast", "miimon", "100")
            _ip("-n", peer_ns, "link", "set", f"peer{i}", "master", f"pbond{i}")
            _ip("-n", peer_ns, "link", "set", f"pbond{i}", "up")
        _ip("-n", self.a, "link", "set", "bond0", "up")
        # LACP (fast rate: 1 s LACPDUs) settles within a few seconds; bounded wait for both
        # members to have a partner (ad_partner_oper_port_state with SYNC, bit 3)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            info = json.loads(_ip("-d", "-j", "-n", self.a, "link", "show", "master", "bond0").stdout or "[]")
            states = [e.get("linkinfo", {}).get("info_slave_data", {}).get("ad_partner_oper_port_state", 0) for e in info]
            if len(states) == 2 and all(int(s) & 0x08 for s in states):
                return
            time.sleep(0.5)

    def close(self) -> None:
        for ns in self.made:
            for pid in _ip("netns", "pids", ns, check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), 9)
            _ip("netns", "del", ns, check=False)


@pytest.fixture(scope="module")
def lab(runtime):
    probe = f"lanes-priv-{os.getpid()}-probe"
    ok = _ip("netns", "add", probe, check=False).returncode == 0
    _ip("netns", "del", probe, check=False)
    require(ok, "cannot create network namespaces here")
    lab = Lab()
    try:
        lab.build()
        yield lab
    finally:
        lab.close()


# --------------------------------------------------------------------- measuring

_MOVING = re.compile(r"(_total|_peak_bytes_per_second|_duration_seconds|_timestamp_seconds)$")
_SELF = ("lanes_collector_", "lanes_exporter_")


def _observe(r: subprocess.CompletedProcess, name: str) -> tuple[float | None, dict]:
    assert r.returncode == 0, f"collector {name}: rc={r.returncode}: {r.stderr.strip()[-1000:]}"
    samples = parse_exposition(r.stdout)
    success = samples.get(("lanes_collector_success", (("collector", name),)))
    series = {k: (None if _MOVING.search(k[0]) else v) for k, v in samples.items() if not k[0].startswith(_SELF)}
    return success, series


def verdict(results: dict[str, tuple[float | None, dict]]) -> str:
    root_ok, root_series = results["root"]
    user_ok, user_series = results["user"]
    assert root_ok == 1, "fails even as root"
    if not root_series:
        return "absent here" if user_ok == 1 else "root"
    if user_ok == 1 and user_series == root_series:
        return "unprivileged"
    if results.get("user+CAP_NET_ADMIN") == results["root"]:
        return "CAP_NET_ADMIN"
    return "root"


def _diff(a: dict, b: dict) -> str:
    lines = [f"- {k} {a[k]}" for k in sorted(set(a) - set(b), key=str)[:10]]
    lines += [f"+ {k} {b[k]}" for k in sorted(set(b) - set(a), key=str)[:10]]
    lines += [f"~ {k} {a[k]} -> {b[k]}" for k in sorted(set(a) & set(b), key=str) if a[k] != b[k]][:10]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def measured(runtime, lab):
    out: dict[str, str] = {}
    detail: dict[str, str] = {}
    for cls in collectors.ALL:
        for p in sorted(cls.platforms - {"linux"}):
            out[f"{cls.name}/{p}"] = NOT_HERE[p]
    linux = sorted({c.name for c in collectors.ALL if "linux" in c.platforms})

    def one(job):
        name, mode = job
        args = ["--once", "--platform", "linux", "--collector.disable-defaults", f"--collector.{name}", "--config.file", runtime.config]
        return name, mode, _observe(runtime.run(mode, args, lab.a), name)

    by_name: dict[str, dict] = {}
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        for name, mode, obs in pool.map(one, [(n, m) for n in linux for m in ("root", "user")]):
            by_name.setdefault(name, {})[mode] = obs
        # the capability run only matters where the user got less than root
        need = [(n, "user+CAP_NET_ADMIN") for n, r in by_name.items() if r["root"] != r["user"]]
        for name, mode, obs in pool.map(one, need):
            by_name[name][mode] = obs
    counts: dict[str, str] = {}
    for name, results in by_name.items():
        key = f"{name}/linux"
        out[key] = verdict(results)
        detail[key] = _diff(results["root"][1], results["user"][1])
        counts[key] = ", ".join(f"{m}: success {int(results[m][0] or 0)}, {len(results[m][1])} series" for m in MODES if m in results)
    for k, v in sorted(out.items()):
        print(f"privileges: {k:20} {v:14} {counts.get(k, '')}" + (f"\n{detail[k]}" if detail.get(k) else ""))
    return out


# --------------------------------------------------------------------- privilege table (docs/deploy.md)


def readme_table() -> dict[str, str]:
    """``collector/platform`` -> "measured here" cell of the docs/deploy.md privilege table."""
    text = open(PRIVILEGES_DOC, encoding="utf-8").read()
    m = re.search(r"<!-- BEGIN section:deploy -->(.*?)<!-- END section:deploy -->", text, re.S)
    assert m, "docs/deploy.md has no deploy section"
    rows: dict[str, str] = {}
    header: list[str] | None = None
    for line in m.group(1).splitlines():
        if not line.startswith("|"):
            header = None if not line.strip() else header
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = [c.lower() for c in cells]
            continue
        if set(cells[0]) <= set("-: "):
            continue
        if "measured here" not in header or "collector" not in header:
            continue
        row = dict(zip(header, cells))
        key = f"{row['collector'].strip('`')}/{row['platform'].strip('`')}"
        assert key not in rows, f"docs/deploy.md privilege table: {key} listed twice"
        rows[key] = row["measured here"].strip("`* ")
    assert rows, "docs/deploy.md deploy section has no privilege table (columns: collector, platform, ..., measured here)"
    return rows


def registry_rows() -> set[str]:
    return {f"{c.name}/{p}" for c in collectors.ALL for p in c.platforms}


def test_verdict_rules():
    """The classification itself, on made-up observations."""
    a = {("lanes_x", (("k", "1"),)): 1.0}
    b = {("lanes_x", (("k", "1"),)): 0.0}
    assert verdict({"root": (1, a), "user": (1, a)}) == "unprivileged"
    assert verdict({"root": (1, a), "user": (1, b), "user+CAP_NET_ADMIN": (1, a)}) == "CAP_NET_ADMIN"
    assert verdict({"root": (1, a), "user": (0, {}), "user+CAP_NET_ADMIN": (0, {})}) == "root"
    assert verdict({"root": (1, {}), "user": (1, {})}) == "absent here"
    assert verdict({"root": (1, {}), "user": (0, {})}) == "root"


def test_readme_table_has_one_row_per_collector():
    rows = readme_table()
    want = registry_rows()
    assert set(rows) == want, f"missing rows: {sorted(want - set(rows))}; rows for no collector: {sorted(set(rows) - want)}"
    for key, cell in rows.items():
        assert cell in VERDICTS, f"{key}: 'measured here' is {cell!r}, not one of {VERDICTS}"
        platform = key.rpartition("/")[2]
        if platform in NOT_HERE:
            assert cell == NOT_HERE[platform], f"{key}: cannot be measured on Linux"


def test_readme_table_matches_the_measurement(measured):
    rows = readme_table()
    for key, got in sorted(measured.items()):
        if key.rpartition("/")[2] in NOT_HERE:
            continue
        assert rows.get(key) == got, f"docs/deploy.md privilege table says {key}: {rows.get(key)!r}, measured here: {got!r}"


def test_link_and_groups_work_unprivileged_on_the_live_lab(runtime, lab):
    """The core of the measurement, spelt out: the user sees the lab's links and the
    declared group with its missing member, not an empty scrape."""
    r = runtime.run("user", ["--once", "--config.file", runtime.config], lab.a)
    assert r.returncode == 0, r.stderr
    s = parse_exposition(r.stdout)
    assert s[("lanes_link_up", (("link", "priv0"),))] == 1
    assert s[("lanes_group_members", (("group", "priv"), ("kind", "declared")))] == 3
    assert s[("lanes_group_members_up", (("group", "priv"), ("kind", "declared")))] == 2
    failed = [k[1][0][1] for k, v in s.items() if k[0] == "lanes_collector_success" and v != 1]
    assert not failed, f"collectors failing unprivileged: {failed}"


# Replays every scenario in one process per mode (an interpreter start per replay costs
# more than the replay): exporter.cli.main with stdout captured, results as JSON.
_REPLAY_ALL = """
import io, json, sys
from exporter.cli import main
out = {}
for name, args in json.loads(sys.argv[1]):
    buf = io.BytesIO()
    wrapper = io.TextIOWrapper(buf, encoding="utf-8")
    real, sys.stdout = sys.stdout, wrapper
    try:
        rc = main(args)
        wrapper.flush()
    finally:
        sys.stdout = real
    out[name] = [rc, buf.getvalue().decode()]
    wrapper.detach()
print(json.dumps(out))
"""


def test_scenarios_replay_the_same_unprivileged(runtime):
    """Replaying a support bundle needs no privilege: every bundled scenario gives the
    same exposition to the user as to root."""
    names = scenario_names()
    assert names, "no bundled scenario"
    jobs = []
    for name in names:
        d = os.path.join(runtime.scenarios, name)
        args = ["--snapshot", d, "--once"]
        if os.path.exists(os.path.join(d, "config.yml")):
            args += ["--config.file", os.path.join(d, "config.yml")]
        jobs.append((name, args))
    got = {}
    for mode in ("root", "user"):
        argv = runtime.argv(mode, [])
        i = argv.index("-m")  # python -s -m exporter -> python -s -c DRIVER JOBS
        r = subprocess.run([*argv[:i], "-c", _REPLAY_ALL, json.dumps(jobs)], capture_output=True, text=True, timeout=120, cwd="/")
        assert r.returncode == 0, f"as {mode}: {r.stderr.strip()[-1000:]}"
        got[mode] = json.loads(r.stdout)
    assert set(got["user"]) == set(names)
    failed = [n for n, (rc, _) in got["user"].items() if rc != 0]
    assert not failed, f"replays failing unprivileged: {failed}"
    differ = [n for n in names if normalize(got["user"][n][1]) != normalize(got["root"][n][1])]
    assert not differ, f"scenarios whose replay differs unprivileged: {differ}"
    assert all("lanes_collector_success" in got["user"][n][1] for n in names)
