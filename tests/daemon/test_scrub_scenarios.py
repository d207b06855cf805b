"""Support bundles tried as a user would, on every bundled scenario: the scenario plays the
live host, lanes records it with ``--record.scrub``; then

* every identifier and secret of the ORIGINAL (listed here from the original files by this
  test's own rules, not by the scrubber) is absent from the bundle, names and contents;
* the bundle is private (directories 0700, files 0600);
* ``--snapshot <bundle> --once`` gives the original's exposition with the same
  substitutions applied (the same series, the same values: every path on the same NIC).
"""

from __future__ import annotations

import glob
import ipaddress
import os
import re
import shutil
import stat

import pytest
import yaml
from helpers import SCENARIOS, lanes, normalize, scenario_names

from exporter import cli
from exporter.host import RecordingHost, SnapshotHost
from exporter.scrub import Scrubber

# --------------------------------------------------------------------------- originals

_IQN_NQN = re.compile(r"\b(?:iqn|nqn)\.\d{4}-\d{2}\.[^\s,;\"'<>()\[\]{}]+")
_HEXRUN = re.compile(r"[0-9A-Fa-f]{16,}")
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_SECRET = re.compile(r"(?:password|password_in|username|username_in|chapuser|chapsecret)\s*[=:]\s*(\S+)", re.I)


def _ip_ok(ip) -> bool:
    """Addresses that identify something (the scrubber may keep the others)."""
    if ip.is_loopback or ip.is_unspecified or ip.is_multicast:
        return False
    if ip.version == 4:
        return not str(ip).startswith("255.")
    if ip.is_link_local and int(ip) & (2**64 - 1) == 0:
        return False  # fe80::/64 itself: every host's link-local prefix
    return not (ip in ipaddress.ip_network("2001:db8::/32") or ip in ipaddress.ip_network("3fff::/20"))


def _candidates(text: str):
    """Words of a text: blank/punctuation-separated tokens, and the fields of illumos
    parseable lines (split on every ':' not escaped as '\\:')."""
    for tok in re.split(r"[\s,;=\"'<>()\[\]{}|]+", text):
        yield tok
        if "\\:" in tok:
            yield from re.split(r"(?<!\\):", tok)


def originals_of(text: str, path: str) -> set[str]:
    """Identifier and secret strings as written in one original file (or file name)."""
    found: set[str] = set()
    for m in _IQN_NQN.finditer(text):
        if m.group(0) != "nqn.2014-08.org.nvmexpress.discovery":
            found.add(m.group(0))
    for raw in _candidates(text):
        tok = raw.strip(".:/")
        plain = tok.replace("\\:", ":")
        groups = plain.split(":")
        if len(groups) == 6 and all(1 <= len(g) <= 2 and all(c in "0123456789abcdefABCDEF" for c in g) for g in groups):
            if {g.lower().zfill(2) for g in groups} - {"00", "ff"}:
                found.update({tok, plain})
            continue
        for cand in (plain, plain.split("/")[0], plain.split("%")[0], plain.rsplit(":", 1)[0]):
            if "%" in cand:  # a scoped address (fe80::1%lo0): its address part is the next candidate
                continue
            try:
                ip = ipaddress.ip_address(cand)
            except ValueError:
                continue
            if _ip_ok(ip):
                found.add(str(ip))
                if ip.version == 6:
                    found.add(ip.exploded)
                    if "\\:" in tok:
                        found.add(str(ip).replace(":", "\\:"))
            break
    for m in _UUID.finditer(text):
        if set(m.group(0)) - {"0", "-"}:
            found.add(m.group(0).lower())
    for m in _HEXRUN.finditer(text):
        h = m.group(0)
        # identifiers have hex letters; all-digit runs are counters (kstat rlastupdate), except
        # Fibre Channel names after "Port Name:"
        if re.search(r"[A-Fa-f]", h) or re.search(r"Port Name:\s+" + h, text):
            if path.endswith(("/proc/net/if_inet6", "/proc/net/ipv6_route")) or len(h) == 32 and path.endswith("route"):
                ip = ipaddress.IPv6Address(bytes.fromhex(h[:32])) if len(h) == 32 else None
                if ip is None or not _ip_ok(ip):
                    continue
            found.add(h.lower())
    if path.endswith("/proc/net/route"):
        for line in text.splitlines()[1:]:
            f = line.split()
            for field in f[1:3]:
                ip = ipaddress.IPv4Address(int(field, 16).to_bytes(4, "little"))
                if _ip_ok(ip):
                    found.add(field)
    if os.path.basename(path) == "serial" and text.strip():
        found.add(text.strip())
    for m in _SECRET.finditer(text):
        if m.group(1).lower() not in ("-", "set", "unset", "<empty>"):
            found.add(m.group(1))
    return found


def scenario_originals(scen: str) -> set[str]:
    found: set[str] = set()
    for base in ("root", "commands"):
        top = os.path.join(scen, base)
        for dirpath, dirs, files in os.walk(top):
            for name in dirs + files:
                found |= originals_of(name, "")
            for name in files:
                path = os.path.join(dirpath, name)
                if os.path.islink(path):
                    found |= originals_of(os.readlink(path), path)
                    continue
                with open(path, encoding="utf-8", errors="replace") as f:
                    found |= originals_of(f.read(), "/" + os.path.relpath(path, top) if base == "root" else path)
    return found


# --------------------------------------------------------------------------- recording


def scenario_hostnames(scen: str) -> list[str]:
    with open(os.path.join(scen, "snapshot.yml")) as f:
        host = str((yaml.safe_load(f) or {}).get("hostname", "") or "")
    return [host, host.split(".")[0]] if host and host != "hand-made" else []


#: CHAP settings a node record carries when the target wants CHAP (open-iscsi usr/idbm.c
#: prints them between node.session.* keys); no bundled scenario has them, so the test adds them
CHAP_LINES = (
    "node.session.auth.authmethod = CHAP\n"
    "node.session.auth.username = tank-initiator-chap\n"
    "node.session.auth.password = Sup3rS3cretChapPw\n"
    "node.session.auth.username_in = tank-target-chap\n"
    "node.session.auth.password_in = MutualS3cretChapPw\n"
)
CHAP_SECRETS = ("Sup3rS3cretChapPw", "MutualS3cretChapPw", "tank-initiator-chap", "tank-target-chap", "tank-target-chapuser")


def host_with_secrets(name: str, dest: str) -> str:
    """A copy of scenario ``name`` whose open-iscsi node records carry CHAP credentials and
    whose ``itadm list-target -v`` names a CHAP user with a secret set."""
    shutil.copytree(os.path.join(SCENARIOS, name), dest, symlinks=True)
    for top in ("root/etc/iscsi/nodes", "root/var/lib/iscsi/nodes"):
        for dirpath, _dirs, files in os.walk(os.path.join(dest, top)):
            for f in files:
                path = os.path.join(dirpath, f)
                with open(path) as fh:
                    text = fh.read()
                if "node.session." in text:
                    with open(path, "w") as fh:
                        fh.write(text.replace("node.session.", CHAP_LINES + "node.session.", 1))
    for f in glob.glob(os.path.join(dest, "commands", "itadm_list-target*.out")):
        with open(f) as fh:
            text = fh.read()
        with open(f, "w") as fh:
            fh.write(re.sub(r"(targetchapuser:\s+)-\n(\s*targetchapsecret:\s+)unset", r"\1tank-target-chapuser\n\2set", text, count=1))
    return dest


def record_scenario(scen: str, bundle: str, scrubber: Scrubber | None) -> None:
    """What ``lanes --record <bundle> [--record.scrub]`` does, with the snapshot ``scen`` as the host."""
    with open(os.path.join(scen, "snapshot.yml")) as f:
        platform = (yaml.safe_load(f) or {}).get("platform", "linux")
    argv = ["--record", bundle, "--platform", platform, *(["--record.scrub"] if scrubber else [])]
    if os.path.exists(os.path.join(scen, "config.yml")):
        argv += ["--config.file", os.path.join(scen, "config.yml")]
    args = cli.build_parser().parse_args(argv)
    config, _web, platform = cli.load_settings(args)
    # one lanes process serves one host; this test records many in one process: forget the
    # NIC drivers the previous scenario's links had (link_linux caches them per ifindex)
    from collectors import link_linux

    link_linux._DRIVER_CACHE.clear()
    host = RecordingHost(SnapshotHost(scen, platform=platform), bundle, scrubber)
    sampler = cli.make_sampler(config, host)
    scraper = cli.build(args, config, platform, host, sampler)
    assert cli.record(args, scraper, host, platform, sampler) == 0


def replay_args(scen: str, config: str | None = None) -> list[str]:
    args = ["--snapshot", scen, "--once"]
    if config or os.path.exists(os.path.join(scen, "config.yml")):
        args += ["--config.file", config or os.path.join(scen, "config.yml")]
    return args


def samples(text: str) -> list[str]:
    return sorted(line for line in normalize(text).splitlines() if line and not line.startswith("#"))


_BOND_FLOW_MEMBER = re.compile(r'^(lanes_flow_info\{.*kind="bond",.*member=")[^"]*(")')
_BOND_FLOW_FINDING = re.compile(r'^(lanes_finding\{check="flows_on_one_member",.*kind="bond",|lanes_group_reachable_speed_bytes\{kind="bond",)')


def hash_free(lines: list[str]) -> list[str]:
    """The member a bond hashes a flow onto is computed from its addresses and ports
    (bond_xmit_hash); placeholder addresses hash differently, so a scrubbed replay may put a
    flow on another member of the same bond, and whether every flow hashes onto one member
    (the flows_on_one_member finding) and how many members the flows can use (the
    reachable speed) may change (docs/support-bundles.md says so).
    Everything else must stay the same."""
    out = [_BOND_FLOW_MEMBER.sub(r"\1*\2", line) for line in lines if not _BOND_FLOW_FINDING.match(line)]
    return sorted(out)


@pytest.mark.parametrize("name", scenario_names())
def test_scrubbed_bundle_leaks_nothing_and_replays_the_same(name, tmp_path):
    scen = host_with_secrets(name, str(tmp_path / "host"))
    bundle = str(tmp_path / "bundle")
    scrubber = Scrubber(scenario_hostnames(scen))
    record_scenario(scen, bundle, scrubber)

    originals = scenario_originals(scen) | set(scenario_hostnames(scen))
    assert originals, "a scenario without identifiers tests nothing"
    if os.path.isdir(os.path.join(scen, "root", "etc", "iscsi", "nodes")) or glob.glob(os.path.join(scen, "commands", "itadm_*")):
        assert originals & set(CHAP_SECRETS)  # the secrets are listed like any original
    # a whole original, not a prefix of a placeholder ("fe80::2" in "fe80::2a1c:...")
    pattern = re.compile(
        "|".join(rf"(?<![0-9A-Za-z]){re.escape(o)}(?![0-9A-Za-z])" for o in sorted(originals, key=len, reverse=True)), re.I
    )
    leaks = []
    for dirpath, dirs, files in os.walk(bundle):
        assert stat.S_IMODE(os.stat(dirpath).st_mode) == 0o700, dirpath
        for n in dirs + files:
            leaks += [(os.path.join(dirpath, n), m.group(0)) for m in pattern.finditer(n)]
        for n in files:
            path = os.path.join(dirpath, n)
            if os.path.islink(path):
                leaks += [(path, m.group(0)) for m in pattern.finditer(os.readlink(path))]
                continue
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
            with open(path, encoding="utf-8", errors="replace") as f:
                content = f.read()
            leaks += [(path, m.group(0)) for m in pattern.finditer(content)]
    assert not leaks, leaks[:20]

    # the replay: the host's config gets the same substitutions as the bundle
    config = None
    if os.path.exists(os.path.join(scen, "config.yml")):
        with open(os.path.join(scen, "config.yml")) as f:
            config = str(tmp_path / "config.yml")
            with open(config, "w") as out:
                out.write(scrubber(f.read()))
    original = lanes(*replay_args(scen))
    assert original.returncode == 0, original.stderr
    replay = lanes(*replay_args(bundle, config))
    assert replay.returncode == 0, replay.stderr
    assert hash_free(samples(replay.stdout)) == hash_free(samples(scrubber(original.stdout)))
    # the sampler's reads are in the bundle: the peak series survive (illumos iSCSI: kstat)
    peaks = [line for line in samples(original.stdout) if "_peak_" in line]
    assert len([line for line in samples(replay.stdout) if "_peak_" in line]) == len(peaks)


def test_unscrubbed_bundle_holds_no_secret_either(tmp_path):
    scen = host_with_secrets("linux-mpio-round-robin-healthy", str(tmp_path / "host"))
    bundle = str(tmp_path / "bundle")
    record_scenario(scen, bundle, None)
    records = 0
    for dirpath, _dirs, files in os.walk(bundle):
        assert stat.S_IMODE(os.stat(dirpath).st_mode) == 0o700
        for f in files:
            path = os.path.join(dirpath, f)
            if os.path.islink(path):
                continue
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            with open(path) as fh:
                text = fh.read()
            records += "node.startup = automatic" in text
            assert not [s for s in CHAP_SECRETS if s in text], path
    assert records == 2  # the node records are in the bundle, without their CHAP lines
    config = os.path.join(scen, "config.yml") if os.path.exists(os.path.join(scen, "config.yml")) else None
    assert samples(lanes(*replay_args(bundle, config)).stdout) == samples(lanes(*replay_args(scen)).stdout)
