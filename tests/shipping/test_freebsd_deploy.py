"""deploy/freebsd: the rc.d script, the example config and the privilege rules agree with
what lanes does (flags it has, tools and arguments the FreeBSD collectors run)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import yaml
from conftest import ROOT
from helpers import lanes

from collectors import ctl_freebsd, iscsi_freebsd

D = os.path.join(ROOT, "deploy", "freebsd")
RC = os.path.join(D, "lanes_exporter")


def _read(name: str) -> str:
    with open(os.path.join(D, name), encoding="utf-8") as f:
        return f.read()


def test_rc_script_is_a_shell_script_with_rc_subr_headers():
    text = _read("lanes_exporter")
    assert text.startswith("#!/bin/sh\n")
    for line in ("# PROVIDE: lanes_exporter", "# REQUIRE: LOGIN NETWORKING", "# KEYWORD: shutdown", ". /etc/rc.subr", 'run_rc_command "$1"'):
        assert line in text, line
    assert os.stat(RC).st_mode & 0o111, "rc.d scripts must be executable"
    sh = shutil.which("sh")
    if sh:
        r = subprocess.run([sh, "-n", RC], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr


def test_rc_script_runs_lanes_through_daemon_as_the_unprivileged_user():
    text = _read("lanes_exporter")
    assert 'command="/usr/sbin/daemon"' in text
    args = re.search(r'command_args="([^"]*)"', text).group(1).split()
    # daemon(8) flags before the program: supervise, restart, syslog, drop privileges
    program = args.index("${lanes_exporter_program}")
    assert {"-f", "-S", "-R", "-P", "-u"} <= set(args[:program])
    assert args[args.index("-u") + 1] == "${lanes_exporter_user}"
    assert ': ${lanes_exporter_user:="lanes"}' in text


def test_rc_script_passes_only_flags_lanes_has():
    help_text = lanes("--help").stdout
    text = _read("lanes_exporter")
    args = re.search(r'command_args="([^"]*)"', text).group(1).split()
    flags = {a.split("=", 1)[0] for a in args[args.index("${lanes_exporter_program}") + 1 :] if a.startswith("--")}
    assert flags, "no lanes flags found"
    for flag in flags:
        assert flag in help_text, f"{flag} is not a lanes flag"


def test_example_config_checks_on_freebsd(tmp_path):
    r = lanes("--config.file", os.path.join(D, "config.yml"), "--check-config", "--platform", "freebsd")
    assert r.returncode == 0, r.stderr
    assert "ctl" in r.stdout and "gmultipath" in r.stdout


def test_privilege_rules_grant_exactly_the_commands_lanes_runs():
    cfg = yaml.safe_load(_read("config.yml"))
    assert set(cfg["commands"]) == {"ctladm", "ctlstat", "iscsictl"}
    wanted = {
        " ".join(["/usr/sbin/ctladm", *ctl_freebsd.ISLIST_ARGS]),
        " ".join(["/usr/sbin/ctladm", *ctl_freebsd.PORTLIST_ARGS]),
        " ".join(["/usr/bin/ctlstat", *ctl_freebsd.CTLSTAT_ARGS]),
        " ".join(["/usr/bin/iscsictl", *iscsi_freebsd.ARGS]),
    }
    rule = [line for line in _read("lanes.sudoers").splitlines() if line.startswith("lanes ")][0]
    granted = {c.strip() for c in rule.partition("NOPASSWD:")[2].split(",")}
    assert granted == wanted
    doas = {" ".join(line.split()[6:]).replace(" args ", " ") for line in _read("lanes.doas.conf").splitlines() if line.startswith("permit ")}
    assert doas == wanted
    for tool, argv in cfg["commands"].items():
        assert argv[-1] in {w.split()[0] for w in wanted} and argv[-1].endswith("/" + tool), f"{tool}: {argv}"
    assert "-v" not in iscsi_freebsd.ARGS, "iscsictl -L -v prints CHAP secrets"
