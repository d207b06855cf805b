"""systemd unit (issue 7 item 2): ``deploy/systemd/lanes.service`` with
``/etc/default/lanes`` (``ARGS=``), a dedicated user and hardening that does not break
the collectors.

What runs here: ``systemd-analyze verify`` (directives known, ExecStart/ExecReload
executable: ExecStart is pointed at a wrapper around this checkout's lanes, the only
change made to the unit), ``systemd-analyze security --offline=true`` (exposure score),
the ``ARGS`` of ``lanes.default`` through ``--check-config`` exactly as systemd splits
them, and lanes under an emulation of the unit's user, capability and filesystem
settings (unshare(1) + setpriv(1)).  What does not run here: the unit under a real
systemd (no systemd as PID 1 on CI machines), so seccomp (SystemCallFilter) and
RestrictAddressFamilies are checked statically against the socket families the code
uses.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import pytest
from conftest import ROOT
from helpers import lanes, parse_exposition, require, require_tool

UNIT_DIR = os.path.join(ROOT, "deploy", "systemd")
UNIT = os.path.join(UNIT_DIR, "lanes.service")
DEFAULT = os.path.join(UNIT_DIR, "lanes.default")
SYSUSERS = os.path.join(UNIT_DIR, "lanes.sysusers.conf")
INSTALLED_BIN = "/opt/lanes/bin/lanes_exporter"
# socket families the unit allows (RestrictAddressFamilies=)
ALLOWED_FAMILIES = {"AF_NETLINK", "AF_UNIX", "AF_INET", "AF_INET6"}


def unit_directives(path: str = UNIT) -> dict[str, list[str]]:
    """``Key=value`` lines by key (a key may repeat: SystemCallFilter)."""
    out: dict[str, list[str]] = {}
    section = ""
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, val = line.partition("=")
            out.setdefault(f"{section}.{key.strip()}", []).append(val.strip())
    return out


def default_args() -> list[str]:
    """``ARGS`` from lanes.default, split the way systemd expands an unbraced ``$ARGS``
    in ExecStart: at whitespace, after EnvironmentFile's shell-like unquoting
    (systemd.exec(5) "Environment variable substitution"; systemd.service(5) "Command lines")."""
    with open(DEFAULT, encoding="utf-8") as f:
        for line in f:
            if line.startswith("ARGS="):
                return shlex.split(line[5:].strip())[0].split() if line[5:].strip() else []
    raise AssertionError("lanes.default has no ARGS= line")


def _wrapper(tmp_path) -> str:
    """An executable at a path the test owns that runs this checkout's lanes."""
    w = tmp_path / "bin" / "lanes_exporter"
    w.parent.mkdir(parents=True, exist_ok=True)
    w.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m exporter "$@"\n')
    w.chmod(0o755)
    return str(w)


def _unit_for_verify(tmp_path, text: str | None = None) -> str:
    text = text if text is not None else open(UNIT, encoding="utf-8").read()
    assert INSTALLED_BIN in text
    unit = tmp_path / "lanes.service"
    unit.write_text(text.replace(INSTALLED_BIN, _wrapper(tmp_path)))
    return str(unit)


def _verify(unit: str) -> subprocess.CompletedProcess:
    tool = require_tool("systemd-analyze")
    return subprocess.run([tool, "verify", unit], capture_output=True, text=True, timeout=60)


def test_unit_passes_systemd_analyze_verify(tmp_path):
    r = _verify(_unit_for_verify(tmp_path))
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r.stdout + r.stderr


def test_verify_reports_a_misspelt_directive(tmp_path):
    """The check above is able to fail: verify only warns on an unknown key, so the test
    requires silence, and a typo is not silent."""
    text = open(UNIT, encoding="utf-8").read().replace("\nProtectHome=yes", "\nProtectHom=yes")
    r = _verify(_unit_for_verify(tmp_path, text))
    assert "ProtectHom" in r.stdout + r.stderr


def test_security_exposure_stays_low(tmp_path):
    tool = require_tool("systemd-analyze")
    r = subprocess.run([tool, "security", "--offline=true", "--no-pager", _unit_for_verify(tmp_path)], capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout + r.stderr)
    assert m, r.stdout + r.stderr
    # 0 = fully locked down, 10 = unprotected; systemd calls < 2 "OK"/"SAFE"
    assert float(m.group(1)) <= 2.0, r.stdout


def test_unit_runs_as_a_dedicated_user_without_capabilities():
    d = unit_directives()
    assert d["Service.User"] == ["lanes"] and d["Service.Group"] == ["lanes"]
    assert d["Service.NoNewPrivileges"] == ["yes"]
    assert d["Service.CapabilityBoundingSet"] == [""], "no capability by default (README privilege table)"
    assert d["Service.AmbientCapabilities"] == [""]
    assert "Service.DynamicUser" not in d
    with open(SYSUSERS, encoding="utf-8") as f:
        users = [line.split() for line in f if line.strip() and not line.startswith("#")]
    assert users and users[0][:2] == ["u", "lanes"], "sysusers.d entry for the unit's user"


def test_unit_hardening_and_environment():
    d = unit_directives()
    want = {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes",
        "RestrictNamespaces": "yes",
        "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes",
        "SystemCallArchitectures": "native",
        "ProtectProc": "invisible",
    }
    for key, val in want.items():
        assert d.get(f"Service.{key}") == [val], key
    assert set(d["Service.RestrictAddressFamilies"][0].split()) == ALLOWED_FAMILIES
    # lanes must see the host's links and the abstract multipathd socket
    assert d.get("Service.PrivateNetwork", ["no"]) == ["no"]
    # /proc/diskstats and /proc/net/* are outside /proc/PID
    assert "Service.ProcSubset" not in d
    assert d["Service.EnvironmentFile"] == ["-/etc/default/lanes"]
    assert d["Service.ExecStart"] == [f"{INSTALLED_BIN} $ARGS"]
    assert d["Service.ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert d["Service.RestartPreventExitStatus"] == ["2"], "a bad config (exit 2) must not restart in a loop"


def test_code_opens_only_the_allowed_socket_families():
    """RestrictAddressFamilies cannot be exercised without systemd: every AF_* the daemon
    and the collectors name must be one the unit allows (AF_UNSPEC is a netlink message
    field, never a socket)."""
    used = set()
    for sub in ("exporter", "collectors"):
        for base, _dirs, files in os.walk(os.path.join(ROOT, sub)):  # packages too
            for name in sorted(f for f in files if f.endswith(".py")):
                with open(os.path.join(base, name), encoding="utf-8") as f:
                    used |= set(re.findall(r"\bAF_[A-Z0-9]+\b", f.read()))
    used.discard("AF_UNSPEC")
    assert used, "the scan found no socket family at all"
    assert used <= ALLOWED_FAMILIES, f"socket families not allowed by the unit: {sorted(used - ALLOWED_FAMILIES)}"


def test_default_args_pass_check_config(tmp_path):
    args = default_args()
    assert args, "ARGS is empty"
    r = lanes(*args, "--check-config")
    assert r.returncode == 0, r.stderr
    # the commented examples use only real flags too
    help_text = lanes("--help").stdout
    with open(DEFAULT, encoding="utf-8") as f:
        flags = set(re.findall(r"(--[a-z][a-z0-9.\-]*[a-z0-9])", f.read()))
    assert flags, "no flag found in lanes.default"
    for flag in flags:
        assert flag in help_text, f"lanes.default uses {flag}, which lanes_exporter --help does not list"


def test_sandbox_emulation_keeps_every_collector_working():
    """The parts of the unit that can run without systemd: a private mount namespace with
    every mount read-only but /proc and /dev (ProtectSystem=strict, ProtectKernelTunables),
    a fresh /tmp (PrivateTmp), /root and /home hidden (ProtectHome), then lanes as an
    unprivileged user with no capabilities and no_new_privs (User=,
    CapabilityBoundingSet=, NoNewPrivileges=).  lanes itself is bind-mounted read-only
    into the fresh /tmp, as it would sit in /opt/lanes.  Every collector must report the
    same success as lanes run as root outside the sandbox."""
    require(os.geteuid() == 0, "needs root to build the sandbox (unshare, setpriv)")
    unshare = require_tool("unshare")
    sys.path.insert(0, os.path.join(ROOT, "tests", "daemon"))  # test_privileges, also when tests/shipping runs alone
    from test_privileges import Runtime

    base = tempfile.mkdtemp(prefix="lanes-priv-sandbox-")
    inside = "/tmp/lanes"
    try:
        rt = Runtime(base)
        free = rt.run("root", ["--once"])
        assert free.returncode == 0, free.stderr
        boxed_argv = [a.replace(base, inside) for a in rt.argv("user", ["--once"])]
        script = (
            "set -e; mount --make-rprivate /; "
            f"exec 9<{shlex.quote(base)}; "  # keep the runtime reachable under the new /tmp
            "for m in $(awk '{print $2}' /proc/self/mounts | sort -u); do "
            'case "$m" in /proc|/proc/*|/dev|/dev/*) ;; *) mount -o remount,bind,ro "$m" 2>/dev/null || true ;; esac; done; '
            "mount -t tmpfs -o mode=1777 tmpfs /tmp; mount -t tmpfs -o mode=0755 tmpfs /root; mount -t tmpfs -o mode=0755 tmpfs /home; "
            f"mkdir {inside}; mount --bind /proc/self/fd/9 {inside}; mount -o remount,bind,ro {inside}; exec 9<&-; "
            "if touch /var/lanes-sandbox-probe 2>/dev/null; then rm -f /var/lanes-sandbox-probe; echo 'root filesystem still writable' >&2; exit 3; fi; "
            "cd /; exec " + " ".join(shlex.quote(a) for a in boxed_argv)
        )
        r = subprocess.run([unshare, "--mount", "--propagation", "private", "sh", "-c", script], capture_output=True, text=True, timeout=120)
        if r.returncode != 0 and "mount" in r.stderr and "permission denied" in r.stderr.lower():
            require(False, f"cannot build a mount namespace here: {r.stderr.strip()}")
        assert r.returncode == 0, r.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)
    ok_free = {k[1][0][1]: v for k, v in parse_exposition(free.stdout).items() if k[0] == "lanes_collector_success"}
    ok_boxed = {k[1][0][1]: v for k, v in parse_exposition(r.stdout).items() if k[0] == "lanes_collector_success"}
    assert ok_free and ok_boxed == ok_free, f"unconfined {ok_free} vs sandboxed {ok_boxed}"
    assert "lanes_link_up" in r.stdout


@pytest.fixture(autouse=True)
def _no_site_writes(monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
