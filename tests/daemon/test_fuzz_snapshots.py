"""Whole-snapshot fuzzing (SPEC §10): a scenario snapshot with one file or recorded command
output mutated (numbers made negative, huge, 401 digits, NaN/Inf; cut; random bytes;
non-UTF-8; a line past its cap; a symlink loop) is scraped by every collector of its
platform.  The only outcomes allowed: a valid exposition (prometheus_client's parser and,
for the fixed cases, ``promtool check metrics``) whose every value is in range (no
NaN/Inf, nothing beyond 2^64, no negative counter), and any collector that failed names
a reason.  An exported series always belongs to a collector that succeeded (a failed
collector exports none), so "every value in range" is "no lie with success 1".

Default tier: a fixed seed and a few dozen examples.  Soak tier: ``pytest -m soak
tests/test_fuzz_snapshots.py`` (LANES_FUZZ_EXAMPLES examples, default 2000).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess

import pytest
from helpers import SCENARIOS, require_tool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

import collectors
from exporter import host as host_mod
from exporter import metrics
from exporter.api import Context
from exporter.cli import collector_options
from exporter.config import Config, load_config
from exporter.host import SnapshotHost
from exporter.metrics import render
from exporter.scrape import Scraper

SCENARIO_NAMES = sorted(n for n in os.listdir(SCENARIOS) if os.path.exists(os.path.join(SCENARIOS, n, "snapshot.yml")))
DEFAULT_EXAMPLES = 40
SOAK_EXAMPLES = int(os.environ.get("LANES_FUZZ_EXAMPLES", "2000"))
WEIRD = ["-1", "-42", "18446744073709551616", "18446744073709551615", "9" * 401, "NaN", "nan", "+Inf", "-inf", "1e400", "-0", "0x10", "", "4294967296"]


def _files(scen: str) -> list[str]:
    out = []
    for base in ("root", "commands"):
        top = os.path.join(SCENARIOS, scen, base)
        for dirpath, _dirs, files in os.walk(top):
            for f in files:
                path = os.path.join(dirpath, f)
                if not os.path.islink(path):
                    out.append(os.path.relpath(path, os.path.join(SCENARIOS, scen)))
    return sorted(out)


FILES = {n: _files(n) for n in SCENARIO_NAMES}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A private copy of every scenario; each example mutates one file and restores it."""
    top = tmp_path_factory.mktemp("fuzz")
    for n in SCENARIO_NAMES:
        shutil.copytree(os.path.join(SCENARIOS, n), top / n, symlinks=True)
    saved = (host_mod.LIMITS.file_bytes, host_mod.LIMITS.line_bytes, metrics.LIMITS.label_value_bytes)
    # small caps so that a mutation can pass them cheaply
    host_mod.LIMITS.file_bytes, host_mod.LIMITS.line_bytes, metrics.LIMITS.label_value_bytes = 256 * 1024, 16 * 1024, 1024
    yield top
    host_mod.LIMITS.file_bytes, host_mod.LIMITS.line_bytes, metrics.LIMITS.label_value_bytes = saved


@st.composite
def mutation(draw):
    scen = draw(st.sampled_from([n for n in SCENARIO_NAMES if FILES[n]]))
    rel = draw(st.sampled_from(FILES[scen]))
    kind = draw(st.sampled_from(["number", "number", "number", "truncate", "bytes", "empty", "long_line", "huge_label", "loop"]))
    arg = draw(st.one_of(st.sampled_from(WEIRD), st.integers(-(2**70), 2**70).map(str)))
    pos = draw(st.floats(0, 1))
    junk = draw(st.binary(min_size=1, max_size=64))
    return scen, rel, kind, arg, pos, junk


def _mutate(path: str, kind: str, arg: str, pos: float, junk: bytes) -> None:
    with open(path, "rb") as f:
        data = f.read()
    if kind == "loop":
        os.remove(path)
        os.symlink(os.path.basename(path), path)
        return
    if kind == "number":
        nums = list(re.finditer(rb"\d+", data))
        if nums:
            m = nums[int(pos * (len(nums) - 1))]
            data = data[: m.start()] + arg.encode() + data[m.end() :]
        else:
            data = arg.encode()
    elif kind == "truncate":
        data = data[: int(len(data) * pos)]
    elif kind == "bytes":
        i = int(len(data) * pos)
        data = data[:i] + junk + b"\xff\xfe" + data[i:]
    elif kind == "empty":
        data = b""
    elif kind == "long_line":
        data = data + b"x" * (32 * 1024)  # past the 16 KiB line cap set by the fixture
    elif kind == "huge_label":
        data = b"n" * 4000 + data.strip()[:10]  # a label value past the 1 KiB cap
    with open(path, "wb") as f:
        f.write(data)


def _restore(work, scen: str, rel: str) -> None:
    dest = os.path.join(work, scen, rel)
    if os.path.lexists(dest):
        os.remove(dest)
    shutil.copy2(os.path.join(SCENARIOS, scen, rel), dest)


def scrape(directory: str) -> tuple[str, Scraper]:
    host = SnapshotHost(directory)
    cfg_path = os.path.join(directory, "config.yml")
    config = load_config(cfg_path, collector_options()) if os.path.exists(cfg_path) else Config()
    instances = [cls(host, Context(cls.name, config.collectors.get(cls.name, {}), config)) for cls in collectors.for_platform(host.platform)]
    scraper = Scraper(instances, {cls.name: 5.0 for cls in collectors.for_platform(host.platform)}, host.platform)
    try:
        return render(scraper.scrape()).decode("utf-8"), scraper
    finally:
        scraper.close()


def check_exposition(text: str, scraper: Scraper) -> None:
    """Valid text format, values in range, failed collectors with a reason."""
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            v = s.value
            assert not math.isnan(v) and not math.isinf(v), f"{s.name}{s.labels} = {v}"
            assert -(2**63) <= v <= 2**64, f"{s.name}{s.labels} = {v}"
            if fam.type == "counter":
                assert v >= 0, f"negative counter {s.name}{s.labels} = {v}"
    for r in scraper.runners:
        if r.status.success is False:
            assert r.status.error.strip(), f"{r.name} failed without a reason"


def _run(work, m) -> None:
    scen, rel, kind, arg, pos, junk = m
    path = os.path.join(work, scen, rel)
    try:
        _mutate(path, kind, arg, pos, junk)
        text, scraper = scrape(os.path.join(work, scen))
        check_exposition(text, scraper)
    finally:
        _restore(work, scen, rel)


@settings(max_examples=DEFAULT_EXAMPLES, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(m=mutation())
def test_mutated_snapshot_gives_valid_in_range_exposition(work, m):
    _run(work, m)


@pytest.mark.soak
@settings(max_examples=SOAK_EXAMPLES, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(m=mutation())
def test_mutated_snapshot_gives_valid_in_range_exposition_soak(work, m):
    _run(work, m)


# ------------------------------------------------------------------ the fixed cases of the report


def _one(work, scen: str, rel: str, content: bytes) -> tuple[str, Scraper]:
    path = os.path.join(work, scen, rel)
    try:
        with open(path, "wb") as f:
            f.write(content)
        return scrape(os.path.join(work, scen))
    finally:
        _restore(work, scen, rel)


def _status(scraper: Scraper, name: str):
    return next(r.status for r in scraper.runners if r.name == name)


def _promtool(text: str) -> None:
    promtool = require_tool("promtool")
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert "parsing error" not in r.stdout + r.stderr, r.stdout + r.stderr


@pytest.mark.parametrize(
    ("rel", "content", "collector", "needle"),
    [
        # 401 digits in mtu: the link collector fails, the rest of the exposition stays valid
        ("root/sys/class/net/ens2f0/mtu", b"9" * 401 + b"\n", "link", "mtu"),
        # a negative receive counter in /proc/net/dev
        ("root/proc/net/dev", None, "link", "/proc/net/dev"),
        # beyond 2^64 (no kernel counter holds it)
        ("root/sys/class/net/ens2f0/carrier_changes", b"18446744073709551617\n", "link", "carrier_changes"),
    ],
)
def test_lies_fail_the_collector_naming_the_source(work, rel, content, collector, needle):
    scen = "linux-declared-mpio"
    if content is None:
        with open(os.path.join(SCENARIOS, scen, rel), "rb") as f:
            lines = f.read().split(b"\n")
        # ens1f0's receive bytes made negative
        i = next(i for i, line in enumerate(lines) if line.strip().startswith(b"ens1f0:"))
        name, _, rest = lines[i].partition(b":")
        fields = rest.split()
        fields[0] = b"-5"
        lines[i] = name + b": " + b" ".join(fields)
        content = b"\n".join(lines)
    if not os.path.exists(os.path.join(SCENARIOS, scen, rel)):
        pytest.skip(f"{rel} not in the scenario")
    text, scraper = _one(work, scen, rel, content)
    st_ = _status(scraper, collector)
    assert st_.success is False, f"{collector} exported a lie as success"
    assert needle in st_.error, st_.error
    assert f'lanes_collector_success{{collector="{collector}"}} 0' in text
    check_exposition(text, scraper)
    _promtool(text)


def test_file_past_the_cap_fails_naming_file_and_cap(work):
    scen = "linux-declared-mpio"
    rel = "root/sys/class/net/ens2f0/mtu"
    text, scraper = _one(work, scen, rel, b"1" * (300 * 1024))
    err = _status(scraper, "link").error
    assert "/sys/class/net/ens2f0/mtu" in err and "limits.file_bytes" in err, err
    check_exposition(text, scraper)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), -1, 2**64 + 1, 10**400])
def test_family_refuses_values_outside_the_source_range(value):
    fam = metrics.counter("x_total", "test. From /sys/x/y.", ("dev",))
    with pytest.raises(metrics.ValueRangeError, match=r"lanes_x_total\{dev=\"a\"\}.*From|source: /sys/x/y"):
        fam.add(("a",), value)
    g = metrics.gauge("g", "test", ())
    with pytest.raises(metrics.ValueRangeError):
        g.add((), value)


def test_signed_gauge_and_label_caps():
    g = metrics.gauge("prio", "test", ("p",), signed=True)
    g.add(("a",), -1)
    assert g.samples == [(("a",), -1)]
    with pytest.raises(metrics.ValueRangeError, match="label_value_bytes"):
        g.add(("x" * (metrics.LIMITS.label_value_bytes + 1),), 1)
    with pytest.raises(metrics.ValueRangeError, match="not UTF-8"):
        g.add(("bad\udcff",), 1)  # a non-UTF-8 file name from os.listdir
