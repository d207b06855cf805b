"""The standard failure-mode table, run over every collector in collectors.ALL.

Each collector is run on a scenario where it produces series, through a host that injects
one fault into every call: command missing, non-zero exit, empty output, garbage, timeout,
file missing, permission denied.  Invariants for every cell:

* nothing escapes: the scrape returns, with ``lanes_collector_success`` 0 or 1;
* a failed collector contributes no series of its own (all or nothing);
* the exposition stays valid (parses, counters are finite and not negative);
* a fault the collector never hit changes nothing;
* a source that hangs (timeout) or is unreadable (permission denied) is a failure, unless
  the collector says so explicitly in a ``*_partial*``/``*privilege*`` series;
* garbage never yields success with a value that is NaN or negative.

New collectors get this table for free.
"""

from __future__ import annotations

import math
import os
import random

import pytest
from helpers import SCENARIOS, scenario_names

import collectors
from exporter.api import Context
from exporter.config import Config, load_config
from exporter.host import CommandNotFound, CommandResult, CommandTimeout, Host, SnapshotHost
from exporter.metrics import render
from exporter.scrape import Scraper

MODES = ("command missing", "nonzero rc", "empty output", "garbage", "timeout", "file missing", "permission denied")


def _garbage(seed: str) -> str:
    rnd = random.Random(seed)
    alphabet = "abcXYZ019:;,.-_/\\\"'{}[]()= \t\u00e9\u2603\x00\x7f"
    lines = []
    for _ in range(rnd.randint(1, 12)):
        lines.append("".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 80))))
    return "\n".join(lines) + rnd.choice(["", "\n"])


class FaultHost(Host):
    """Wraps a snapshot host and injects one kind of fault into every call of its kind."""

    def __init__(self, inner: SnapshotHost, mode: str):
        self.inner = inner
        self.mode = mode
        self.platform = inner.platform
        self.hits = 0

    # files
    def _file_fault(self, path: str):
        if self.mode == "file missing":
            self.hits += 1
            raise FileNotFoundError(2, "No such file or directory", path)
        if self.mode == "permission denied":
            self.hits += 1
            raise PermissionError(13, "Permission denied", path)

    def read_text(self, path):
        self._file_fault(path)
        text = self.inner.read_text(path)
        if self.mode == "empty output":
            self.hits += 1
            return ""
        if self.mode == "garbage":
            self.hits += 1
            return _garbage(path)
        return text

    def listdir(self, path):
        self._file_fault(path)
        return self.inner.listdir(path)

    def readlink(self, path):
        self._file_fault(path)
        return self.inner.readlink(path)

    def exists(self, path):
        if self.mode in ("file missing", "permission denied"):
            self.hits += 1
            return False
        return self.inner.exists(path)

    def is_dir(self, path):
        if self.mode in ("file missing", "permission denied"):
            self.hits += 1
            return False
        return self.inner.is_dir(path)

    # commands and sockets
    def _command_fault(self, name, real):
        if self.mode == "command missing":
            self.hits += 1
            raise CommandNotFound(name[0], "injected")
        if self.mode == "timeout":
            self.hits += 1
            raise CommandTimeout(list(name), 0.1)
        result = real()
        if self.mode == "nonzero rc":
            self.hits += 1
            return CommandResult(tuple(name), 1, "", "error: injected failure\n")
        if self.mode == "empty output":
            self.hits += 1
            return CommandResult(tuple(name), 0, "", "")
        if self.mode == "garbage":
            self.hits += 1
            return CommandResult(tuple(name), 0, _garbage(" ".join(name)), "")
        return result

    def run(self, tool, args, *, timeout):
        return self._command_fault([tool, *args], lambda: self.inner.run(tool, args, timeout=timeout))

    def unix_request(self, name, addresses, payload, *, timeout, unpack, seqpacket=False):
        return self._command_fault(list(name), lambda: self.inner.unix_request(name, addresses, payload, timeout=timeout, unpack=unpack, seqpacket=seqpacket))

    def tcp_sockets(self, ports, *, timeout):
        return self._command_fault(["sock_diag", "tcp"], lambda: self.inner.tcp_sockets(ports, timeout=timeout))

    def route_get(self, dst, src, *, timeout):
        return self._command_fault(["ip", "route", "get", dst, "from", src], lambda: self.inner.route_get(dst, src, timeout=timeout))


def _config(scenario: str) -> Config:
    path = os.path.join(SCENARIOS, scenario, "config.yml")
    if not os.path.exists(path):
        return Config()
    from exporter.cli import collector_options

    return load_config(path, collector_options())


def run_one(cls, host: Host, config: Config):
    """(success, own families, all families) for one collector on one host."""
    opts = config.collectors.get(cls.name, {})
    ctx = Context(cls.name, opts, config, None)
    collector = cls(host, ctx)
    scraper = Scraper([collector], {cls.name: 5.0}, host.platform)
    try:
        families = scraper.scrape()
    finally:
        scraper.close()
    success = None
    for f in families:
        if f.name == "lanes_collector_success":
            success = dict(f.samples)[(cls.name,)]
    own = [f for f in families if not f.name.startswith(("lanes_collector_", "lanes_exporter_"))]
    return success, own, families


def _cases():
    cases = []
    for cls in collectors.ALL:
        for platform in sorted(cls.platforms):
            for scenario in scenario_names(platform):
                host = SnapshotHost(os.path.join(SCENARIOS, scenario))
                success, own, _ = run_one(cls, host, _config(scenario))
                if success == 1 and any(f.samples for f in own):
                    cases.append((cls, scenario))
                    break
    return cases


CASES = _cases()


def test_every_collector_has_a_scenario_with_data():
    covered = {(c.name, tuple(sorted(c.platforms))) for c, _ in CASES}
    missing = [f"{c.name} ({', '.join(sorted(c.platforms))})" for c in collectors.ALL if (c.name, tuple(sorted(c.platforms))) not in covered]
    assert not missing, f"collectors without a scenario where they produce series: {missing}"


def _signature(families):
    return [(f.name, f.samples) for f in families]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cls,scenario", CASES, ids=[f"{c.name}-{'-'.join(sorted(c.platforms))}@{s}" for c, s in CASES])
def test_fault(cls, scenario, mode):
    config = _config(scenario)
    base_success, base_own, _ = run_one(cls, SnapshotHost(os.path.join(SCENARIOS, scenario)), config)
    host = FaultHost(SnapshotHost(os.path.join(SCENARIOS, scenario)), mode)
    success, own, families = run_one(cls, host, config)

    assert success in (0, 1), "lanes_collector_success missing"
    if success == 0:
        assert not any(f.samples for f in own), "a failed collector must contribute no series"
    if host.hits == 0:
        assert success == base_success and _signature(own) == _signature(base_own)
    if host.hits and mode == "timeout":
        assert success == 0, "a source that hangs must mark the collector failed"
    if host.hits and mode == "permission denied" and success == 1:
        assert any(("partial" in f.name or "privilege" in f.name) and f.samples for f in own), (
            "permission denied must fail the collector or be reported in a *_partial*/*privilege* series"
        )
    for f in own:
        for _lv, v in f.samples:
            assert not (isinstance(v, float) and math.isnan(v)), f"{f.name}: NaN"
            if f.type == "counter":
                assert v >= 0 and not math.isinf(v), f"{f.name}: bad counter {v}"
    # the whole exposition is valid text format
    from prometheus_client.parser import text_string_to_metric_families

    list(text_string_to_metric_families(render(families).decode()))


def test_one_failing_collector_leaves_the_others_intact():
    from collectors.link_linux import LinkLinux
    from exporter.api import Collector

    class Broken(Collector):
        name = "broken"
        platforms = frozenset({"linux"})

        def collect(self):
            yield from []
            raise RuntimeError("source exploded")

    host = SnapshotHost(os.path.join(SCENARIOS, "linux-declared-mpio"))
    scraper = Scraper([LinkLinux(host, Context("link")), Broken(host, Context("broken"))], {}, "linux")
    fams = {f.name: f for f in scraper.scrape()}
    success = dict(fams["lanes_collector_success"].samples)
    assert success == {("broken",): 0, ("link",): 1}
    assert fams["lanes_link_up"].samples
