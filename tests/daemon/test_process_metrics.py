"""SPEC §15: process_* and python_info of a running lanes, checked against the kernel's own
figures for that process (proc(5): /proc/PID/stat fields 14 utime, 15 stime, 22 starttime,
23 vsize, 24 rss; /proc/stat btime; /proc/PID/limits; /proc/PID/fd) and against psutil.
``--once`` and snapshot replays leave them out (their output is a function of the host or
the snapshot alone, so a recorded snapshot replays to what ``--once`` printed)."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import urllib.request

import pytest
from helpers import ROOT, lanes, parse_exposition, require, scenario_args, scenario_names, value, wait_listening

PROCESS_NAMES = (
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_start_time_seconds",
    "process_open_fds",
    "process_max_fds",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # comm (field 2) may hold spaces: split after its closing parenthesis; fields from 3 on
    return ["pid", "comm", *text[text.rindex(")") + 2 :].split()]


@pytest.fixture
def live_lanes():
    require(sys.platform.startswith("linux") and os.path.exists("/proc/self/stat"), "needs Linux /proc to compare against")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--collector.disable-defaults", "--collector.link", "--web.listen-address", f"127.0.0.1:{port}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    wait_listening(proc, port)
    yield proc, f"http://127.0.0.1:{port}/metrics"
    proc.terminate()
    proc.wait(10)


def test_process_metrics_match_the_kernel(live_lanes):
    import psutil

    proc, url = live_lanes
    ticks = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    before = _stat(proc.pid)
    with urllib.request.urlopen(url, timeout=20) as r:
        text = r.read().decode()
    after = _stat(proc.pid)
    s = parse_exposition(text)

    for name in PROCESS_NAMES:
        assert f"# TYPE {name} " in text, f"{name} missing"
    assert "# TYPE process_cpu_seconds_total counter" in text

    cpu = value(s, "process_cpu_seconds_total")
    assert (int(before[13]) + int(before[14])) / ticks - 0.011 <= cpu <= (int(after[13]) + int(after[14])) / ticks + 0.011

    with open("/proc/stat") as f:
        btime = next(int(line.split()[1]) for line in f if line.startswith("btime "))
    assert value(s, "process_start_time_seconds") == pytest.approx(btime + int(after[21]) / ticks, abs=1.0)
    assert value(s, "process_start_time_seconds") == pytest.approx(psutil.Process(proc.pid).create_time(), abs=0.01)

    # memory moves a little between the scrape and the read: same order, within 25 %
    assert value(s, "process_resident_memory_bytes") == pytest.approx(int(after[23]) * page, rel=0.25)
    assert value(s, "process_virtual_memory_bytes") == pytest.approx(int(after[22]), rel=0.25)

    with open(f"/proc/{proc.pid}/limits") as f:
        soft = next(line.split()[3] for line in f if line.startswith("Max open files"))
    assert value(s, "process_max_fds") == int(soft)
    open_fds = len(os.listdir(f"/proc/{proc.pid}/fd"))
    assert abs(value(s, "process_open_fds") - open_fds) <= 2  # the scrape's own socket comes and goes

    v = sys.version_info  # the daemon runs this interpreter
    assert value(s, "python_info", implementation=platform.python_implementation(), major=str(v.major), minor=str(v.minor), patchlevel=str(v.micro), version=platform.python_version()) == 1


def test_cpu_counter_grows_and_the_process_is_not_lanes_prefixed(live_lanes):
    proc, url = live_lanes
    seen = []
    for _ in range(3):
        with urllib.request.urlopen(url, timeout=20) as r:
            text = r.read().decode()
        seen.append(value(parse_exposition(text), "process_cpu_seconds_total"))
    assert seen == sorted(seen) and seen[-1] > 0
    assert "lanes_process_" not in text and "lanes_python_info" not in text


def test_once_and_snapshot_replay_have_no_process_metrics():
    name = scenario_names()[0]
    for args in (scenario_args(name), ["--once", "--collector.disable-defaults", "--collector.link"]):
        r = lanes(*args)
        assert r.returncode == 0, r.stderr
        assert "lanes_link_up" in r.stdout
        assert "process_" not in r.stdout and "python_info" not in r.stdout


def test_fails_soft_when_psutil_cannot_read(monkeypatch, caplog):
    """A value psutil cannot read is left out with one warning; the rest still comes."""
    import psutil

    from exporter.process import ProcessMetrics

    pm = ProcessMetrics()
    real = pm._proc

    class Denying:
        """The real process, except that memory_info is refused (as psutil does on EPERM)."""

        def __getattr__(self, name):
            return getattr(real, name)

        def memory_info(self):
            raise psutil.AccessDenied(os.getpid())

    pm._proc = Denying()
    with caplog.at_level("WARNING", logger="lanes.process"):
        first = {f.name for f in pm.families()}
        second = {f.name for f in pm.families()}
    assert first == second
    assert "process_resident_memory_bytes" not in first and "process_virtual_memory_bytes" not in first
    assert {"process_cpu_seconds_total", "process_start_time_seconds", "process_open_fds", "process_max_fds", "python_info"} <= first
    assert len([r for r in caplog.records if "process_resident_memory_bytes" in r.getMessage()]) == 1


def test_without_psutil_cpu_time_comes_from_getrusage(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_psutil(name, *a, **k):
        if name == "psutil":
            raise ImportError("No module named 'psutil'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_psutil)
    from exporter.process import ProcessMetrics

    fams = {f.name: f for f in ProcessMetrics().families()}
    assert set(fams) == {"process_cpu_seconds_total", "process_max_fds", "python_info"}
    assert fams["process_cpu_seconds_total"].samples[0][1] > 0
