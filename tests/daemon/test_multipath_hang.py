"""No multipathd hang reaches a scrape (issue 4 item 6, SPEC §10).

Fake multipathd servers on a real unix socket, speaking libmpathcmd's framing (native
size_t length, then the NUL-terminated text): one never answers (daemon stuck behind a
reconfigure, multipath-tools #114), one answers ``timeout`` (its lock was not free within
uxsock_timeout, multipathd/uxlsnr.c), one answers properly.  lanes runs against a copy of
the healthy MPIO scenario as a live root (``--path.rootfs``), so its socket client really
connects.  The scrape must come back within the multipath collector's timeout with
``lanes_collector_success{collector="multipath"} 0`` and the link and iscsi series intact.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import tempfile
import threading
import time

import pytest
from helpers import SCENARIOS, lanes, parse_exposition, value

SCENARIO = os.path.join(SCENARIOS, "linux-mpio-round-robin-healthy")
TIMEOUT = 2.0  # the multipath collector's timeout in these tests
SIZE = struct.calcsize("@N")


class FakeMultipathd:
    """mode: "silent" (reads the request, never answers), "timeout" (answers ``timeout`` to
    locked commands, ``show daemon`` answers), "ok" (replays the scenario's JSON)."""

    def __init__(self, path: str, mode: str):
        self.path, self.mode = path, mode
        self.requests: list[str] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _reply(self, conn: socket.socket, text: str) -> None:
        data = text.encode() + b"\0"
        conn.sendall(struct.pack("@N", len(data)) + data)

    def _serve(self) -> None:
        with open(os.path.join(SCENARIO, "commands", "multipathd_show_maps_json.out")) as f:
            maps_json = f.read()
        deadline = time.monotonic() + 60  # bounded: never outlives a test run
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.conns.append(conn)
            conn.settimeout(2)
            try:
                head = conn.recv(SIZE, socket.MSG_WAITALL)
                (n,) = struct.unpack("@N", head)
                cmd = conn.recv(n, socket.MSG_WAITALL).rstrip(b"\0").decode()
            except (OSError, struct.error):
                continue
            self.requests.append(cmd)
            if self.mode == "silent":
                continue  # keep the connection open and say nothing
            if cmd == "show daemon":
                self._reply(conn, "pid 4242 configure (pending reconfigure)\n")
            elif self.mode == "timeout":
                self._reply(conn, "timeout\n")
            else:
                self._reply(conn, maps_json)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.fixture
def root():
    # short base path: a unix socket path must fit in sun_path (108 bytes)
    base = tempfile.mkdtemp(prefix="lanes-mpio-", dir="/tmp")
    try:
        shutil.copytree(os.path.join(SCENARIO, "root"), os.path.join(base, "root"), symlinks=True)
        os.makedirs(os.path.join(base, "root", "run"), exist_ok=True)
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _config(base: str, socket_option: str | None) -> str:
    path = os.path.join(base, "config.yml")
    opts = f"timeout: {TIMEOUT}s" + (f", socket: {socket_option}" if socket_option else "")
    with open(path, "w") as f:
        f.write(f"collectors:\n  link: {{exclude: '^lo$'}}\n  multipath: {{{opts}}}\n  nvme: {{enabled: false}}\n")
    return path


def _run(base: str, socket_option: str | None):
    t0 = time.monotonic()
    r = lanes("--path.rootfs", os.path.join(base, "root"), "--config.file", _config(base, socket_option), "--once",
              "--platform", "linux", timeout=30)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    return parse_exposition(r.stdout), took, r


@pytest.mark.parametrize("mode", ["silent", "timeout"])
def test_stuck_multipathd_never_blocks_the_scrape(root, mode):
    server = FakeMultipathd(os.path.join(root, "root", "run", "mpd.sock"), mode)
    try:
        s, took, r = _run(root, "/run/mpd.sock")
    finally:
        server.close()
    assert "show maps json" in server.requests, server.requests  # lanes really asked
    assert value(s, "lanes_collector_success", collector="multipath") == 0
    assert value(s, "lanes_collector_duration_seconds", collector="multipath") <= TIMEOUT + 0.2
    # a whole process start included, the answer is bounded by the collector timeout
    assert took < TIMEOUT + 6, took
    # no multipath series at all (all or nothing), the others intact
    assert not [k for k in s if k[0].startswith("lanes_multipath_") or dict(k[1]).get("kind") == "multipath"]
    assert value(s, "lanes_collector_success", collector="link") == 1
    assert value(s, "lanes_collector_success", collector="iscsi") == 1
    assert value(s, "lanes_link_up", link="ens1f0") == 1
    assert value(s, "lanes_member_up", kind="iscsi", group="iqn.2003-01.org.linux-iscsi.stor-a.x8664:sn.5b2e0c3a1f77",
                 member="192.168.10.20:3260@iface-ens1f0") == 1
    if mode == "timeout":  # show daemon (unlocked) told busy from dead
        assert "show daemon" in server.requests
        assert "busy" in r.stderr and "pending reconfigure" in r.stderr, r.stderr
    else:
        assert "not answering" in r.stderr, r.stderr


def test_answering_multipathd_on_the_default_pathname_socket(root):
    """The default address list starts with /run/multipathd.socket (libmpathcmd
    mpath_connect__: pathname first, abstract second); the reply is parsed end to end."""
    server = FakeMultipathd(os.path.join(root, "root", "run", "multipathd.socket"), "ok")
    try:
        s, _, r = _run(root, None)
    finally:
        server.close()
    assert set(server.requests) == {"show maps json"}  # --once may scrape more than once
    assert value(s, "lanes_collector_success", collector="multipath") == 1, r.stderr
    assert value(s, "lanes_multipath_path_dm_state", map="mpatha", path="sdd", state="active") == 1
    assert value(s, "lanes_multipath_map_queue_if_no_path", map="mpatha") == 1


def test_repeated_stuck_scrapes_do_not_pile_up_threads(root):
    """In process: three scrapes in a row against a silent daemon each end within the
    timeout with the daemon's own error (not "still running from an earlier scrape": the
    socket client's deadline ended the run), and the thread count stays flat."""
    from collectors.iscsi_linux import IscsiLinux
    from collectors.link_linux import LinkLinux
    from collectors.multipath_linux import MultipathLinux
    from exporter.api import Context
    from exporter.host import LiveHost
    from exporter.scrape import Scraper

    server = FakeMultipathd(os.path.join(root, "root", "run", "mpd.sock"), "silent")
    host = LiveHost(os.path.join(root, "root"), platform="linux")
    opts = {"timeout": TIMEOUT, "socket": "/run/mpd.sock"}
    scraper = Scraper(
        [MultipathLinux(host, Context("multipath", opts)), IscsiLinux(host, Context("iscsi")), LinkLinux(host, Context("link"))],
        {"multipath": TIMEOUT}, "linux",
    )
    counts = []
    try:
        for _ in range(3):
            t0 = time.monotonic()
            fams = {f.name: f for f in scraper.scrape()}
            assert time.monotonic() - t0 < TIMEOUT + 0.5
            assert dict(fams["lanes_collector_success"].samples) == {("iscsi",): 1, ("link",): 1, ("multipath",): 0}
            status = {r.name: r.status for r in scraper.runners}
            assert "timed out" in status["multipath"].error and "not answering" in status["multipath"].error, status["multipath"].error
            counts.append(threading.active_count())
        assert counts[0] == counts[-1], counts
    finally:
        scraper.close()
        server.close()
        host.close()


def test_record_then_replay_gives_the_scenario(root):
    """``--record`` from a live root with an answering multipathd writes the reply under
    commands/multipathd_show_maps_json.out (SPEC §4 slug) and the sysfs it read; replaying
    the recording gives the scenario's multipath and iscsi series."""
    from helpers import read_expected

    server = FakeMultipathd(os.path.join(root, "root", "run", "multipathd.socket"), "ok")
    snap = os.path.join(root, "snap")
    try:
        r = lanes("--path.rootfs", os.path.join(root, "root"), "--platform", "linux", "--record", snap, timeout=60)
    finally:
        server.close()
    assert r.returncode == 0, r.stderr
    assert os.path.exists(os.path.join(snap, "commands", "multipathd_show_maps_json.out"))
    replay = lanes("--snapshot", snap, "--once", "--config.file", os.path.join(SCENARIO, "config.yml"), timeout=60)
    assert replay.returncode == 0, replay.stderr

    def storage(text):
        keep = ("lanes_multipath_", "lanes_iscsi_", "lanes_path_info", "lanes_group_", "lanes_member_up", "lanes_member_receive_bytes",
                "lanes_member_transmit_bytes", "lanes_member_speed")
        return sorted(line for line in text.splitlines() if line.startswith(keep))

    want = storage(read_expected("linux-mpio-round-robin-healthy"))
    assert want and storage(replay.stdout) == want


def test_a_blocking_sysfs_read_never_blocks_the_scrape(root):
    """A kernel attribute read that never returns (here a FIFO without a writer in place of
    sdc's SCSI state) leaves the multipath collector stuck; the scrape still answers at the
    collector's deadline with success 0, and the iscsi and link series are intact."""
    state = os.path.join(root, "root", "sys", "devices", "platform", "host3", "session1", "target3:0:0", "3:0:0:1", "state")
    os.remove(state)
    os.mkfifo(state)
    server = FakeMultipathd(os.path.join(root, "root", "run", "mpd.sock"), "ok")
    try:
        s, took, r = _run(root, "/run/mpd.sock")
    finally:
        server.close()
    assert value(s, "lanes_collector_success", collector="multipath") == 0
    # the deadline itself, plus thread wake-up on a loaded machine
    assert value(s, "lanes_collector_duration_seconds", collector="multipath") <= TIMEOUT + 1.0
    assert took < TIMEOUT + 6, took
    assert value(s, "lanes_collector_success", collector="iscsi") == 1
    assert value(s, "lanes_link_up", link="ens2f0") == 1
    assert not [k for k in s if k[0].startswith("lanes_multipath_")]
