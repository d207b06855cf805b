"""Hardening outside HTTP (SPEC §10): caps on files, command output and lines with RSS
under the unit's MemoryMax; child processes reaped without the garbage collector, also
when a daemonizing descendant keeps the pipe; config range checks at --check-config and
at start; --record onto a full disk."""

from __future__ import annotations

import gc
import os
import resource
import shutil
import subprocess
import sys
import time

import psutil
import pytest
from helpers import ROOT, SCENARIOS, lanes, require

from exporter import host as host_mod
from exporter.host import CommandTimeout, LimitExceeded, LiveHost

#: the shipped unit's MemoryMax (deploy/systemd/lanes.service)
MEMORY_MAX = 256 * 1024 * 1024


@pytest.fixture
def small_caps():
    saved = (host_mod.LIMITS.file_bytes, host_mod.LIMITS.command_output_bytes, host_mod.LIMITS.line_bytes)
    host_mod.LIMITS.file_bytes, host_mod.LIMITS.command_output_bytes, host_mod.LIMITS.line_bytes = 1 << 20, 1 << 20, 64 * 1024
    yield host_mod.LIMITS
    host_mod.LIMITS.file_bytes, host_mod.LIMITS.command_output_bytes, host_mod.LIMITS.line_bytes = saved


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


# ------------------------------------------------------------------ caps


def test_file_and_line_caps_name_the_source(tmp_path, small_caps):
    os.makedirs(tmp_path / "sys/x")
    with open(tmp_path / "sys/x/big", "wb") as f:
        f.truncate(100 * 1024 * 1024)  # 100 MB (sparse)
    (tmp_path / "sys/x/line").write_bytes(b"a" * (100 * 1024) + b"\n")
    (tmp_path / "sys/x/fine").write_bytes((b"a" * 1000 + b"\n") * 500)
    host = LiveHost(str(tmp_path))
    with pytest.raises(LimitExceeded, match=r"/sys/x/big: file exceeds the cap of 1048576 bytes \(limits.file_bytes\)"):
        host.read_text("/sys/x/big")
    with pytest.raises(LimitExceeded, match=r"/sys/x/line: line .*limits.line_bytes"):
        host.read_text("/sys/x/line")
    assert len(host.read_text("/sys/x/fine")) == 1001 * 500
    with pytest.raises(LimitExceeded):  # /dev/zero never ends
        LiveHost("/").read_text("/dev/zero")


def test_a_tool_printing_for_ever_is_cut_at_the_cap_and_killed(small_caps):
    host = LiveHost(commands={"spew": py("import sys\nwhile True: sys.stdout.write('x' * 999 + '\\n')")})
    t0 = time.monotonic()
    with pytest.raises(LimitExceeded, match="limits.command_output_bytes"):
        host.run("spew", [], timeout=30)
    assert time.monotonic() - t0 < 20
    assert not psutil.Process().children(recursive=True)  # killed and reaped


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _zombies() -> int:
    return sum(1 for c in psutil.Process().children(recursive=True) if c.status() == psutil.STATUS_ZOMBIE)


DAEMONIZING = """
import os, sys, time
pid = os.fork()
if pid == 0:
    os.setsid()  # leaves the process group: killpg does not reach it
    open(sys.argv[1], "a").write(f"{os.getpid()}\\n")
    time.sleep(60)  # stdout and stderr stay open
    os._exit(0)
print("hello", flush=True)
if sys.argv[2] == "hang":
    time.sleep(60)
"""


def _kill_recorded(pidfile) -> None:
    if os.path.exists(pidfile):
        for line in open(pidfile).read().split():
            try:
                os.kill(int(line), 9)
            except ProcessLookupError:
                pass


def test_a_daemonizing_descendant_does_not_hold_the_command(tmp_path):
    pidfile = str(tmp_path / "pids")
    host = LiveHost(commands={"helper": py(DAEMONIZING)})
    try:
        t0 = time.monotonic()
        r = host.run("helper", [pidfile, "exit"], timeout=20)
        took = time.monotonic() - t0
        assert r.ok and r.stdout == "hello\n"
        assert took < 10, took  # not the 60 s the descendant holds the pipe
    finally:
        _kill_recorded(pidfile)


def hanging_runs(n: int, tmp_path) -> tuple[int, int, int, int, int, int]:
    """``n`` timed-out runs of a tool whose descendant leaves the group and keeps the
    pipe; (fds, threads, zombies) before and after, with the garbage collector off."""
    pidfile = str(tmp_path / "pids")
    host = LiveHost(commands={"helper": py(DAEMONIZING)})
    me = psutil.Process()
    gc.collect()
    gc.disable()
    try:
        for _ in range(5):
            with pytest.raises(CommandTimeout):
                host.run("helper", [pidfile, "hang"], timeout=0.3)
        _kill_recorded(pidfile)
        before = (_fds(), me.num_threads(), _zombies())
        for _ in range(n):
            with pytest.raises(CommandTimeout):
                host.run("helper", [pidfile, "hang"], timeout=0.3)
            _kill_recorded(pidfile)
            os.remove(pidfile)
        time.sleep(0.2)
        after = (_fds(), me.num_threads(), _zombies())
    finally:
        gc.enable()
        _kill_recorded(pidfile)
    return (*before, *after)


def test_timed_out_commands_leave_no_fd_thread_or_zombie(tmp_path):
    """The short version of the soak test (tests/test_soak.py): 30 runs, gc disabled, so
    nothing is left to a reference cycle."""
    fds0, threads0, z0, fds1, threads1, z1 = hanging_runs(30, tmp_path)
    assert fds1 <= fds0 and threads1 <= threads0 and z1 == 0, (fds0, fds1, threads0, threads1, z1)


def _peak_rss_of(args: list[str]) -> tuple[int, subprocess.CompletedProcess]:
    """Run lanes in a child of a small Python process; the peak RSS of lanes (bytes)."""
    code = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stdout.write(r.stdout)\nsys.stderr.write(r.stderr)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(r.returncode)\n"
    )
    p = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "exporter", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    *_, last = p.stderr.strip().splitlines()
    return int(last) * 1024, p


@pytest.mark.parametrize(
    ("scenario", "rel", "collector"),
    [
        ("linux-mpio-failover-only", "root/sys/devices/virtual/block/dm-2/dm/name", "multipath"),
        ("linux-nvme-tcp-round-robin", "root/sys/devices/virtual/nvme-subsystem/nvme-subsys0/subsysnqn", "nvme"),
        # an illumos tool printing 100 MB (its recorded output)
        ("illumos-storage-mpxio", "commands/mpathadm_list_lu.out", "mpxio"),
    ],
)
@pytest.mark.parametrize("content", ["zeros", "one_line", "lines"])
def test_100mb_files_fail_one_collector_under_memory_max(tmp_path, scenario, rel, collector, content):
    snap = tmp_path / "snap"
    shutil.copytree(os.path.join(SCENARIOS, scenario), snap, symlinks=True)
    path = snap / rel
    path.unlink()
    with open(path, "wb") as f:
        if content == "zeros":
            f.truncate(100 * 1024 * 1024)
        else:
            block = (b"n" * (1 << 20)) if content == "one_line" else (b"nqn.2014-08.org.nvmexpress:uuid:" + b"a" * 90 + b"\n") * 8192
            for _ in range(100 * (1 << 20) // len(block)):
                f.write(block)
    cfg = snap / "config.yml"
    args = ["--snapshot", str(snap), "--once"] + (["--config.file", str(cfg)] if cfg.exists() else [])
    rss, p = _peak_rss_of(args)
    print(f"100 MB {content} {rel.rsplit('/', 1)[1]}: peak RSS {rss / 1e6:.1f} MB; exposition {len(p.stdout) / 1e3:.0f} kB")
    assert p.returncode == 0, p.stderr[-2000:]
    assert f'lanes_collector_success{{collector="{collector}"}} 0' in p.stdout
    assert "limits." in p.stderr  # the failure names the cap
    assert rss < MEMORY_MAX / 2, rss
    assert len(p.stdout) < 1_000_000


# ------------------------------------------------------------------ config ranges


@pytest.mark.parametrize(
    ("yaml_text", "needle"),
    [
        ("collectors:\n  link:\n    timeout: 3000000h\n", ":3: collectors.link.timeout: 3000000h is above the limit of 1h"),
        ("collectors:\n  link:\n    timeout: 0s\n", ":3: collectors.link.timeout: 0s is below the limit of 1ms"),
        ("collectors:\n  multipath:\n    socket_timeout: 99999999999999999999s\n", ":3: collectors.multipath.socket_timeout:"),
        ("sampler:\n  interval: 1000000h\n", ":2: sampler.interval:"),
        ("sampler:\n  interval: 1ms\n", ":2: sampler.interval: 1ms is below the limit of 10ms (0 turns it off)"),
        ("limits:\n  file_bytes: 10\n", ":2: limits.file_bytes: 10 is outside the limits of 4096 to"),
        ("limits:\n  label_value_bytes: 99999999999\n", ":2: limits.label_value_bytes:"),
        ("limits:\n  nonsense: 1\n", ":2: limits: unknown key 'nonsense'"),
        ("groups:\n  g:\n    members: [a]\n    speed_bytes: 99999999999999999999999\n", ":4: groups.g.speed_bytes:"),
    ],
)
def test_config_out_of_range_exits_2_at_check_and_at_start(tmp_path, yaml_text, needle):
    cfg = tmp_path / "config.yml"
    cfg.write_text(yaml_text)
    for mode in ("--check-config", "--once"):
        r = lanes("--config.file", str(cfg), "--snapshot", os.path.join(SCENARIOS, "linux-declared-mpio"), mode)
        assert r.returncode == 2, (mode, r.stdout, r.stderr)
        assert f"{cfg}{needle}" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_sampler_flag_out_of_range_exits_2():
    r = lanes("--sampler.interval", "100000h", "--check-config")
    assert r.returncode == 2 and "--sampler.interval: 100000h is above the limit of 1h" in r.stderr, r.stderr


def test_limits_in_range_are_reported_by_check_config(tmp_path):
    cfg = tmp_path / "config.yml"
    cfg.write_text("limits:\n  file_bytes: 1048576\n  label_value_bytes: 512\n")
    r = lanes("--config.file", str(cfg), "--check-config")
    assert r.returncode == 0 and "file_bytes=1048576" in r.stdout and "label_value_bytes=512" in r.stdout


# ------------------------------------------------------------------ --record onto a full disk


def _tmpfs(path, size: str):
    require(os.geteuid() == 0, "mounting a small tmpfs needs root")
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True)
    require(r.returncode == 0, f"cannot mount a tmpfs: {r.stderr.strip()}")


def _umount(path):
    subprocess.run(["umount", str(path)], capture_output=True)


RECORD_ROOT = os.path.join(SCENARIOS, "linux-mpio-round-robin-healthy", "root")


def test_record_onto_a_full_disk_leaves_nothing_and_names_the_file(tmp_path):
    disk = tmp_path / "disk"
    _tmpfs(disk, "48k")
    try:
        target = disk / "bundle"
        r = lanes("--path.rootfs", RECORD_ROOT, "--platform", "linux", "--no-netlink", "--record", str(target), timeout=120)
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert "No space left on device" in r.stderr and str(disk) in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
        assert os.listdir(disk) == []  # neither the bundle nor its temporary directory
    finally:
        _umount(disk)


def test_record_is_renamed_into_place_when_complete(tmp_path):
    target = tmp_path / "bundle"
    r = lanes("--path.rootfs", RECORD_ROOT, "--platform", "linux", "--no-netlink", "--record", str(target), timeout=120)
    assert r.returncode == 0, r.stderr
    assert (target / "snapshot.yml").exists()
    assert oct(os.stat(target).st_mode & 0o777) == "0o700"
    assert sorted(os.listdir(tmp_path)) == ["bundle"]  # no temporary directory left
    # an existing non-empty directory is refused, not mixed into
    again = lanes("--path.rootfs", RECORD_ROOT, "--platform", "linux", "--no-netlink", "--record", str(target), timeout=120)
    assert again.returncode == 2 and "exists and is not an empty directory" in again.stderr


def test_rlimit_is_raised_for_connections():
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    from exporter.http import _max_connections

    assert _max_connections() >= 16


def test_a_live_tool_printing_100mb_stays_under_memory_max():
    """With the default caps: a tool printing 100 MB is cut at limits.command_output_bytes;
    the peak RSS of the process running it stays under half the unit's MemoryMax."""
    code = (
        "import resource, sys\n"
        "from exporter.host import LiveHost, LimitExceeded\n"
        "spew = [sys.executable, '-c', \"import sys\\nb = b'x' * 1023 + b'\\\\n'\\nfor _ in range(102400): sys.stdout.buffer.write(b)\"]\n"
        "try:\n"
        "    LiveHost(commands={'spew': spew}).run('spew', [], timeout=60)\n"
        "    print('no cap')\n"
        "except LimitExceeded as e:\n"
        "    print(e)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    message, rss = p.stdout.strip().splitlines()
    print(f"live tool printing 100 MB: {message}; peak RSS {int(rss) / 1e6:.1f} MB")
    assert "limits.command_output_bytes" in message, p.stdout + p.stderr
    assert int(rss) < MEMORY_MAX / 2


def test_tune_malloc_sets_glibc_parameters_and_respects_the_environment():
    """exporter.process.tune_malloc: on glibc it returns True (mallopt accepted every
    parameter); with MALLOC_ARENA_MAX set by the admin it leaves malloc alone."""
    import subprocess
    import sys

    code = "from exporter.process import tune_malloc; print(tune_malloc())"
    libc = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") and "CS_GNU_LIBC_VERSION" in os.confstr_names else ""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == ("True" if libc.startswith("glibc") else "False"), out.stderr
    env = dict(os.environ, MALLOC_ARENA_MAX="4")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert out.stdout.strip() == "False", out.stderr
