"""Flags, config file and web config: exit codes and one-line errors naming file and line."""

import pytest
from helpers import lanes

from exporter.cli import collector_options
from exporter.config import ConfigError, parse_config, parse_duration, parse_web_config

OPTS = collector_options()


def test_full_config():
    cfg = parse_config(
        """\
collectors:
  link: {include: '^(en|eth)', exclude: '^(veth|docker)', timeout: 3s}
  groups: {enabled: false}
commands:
  kstat: [/usr/bin/kstat]
  mpathadm: [pfexec, /usr/sbin/mpathadm]
groups:
  iscsi-mpio: {members: [ens1f0, ens2f0], balancing: load}
  mgmt: {members: [eno1, eno2], balancing: failover, policy: active-backup}
expect:
  iscsi: {"iqn.2010-09.org.example:tank-a": 2}
sampler: {interval: 500ms}
""",
        "c.yml",
        OPTS,
    )
    assert cfg.collectors["link"] == {"include": "^(en|eth)", "exclude": "^(veth|docker)", "timeout": 3.0}
    assert cfg.collectors["groups"] == {"enabled": False}
    assert cfg.commands["mpathadm"] == ["pfexec", "/usr/sbin/mpathadm"]
    assert cfg.groups["iscsi-mpio"].members == ("ens1f0", "ens2f0")
    assert cfg.groups["mgmt"].policy == "active-backup" and cfg.groups["mgmt"].balancing == "failover"
    assert cfg.expect == {"iscsi": {"iqn.2010-09.org.example:tank-a": 2}}
    assert cfg.sampler_interval == 0.5


@pytest.mark.parametrize(
    "text,line,words",
    [
        ("collectors:\n  link:\n    inclde: x\n", 3, "unknown key 'inclde'"),
        ("colectors: {}\n", 1, "unknown key 'colectors'"),
        ("collectors:\n  nosuch: {}\n", 2, "unknown collector 'nosuch'"),
        ("collectors:\n  link: {include: '('}\n", 2, "bad regular expression"),
        ("collectors:\n  link: {timeout: soon}\n", 2, "not a duration"),
        ("groups:\n  g:\n    members: []\n", 3, "at least one member"),
        ("groups:\n  g:\n    members: [a]\n    balancing: both\n", 4, "load or failover"),
        ("groups:\n  g: {balancing: load}\n", 2, "members is required"),
        ("expect:\n  iscsi: {t: 0}\n", 2, "member count"),
        ("commands:\n  kstat: /usr/bin/kstat\n", 2, "expected a list"),
        ("a: [1,\n", 2, "invalid YAML"),
        ("groups:\n  g: {members: [a]}\n  g: {members: [b]}\n", 3, "duplicate key"),
    ],
)
def test_config_errors_name_line_and_problem(text, line, words):
    with pytest.raises(ConfigError) as e:
        parse_config(text, "/etc/lanes/config.yml", OPTS)
    assert e.value.line == line
    assert words in str(e.value)
    assert str(e.value).startswith(f"/etc/lanes/config.yml:{line}: ")


def test_empty_config_is_defaults():
    cfg = parse_config("", "c.yml", OPTS)
    assert cfg.groups == {} and cfg.sampler_interval == 1.0


@pytest.mark.parametrize("v,want", [("5s", 5.0), ("500ms", 0.5), ("1m", 60.0), (2, 2.0), ("1.5s", 1.5)])
def test_durations(v, want):
    assert parse_duration(v) == want


HASH = "$2b$04$" + "a" * 53  # shape of a bcrypt hash


@pytest.mark.parametrize(
    "text,line,words",
    [
        ("basic_auth_users:\n  u: plain\n", 2, "not a bcrypt hash"),
        ("tls_server_config:\n  cert_file: a\n", 2, "cert_file and key_file (or inline cert and key) are required"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Maybe\n", 4, "must be one of"),
        # without client_ca_file the system's CA store verifies (as Go does): not an error
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_allowed_sans: [x]\n", 2, "client_allowed_sans needs client_auth_type"),
        ("http_server_config:\n  headers:\n    X-Powered-By: me\n", 3, "is not one of"),
        ("tls_config: {}\n", 1, "unknown key"),
    ],
)
def test_web_config_errors(text, line, words):
    with pytest.raises(ConfigError) as e:
        parse_web_config(text, "web.yml")
    assert e.value.line == line and words in str(e.value)


def test_web_config_ok():
    wc = parse_web_config(f"basic_auth_users:\n  prometheus: '{HASH}'\nhttp_server_config:\n  headers:\n    X-Frame-Options: sameorigin\n", "w")
    assert wc.users == {"prometheus": HASH} and wc.headers == {"X-Frame-Options": "sameorigin"}


def _one_line_exit_2(r):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def test_cli_bad_flag_exits_2():
    line = _one_line_exit_2(lanes("--no-such-flag"))
    assert "--no-such-flag" in line
    _one_line_exit_2(lanes("--platform", "windows"))
    _one_line_exit_2(lanes("--web.listen-address", "nonsense", "--check-config"))


def test_cli_bad_config_exits_2_with_file_and_line(tmp_path):
    p = tmp_path / "config.yml"
    p.write_text("collectors:\n  link:\n    exclud: x\n")
    line = _one_line_exit_2(lanes("--config.file", str(p), "--check-config"))
    assert f"{p}:3:" in line and "exclud" in line
    p.write_text("groups: [\n")
    assert f"{p}:" in _one_line_exit_2(lanes("--config.file", str(p), "--once"))
    line = _one_line_exit_2(lanes("--config.file", str(tmp_path / "missing.yml"), "--once"))
    assert "missing.yml" in line


def test_cli_bad_web_config_exits_2(tmp_path):
    p = tmp_path / "web.yml"
    p.write_text("basic_auth_users:\n  admin: hunter2\n")
    line = _one_line_exit_2(lanes("--web.config.file", str(p), "--check-config"))
    assert f"{p}:2:" in line and "hunter2" not in line
    p.write_text("tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n")
    assert str(p) in _one_line_exit_2(lanes("--web.config.file", str(p), "--check-config"))


def test_cli_bad_snapshot_exits_2(tmp_path):
    _one_line_exit_2(lanes("--snapshot", str(tmp_path / "nope"), "--once"))


def test_check_config_prints_what_would_run(tmp_path):
    p = tmp_path / "c.yml"
    p.write_text("groups:\n  g: {members: [eth0]}\n")
    r = lanes("--config.file", str(p), "--check-config", "--no-collector.link")
    assert r.returncode == 0, r.stderr
    assert "collectors: groups" in r.stdout and "declared groups: g" in r.stdout


def test_collector_flags_win_over_file(tmp_path):
    p = tmp_path / "c.yml"
    p.write_text("collectors:\n  link: {enabled: false}\n")
    def chosen(r):
        return r.stdout.split("collectors: ")[1].splitlines()[0].split(", ")

    off = lanes("--config.file", str(p), "--check-config")
    on = lanes("--config.file", str(p), "--check-config", "--collector.link")
    only = lanes("--check-config", "--collector.disable-defaults", "--collector.groups")
    assert "link" not in chosen(off) and "groups" in chosen(off)
    assert "link" in chosen(on)
    assert chosen(only) == ["groups"]


def test_version_and_help():
    r = lanes("--version")
    assert r.returncode == 0 and r.stdout.startswith("lanes_exporter ")
    h = lanes("--help")
    for flag in ("--web.listen-address", "--web.telemetry-path", "--web.config.file", "--config.file", "--collector.link",
                 "--no-collector.link", "--collector.disable-defaults", "--path.rootfs", "--path.procfs", "--path.sysfs",
                 "--platform", "--snapshot", "--record", "--once", "--check-config", "--log.level", "--log.format", "--version"):
        assert flag in h.stdout, flag


def test_once_on_plain_host_works_without_config():
    r = lanes("--once")
    assert r.returncode == 0, r.stderr
    assert 'lanes_collector_success{collector="link"} 1' in r.stdout
    assert "lanes_link_up{" in r.stdout


def test_enum_options_are_checked():
    import yaml

    from exporter.config import _Doc, _option

    node = yaml.compose("bogus")
    with pytest.raises(ConfigError) as e:
        _option(_Doc("c.yml"), node, "collectors.x.mode", "enum:auto,on,off")
    assert "must be one of auto, on, off" in str(e.value)
    assert _option(_Doc("c.yml"), yaml.compose("on_"), "k", "enum:on_,off") == "on_"


def test_netlink_flag_reads_the_kernel_below_another_root(tmp_path):
    # a container on the host network namespace mounts the host's /sys elsewhere: with
    # --netlink the links still come from the kernel; without it, from the (empty) tree
    args = ("--once", "--collector.disable-defaults", "--collector.link", "--path.rootfs", str(tmp_path))
    with_netlink = lanes(*args, "--netlink")
    assert with_netlink.returncode == 0 and 'lanes_link_mtu_bytes{link="lo"} 65536' in with_netlink.stdout
    without = lanes(*args)
    assert 'lanes_collector_success{collector="link"} 0' in without.stdout
