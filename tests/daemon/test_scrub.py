"""Support bundles: --record --record.scrub replaces identifiers consistently."""

import os

from helpers import SCENARIOS, lanes, normalize

from exporter.scrub import Scrubber


def test_kinds_and_consistency():
    s = Scrubber(["tank-a.example.com", "tank-a"])
    text = (
        "InitiatorName=iqn.1993-08.org.debian:01:2a8f4c5d6e7f\n"
        "target iqn.2010-09.org.example:tank-a.vol1 at 10.20.30.40:3260,1 via fe80::a236:9fff:fe11:2230%ens1f0\n"
        "mac a0:36:9F:11:22:30 and again a0:36:9f:11:22:30, escaped a0\\:36\\:9f\\:11\\:22\\:30, illumos 0:14:4f:9b:d9:e2\n"
        "host tank-a.example.com is tank-a; subsys nqn.2014-08.com.example:nvme:tank nqn.2014-08.org.nvmexpress.discovery\n"
        "keep 127.0.0.1 0.0.0.0 255.255.255.0 ::1 00:00:00:00:00:00 12:30:00 version 6.1.0 std::string 2001:db8::5\n"
    )
    out = s(text)
    for secret in ("2a8f4c5d6e7f", "org.example", "10.20.30.40", "a236:9fff", "a0:36", "a0\\:36", "0:14:4f", "tank-a", "com.example"):
        assert secret not in out, secret
    # same input, same placeholder: both spellings of one MAC map to one value
    assert out.count("02:00:00:00:00:01") == 2 and "02\\:00\\:00\\:00\\:00\\:01" in out
    assert "198.18.0.1:3260" in out and "fe80::1%ens1f0" in out
    import re

    fqdn, short = re.search(r"host (host-\d+) is (host-\d+);", out).groups()
    assert fqdn != short  # FQDN and short name are different inputs
    for kept in ("127.0.0.1", "0.0.0.0", "255.255.255.0", "::1", "00:00:00:00:00:00", "12:30:00", "6.1.0", "std::string", "2001:db8::5", "nqn.2014-08.org.nvmexpress.discovery"):
        assert kept in out, kept
    assert s(text) == out  # stable for the life of the scrubber


def test_record_scrub_end_to_end(tmp_path):
    scen = os.path.join(SCENARIOS, "linux-declared-mpio")
    cfg = os.path.join(scen, "config.yml")
    snap = tmp_path / "bundle"
    r = lanes("--record", str(snap), "--record.scrub", "--path.rootfs", os.path.join(scen, "root"), "--config.file", cfg,
              "--collector.disable-defaults", "--collector.link", "--collector.groups")
    assert r.returncode == 0, r.stderr
    originals = ("a0:36:9f:11:22:30", "a0:36:9f:11:22:40", "3c:ec:ef:00:10:01")
    for dirpath, dirnames, filenames in os.walk(snap):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            assert not any(o in name for o in originals)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, errors="replace") as f:
                    content = f.read()
                assert not any(o in content for o in originals), path
    scrubbed = normalize(lanes("--snapshot", str(snap), "--config.file", cfg, "--once").stdout)
    original = normalize(lanes("--snapshot", scen, "--config.file", cfg, "--once").stdout)
    # the topology survives: same series and values, only the MAC labels differ
    assert scrubbed.count("\n") == original.count("\n")
    strip = lambda t: "\n".join(line for line in t.splitlines() if "mac=" not in line)  # noqa: E731
    assert strip(scrubbed) == strip(original)
    assert 'mac="02:00:00:00:00:0' in scrubbed


def test_scrub_needs_record():
    r = lanes("--once", "--record.scrub")
    assert r.returncode == 2 and "needs --record" in r.stderr
