"""exporter.host: the slug rule, commands as argv with timeouts, record and replay."""

import os
import sys
import time

import pytest
from helpers import lanes

from exporter.host import CommandNotFound, CommandTimeout, LiveHost, RecordingHost, SnapshotHost, slug


@pytest.mark.parametrize(
    "tool,args,want",
    [
        # SPEC §4: basename + args joined with _, chars outside A-Za-z0-9._,=+- as %XX
        ("dladm", ["show-aggr", "-x", "-p", "-o", "link,port,state"], "dladm_show-aggr_-x_-p_-o_link,port,state"),
        ("/usr/sbin/mpathadm", ["list", "lu"], "mpathadm_list_lu"),
        ("kstat", ["-p", "link:0:e1000g0:rbytes64"], "kstat_-p_link%3A0%3Ae1000g0%3Arbytes64"),
        ("multipathd", ["show", "maps", "json"], "multipathd_show_maps_json"),
        ("x", ["a b", "/c", "%", "é"], "x_a%20b_%2Fc_%25_%C3%A9"),
    ],
)
def test_slug(tool, args, want):
    assert slug(tool, args) == want


def py_host():
    return LiveHost(commands={"py": [sys.executable]})


def test_run_is_argv_with_clean_env_and_separate_streams():
    r = py_host().run("py", ["-c", "import os,sys; print(os.environ.get('LC_ALL'), os.environ.get('HOME')); print('oops', file=sys.stderr); sys.exit(3)"], timeout=10)
    assert r.returncode == 3
    assert r.stdout == "C None\n"
    assert r.stderr == "oops\n"
    assert r.argv[0] == sys.executable


def test_stdin_is_closed():
    t0 = time.monotonic()
    r = py_host().run("py", ["-c", "import sys; print(repr(sys.stdin.read()))"], timeout=10)
    assert r.stdout.strip() == "''" and time.monotonic() - t0 < 5


def test_timeout_kills_the_whole_process_group(tmp_path):
    marker = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(marker)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    t0 = time.monotonic()
    with pytest.raises(CommandTimeout):
        py_host().run("py", ["-c", code], timeout=1.0)
    assert time.monotonic() - t0 < 5
    pid = int(marker.read_text())
    for _ in range(50):  # the grandchild was killed with its group
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        with open(f"/proc/{pid}/stat") as f:
            if f.read().split()[2] == "Z":
                break
        time.sleep(0.05)
    else:
        pytest.fail("grandchild survived the timeout")


def test_missing_tool_is_command_not_found():
    with pytest.raises(CommandNotFound):
        LiveHost().run("no-such-tool-lanes", [], timeout=1)
    with pytest.raises(CommandNotFound):
        LiveHost(commands={"x": ["/nonexistent/bin/x"]}).run("x", [], timeout=1)


def test_root_prefix(tmp_path):
    (tmp_path / "sys/class/net/eth9").mkdir(parents=True)
    (tmp_path / "sys/class/net/eth9/mtu").write_text("9000\n")
    (tmp_path / "proc").mkdir()
    h = LiveHost(str(tmp_path))
    assert h.read_text("/sys/class/net/eth9/mtu") == "9000\n"
    assert h.listdir("/sys/class/net") == ["eth9"]
    assert h.read_optional("/sys/class/net/eth9/speed") is None
    assert not h.live
    assert h.netlink_links() is None


def test_record_then_replay_keeps_symlinks_and_commands(tmp_path):
    live_root = tmp_path / "live"
    dev = live_root / "sys/devices/virtual/net/bond0"
    dev.mkdir(parents=True)
    (dev / "mtu").write_text("1500\n")
    (live_root / "sys/class/net").mkdir(parents=True)
    os.symlink("../../devices/virtual/net/bond0", live_root / "sys/class/net/bond0")
    inner = LiveHost(str(live_root), commands={"py": [sys.executable]})
    snap = tmp_path / "snap"
    rec = RecordingHost(inner, str(snap))
    assert rec.listdir("/sys/class/net") == ["bond0"]
    assert rec.read_text("/sys/class/net/bond0/mtu") == "1500\n"
    r = rec.run("py", ["-c", "print('hello'); import sys; sys.exit(2)"], timeout=10)
    with pytest.raises(CommandTimeout):
        rec.run("py", ["-c", "import time; time.sleep(30)"], timeout=0.5)
    (snap / "snapshot.yml").write_text("platform: linux\nnotes: test\n")

    assert os.path.islink(snap / "root/sys/class/net/bond0")
    assert os.readlink(snap / "root/sys/class/net/bond0") == "../../devices/virtual/net/bond0"
    replay = SnapshotHost(str(snap))
    assert replay.listdir("/sys/class/net") == ["bond0"]
    assert replay.read_text("/sys/class/net/bond0/mtu") == "1500\n"
    assert replay.readlink("/sys/class/net/bond0") == "../../devices/virtual/net/bond0"
    again = replay.run("py", ["-c", "print('hello'); import sys; sys.exit(2)"], timeout=1)
    assert (again.stdout, again.returncode) == (r.stdout, 2) == ("hello\n", 2)
    with pytest.raises(CommandTimeout):
        replay.run("py", ["-c", "import time; time.sleep(30)"], timeout=1)
    with pytest.raises(CommandNotFound):
        replay.run("py", ["never", "recorded"], timeout=1)


def test_snapshot_resolves_absolute_symlinks_inside_root(tmp_path):
    (tmp_path / "root/sys/devices/x").mkdir(parents=True)
    (tmp_path / "root/sys/devices/x/operstate").write_text("up\n")
    (tmp_path / "root/sys/class/net").mkdir(parents=True)
    os.symlink("/sys/devices/x", tmp_path / "root/sys/class/net/x")  # absolute: the recorded host's path
    (tmp_path / "snapshot.yml").write_text("platform: linux\nnotes: t\n")
    assert SnapshotHost(str(tmp_path)).read_text("/sys/class/net/x/operstate") == "up\n"


def test_record_cli_then_replay_gives_the_same_links(tmp_path):
    snap = tmp_path / "snap"
    r = lanes("--record", str(snap), "--collector.disable-defaults", "--collector.link")
    assert r.returncode == 0, r.stderr
    assert (snap / "snapshot.yml").exists()
    live = lanes("--once", "--collector.disable-defaults", "--collector.link")
    replay = lanes("--snapshot", str(snap), "--once")
    assert replay.returncode == 0, replay.stderr

    def links(text):
        return sorted(line.split('"')[1] for line in text.splitlines() if line.startswith("lanes_link_mtu_bytes{"))

    assert links(replay.stdout) == links(live.stdout) and links(live.stdout)


def test_read_many_reads_like_read_optional(tmp_path):
    """LiveHost.read_many (the batched per-scrape read of state files) gives what
    read_optional gives, file by file: content, None for absent, an error for the rest."""
    (tmp_path / "sys" / "block" / "sdc" / "device").mkdir(parents=True)
    (tmp_path / "sys" / "block" / "sdc" / "device" / "state").write_text("running\n")
    (tmp_path / "sys" / "big").write_text("x" * 10000)
    host = LiveHost(rootfs=str(tmp_path))
    paths = ["/sys/block/sdc/device/state", "/sys/block/sdd/device/state", "/sys/block/sdc/dev/nothing", "/sys/big"]
    assert host.read_many(paths) == [host.read_optional(p) for p in paths] == ["running\n", None, None, "x" * 10000]
    with pytest.raises(IsADirectoryError):
        host.read_many(["/sys/block"])
    wrapped = LiveHost(rootfs=str(tmp_path))
    seen = []
    wrapped.read_text = lambda p: seen.append(p) or "w"  # a wrapped read_text is honoured
    assert wrapped.read_many(["/sys/block/sdc/device/state"]) == ["w"] and seen


def test_uevent_messages_that_change_storage_topology():
    """UeventWatch counts kernel uevents of block, SCSI, iSCSI and NVMe devices (format:
    Documentation/ABI/testing/sysfs-uevent; lib/kobject_uevent.c), not the others."""
    from exporter.host import UeventWatch

    add_disk = b"add@/devices/platform/host3/session1/target3:0:0/3:0:0:1/block/sdc\0ACTION=add\0DEVPATH=/devices/platform/host3/session1/target3:0:0/3:0:0:1/block/sdc\0SUBSYSTEM=block\0MAJOR=8\0MINOR=32\0DEVNAME=sdc\0DEVTYPE=disk\0SEQNUM=4242\0"
    session = b"remove@/devices/platform/host3/session1/iscsi_session/session1\0ACTION=remove\0SUBSYSTEM=iscsi_session\0SEQNUM=4243\0"
    net = b"add@/devices/virtual/net/veth0\0ACTION=add\0SUBSYSTEM=net\0INTERFACE=veth0\0IFINDEX=7\0SEQNUM=4244\0"
    assert UeventWatch.relevant(add_disk) and UeventWatch.relevant(session)
    assert not UeventWatch.relevant(net) and not UeventWatch.relevant(b"garbage")
    assert LiveHost(rootfs="/nonexistent").uevent_generation() == 0  # below another root: no kernel to ask
