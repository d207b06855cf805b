"""Shared test helpers: running lanes, requiring tools, normalising expositions."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest
from builders.captures import CAPTURES, capture  # noqa: F401  (re-exported for the parser tests)
from conftest import REQUIRE, ROOT

SCENARIOS = os.path.join(ROOT, "tests", "scenarios")
#: a scenario's expected exposition: tests/scenarios/<name>/expected.prom
EXPECTED = "expected.prom"
#: what ``--doctor`` prints for it (text), where a scenario has one
EXPECTED_DOCTOR = "expected-doctor.txt"


def expected_path(name: str) -> str:
    """The expected exposition of scenario ``name`` (what ``--once`` prints, normalised)."""
    return os.path.join(SCENARIOS, name, EXPECTED)


def read_expected(name: str) -> str:
    with open(expected_path(name), encoding="utf-8") as f:
        return f.read()


def require(condition: bool, reason: str) -> None:
    """Skip with a reason, or fail when LANES_TEST_REQUIRE=1 (CI)."""
    if not condition:
        if REQUIRE:
            pytest.fail(f"required tier unavailable: {reason}")
        pytest.skip(reason)


def require_tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
    require(path is not None, f"{name} not installed (apt-get install it; the README's test command does)")
    return path


def lanes(*args: str, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run lanes_exporter as a user would (a new process)."""
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def scenario_names(platform: str | None = None) -> list[str]:
    import yaml

    out = []
    if not os.path.isdir(SCENARIOS):
        return out
    for name in sorted(os.listdir(SCENARIOS)):
        meta = os.path.join(SCENARIOS, name, "snapshot.yml")
        if not os.path.exists(meta):
            continue
        if platform is not None:
            with open(meta) as f:
                if (yaml.safe_load(f) or {}).get("platform", "linux") != platform:
                    continue
        out.append(name)
    return out


def scenario_args(name: str) -> list[str]:
    """Flags to replay a scenario: its snapshot and, if present, its config.yml."""
    d = os.path.join(SCENARIOS, name)
    args = ["--snapshot", d, "--once"]
    if os.path.exists(os.path.join(d, "config.yml")):
        args += ["--config.file", os.path.join(d, "config.yml")]
    return args


_VOLATILE = re.compile(r"^lanes_collector_(duration_seconds|last_success_timestamp_seconds)\{")


def normalize(text: str) -> str:
    """Drop values that differ run to run (durations, timestamps, Python version)."""
    out = []
    for line in text.splitlines():
        if _VOLATILE.match(line):
            continue
        line = re.sub(r'python_version="[^"]*"', 'python_version="X"', line)
        out.append(line)
    return "\n".join(out) + "\n"


def parse_exposition(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(name, sorted labels): value} via client_python's parser."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))



def wait_listening(proc: subprocess.Popen, port: int, timeout: float = 20) -> None:
    """Wait until lanes (``proc``) accepts TCP connections on 127.0.0.1:``port``; fail with
    its stderr if it exits first, or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"lanes exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("lanes did not start listening")
