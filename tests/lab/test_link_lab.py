"""Live lab: lanes against the kernel and node_exporter on real veth pairs with real traffic.

Two namespaces made here (``lanes-lab-a-*`` and ``lanes-lab-b-*``) joined by two veth
pairs (lab0<->peer0, lab1<->peer1) with ULA addresses; lab0's egress is shaped with
tc-tbf.  lanes (netlink path, declared group ``lab`` = lab0 + lab1) and node_exporter
(netdev) run inside namespace A on 127.0.0.1; iperf3 sends from A to B.

What is proved:
(a) lanes' byte counters for the veths lie between two kernel reads (``ip -s -j link``)
    taken around simultaneous scrapes of lanes and node_exporter, and lanes and
    node_exporter differ by no more than the traffic between those two kernel reads;
(b) a declared group's member reads ``lanes_member_up 0`` on the first scrape after
    ``ip link set <veth> down``;
(c) the sampler's transmit peak shows a 3 s burst at the shaped rate that a 60 s average
    (bytes delta / 60, what a 1-minute rate() would show) hides;
(d) lanes live and lanes on a ``--record``ed snapshot of the namespace give the same
    links and the same series.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest
from conftest import ROOT
from helpers import parse_exposition, require, require_tool, value

from lab import netns as nx

pytestmark = pytest.mark.lab

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
SHAPED_BITS = 40_000_000  # tc rate on lab0's egress
SHAPED_RATE = SHAPED_BITS / 8  # bytes/s
NET0 = "fd6c:616e:6573:10"  # ULA (RFC 4193) prefixes of the two pairs
NET1 = "fd6c:616e:6573:11"
CONFIG = """\
groups:
  lab:
    members: [lab0, lab1]
    balancing: load
"""


class Lab:
    def __init__(self, a: nx.Netns, b: nx.Netns, tmp: str):
        self.a, self.b, self.tmp = a, b, tmp
        self.config = os.path.join(tmp, "config.yml")
        with open(self.config, "w") as f:
            f.write(CONFIG)
        self.lanes_port = self.node_port = self.iperf_port = 0

    def start(self) -> None:
        a, b = self.a, self.b
        nx.veth_pair(a, "lab0", b, "peer0")
        nx.veth_pair(a, "lab1", b, "peer1")
        nx.up(a, "lab0", f"{NET0}::1/64")
        nx.up(b, "peer0", f"{NET0}::2/64")
        nx.up(a, "lab1", f"{NET1}::1/64")
        nx.up(b, "peer1", f"{NET1}::2/64")
        nx.shape(a, "lab0", f"{SHAPED_BITS // 1_000_000}mbit")
        for ifname in ("lab0", "lab1"):
            nx.wait_oper_up(a, ifname)
        self.iperf_port = b.free_port()
        self.iperf_server = b.popen(["/usr/bin/iperf3", "-s", "-p", str(self.iperf_port)], log=os.path.join(self.tmp, "iperf3-server.log"))
        self.lanes_port = a.free_port()
        self.lanes = a.popen(
            [sys.executable, "-m", "exporter", "--config.file", self.config, "--collector.disable-defaults",
             "--collector.link", "--collector.groups", "--web.listen-address", f"127.0.0.1:{self.lanes_port}"],
            cwd=ROOT, log=os.path.join(self.tmp, "lanes.log"),
        )  # fmt: skip
        self.node_port = a.free_port()
        self.node = a.popen(
            [NODE_EXPORTER, "--collector.disable-defaults", "--collector.netdev", "--web.listen-address", f"127.0.0.1:{self.node_port}"],
            log=os.path.join(self.tmp, "node_exporter.log"),
        )
        a.wait_port(self.lanes_port, self.lanes)
        a.wait_port(self.node_port, self.node)
        # the server needs a moment before the first client; poll until it accepts
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.iperf_server.poll() is None:
            s = b.socket(nx.socket.AF_INET6)
            s.settimeout(1)
            try:
                s.connect((f"{NET0}::2", self.iperf_port))
                break
            except OSError:
                time.sleep(0.1)
            finally:
                s.close()

    def iperf(self, seconds: int, net: str = NET0, wait: bool = True):
        # -t bounds the run (iperf3 takes one end condition of -t/-n/-k); the shaping bounds
        # the bytes; the process timeout bounds everything
        argv = ["/usr/bin/iperf3", "-c", f"{net}::2", "-p", str(self.iperf_port), "-t", str(seconds), "--connect-timeout", "3000"]
        if wait:
            return self.a.exec(argv, timeout=seconds + 20)
        return self.a.popen(argv, log=os.path.join(self.tmp, "iperf3-client.log"))

    def scrape_lanes(self) -> dict:
        return parse_exposition(self.a.http_get(self.lanes_port))

    def scrape_both(self) -> tuple[dict, dict]:
        """lanes and node_exporter, requests sent at the same moment from two threads."""
        out: dict[str, object] = {}
        go = threading.Barrier(2, timeout=10)

        def get(key, port):
            try:
                go.wait()
                out[key] = self.a.http_get(port)
            except BaseException as e:  # re-raised below
                out[key] = e

        threads = [threading.Thread(target=get, args=(k, p)) for k, p in (("lanes", self.lanes_port), ("node", self.node_port))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        for k in ("lanes", "node"):
            if isinstance(out.get(k), BaseException) or k not in out:
                raise nx.LabError(f"scrape of {k} failed: {out.get(k)!r}")
        return parse_exposition(out["lanes"]), parse_exposition(out["node"])


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    require_tool("iperf3")
    require(os.path.exists(NODE_EXPORTER), f"{NODE_EXPORTER} missing (apt-get install prometheus-node-exporter)")
    ok, why = nx.can_use_namespaces()
    require(ok, why)
    tmp = str(tmp_path_factory.mktemp("lab"))
    a = nx.Netns("a")
    try:
        b = nx.Netns("b")
    except BaseException:
        a.close()
        raise
    lab = Lab(a, b, tmp)
    try:
        lab.start()
        yield lab
    finally:
        a.close()
        b.close()
        for name in ("lanes.log", "node_exporter.log"):
            path = os.path.join(tmp, name)
            if os.path.exists(path):  # shown by pytest -rA / on failure output
                with open(path, errors="replace") as f:
                    sys.stderr.write(f"--- {name} (tail)\n{f.read()[-1500:]}\n")


def _kernel(entry: dict, direction: str) -> int:
    return int(entry["stats64"][direction]["bytes"])


def test_counters_agree_with_kernel_and_node_exporter(lab):
    client = lab.iperf(6, wait=False)
    try:
        time.sleep(1.0)  # traffic flowing before the first read
        moving = 0
        for _ in range(3):
            before = lab.a.link_stats()
            lanes, node = lab.scrape_both()
            after = lab.a.link_stats()
            for ifname in ("lab0", "lab1"):
                for direction, lmetric, nmetric in (
                    ("rx", "lanes_link_receive_bytes_total", "node_network_receive_bytes_total"),
                    ("tx", "lanes_link_transmit_bytes_total", "node_network_transmit_bytes_total"),
                ):
                    lo, hi = _kernel(before[ifname], direction), _kernel(after[ifname], direction)
                    lv = value(lanes, lmetric, link=ifname)
                    nv = value(node, nmetric, device=ifname)
                    assert lv is not None and nv is not None, (ifname, direction, lv, nv)
                    assert lo <= lv <= hi, f"{ifname} {direction}: lanes {lv} outside kernel [{lo}, {hi}]"
                    assert lo <= nv <= hi, f"{ifname} {direction}: node_exporter {nv} outside kernel [{lo}, {hi}]"
                    assert abs(lv - nv) <= hi - lo, f"{ifname} {direction}: lanes {lv} vs node_exporter {nv}, traffic between reads {hi - lo}"
                    # the declared group member carries the same counter as the link
                    mv = value(lanes, f"lanes_member_{'receive' if direction == 'rx' else 'transmit'}_bytes_total", kind="declared", group="lab", member=ifname)
                    assert lo <= mv <= hi, (ifname, direction, mv, lo, hi)
            if _kernel(after["lab0"], "tx") > _kernel(before["lab0"], "tx"):
                moving += 1
            time.sleep(0.3)
        # the bound was exercised under traffic, not only on idle counters
        assert moving >= 1, "no traffic moved on lab0 between the kernel reads"
        assert _kernel(lab.a.link_stats()["lab0"], "tx") > 1_000_000
    finally:
        try:  # let it finish so the iperf3 server is free for the next test
            client.wait(timeout=15)
        except Exception:
            lab.a.stop(client)


def test_peak_shows_burst_a_minute_average_hides(lab):
    lab.scrape_lanes()  # closes the window and makes the sampler follow lab0/lab1
    time.sleep(2.5)  # the sampler takes its first reading of the members
    before = _kernel(lab.a.link_stats()["lab0"], "tx")
    started = time.monotonic()
    lab.iperf(3)
    burst_s = time.monotonic() - started
    time.sleep(1.5)  # the sampler's last interval of the burst is closed
    after = _kernel(lab.a.link_stats()["lab0"], "tx")
    samples = lab.scrape_lanes()
    peak = value(samples, "lanes_member_transmit_peak_bytes_per_second", kind="declared", group="lab", member="lab0")
    idle_peak = value(samples, "lanes_member_transmit_peak_bytes_per_second", kind="declared", group="lab", member="lab1")
    delta = after - before
    minute_avg = delta / 60.0
    print(f"burst {burst_s:.1f}s: {delta} bytes; 60 s average {minute_avg:.0f} B/s; peak {peak} B/s; shaped {SHAPED_RATE:.0f} B/s")
    assert delta > SHAPED_RATE, f"the burst moved only {delta} bytes"
    assert peak is not None, "no transmit peak for lab0"
    # the peak is the shaped rate (tbf lets a little burst through, the headers count too)
    assert 0.6 * SHAPED_RATE <= peak <= 1.5 * SHAPED_RATE, peak
    # ... which a one-minute average of the same bytes shows at a small fraction
    assert peak >= 8 * minute_avg, (peak, minute_avg)
    assert idle_peak is not None and idle_peak < 0.05 * SHAPED_RATE, idle_peak


def test_member_down_within_one_scrape(lab):
    pre = lab.scrape_lanes()
    assert value(pre, "lanes_member_up", kind="declared", group="lab", member="lab1") == 1
    assert value(pre, "lanes_group_members_up", kind="declared", group="lab") == 2
    lab.a.ip("link", "set", "lab1", "down")
    try:
        post = lab.scrape_lanes()
        assert value(post, "lanes_member_up", kind="declared", group="lab", member="lab1") == 0
        assert value(post, "lanes_member_up", kind="declared", group="lab", member="lab0") == 1
        assert value(post, "lanes_group_members_up", kind="declared", group="lab") == 1
        assert value(post, "lanes_group_members", kind="declared", group="lab") == 2
        assert value(post, "lanes_link_admin_up", link="lab1") == 0
    finally:
        lab.a.ip("link", "set", "lab1", "up")
        nx.wait_oper_up(lab.a, "lab1")
    again = lab.scrape_lanes()
    assert value(again, "lanes_member_up", kind="declared", group="lab", member="lab1") == 1


def _shape(samples: dict) -> dict[str, set]:
    """metric name -> set of label sets (values dropped)."""
    out: dict[str, set] = {}
    for name, labels in samples:
        out.setdefault(name, set()).add(labels)
    return out


@pytest.fixture(scope="module")
def live_and_replay(lab):
    """lanes --once live (netlink) in namespace A, then --record of A and --once on it."""
    args = ["--config.file", lab.config, "--collector.disable-defaults", "--collector.link", "--collector.groups"]
    snap = os.path.join(lab.tmp, "snapshot")
    live = lab.a.exec([sys.executable, "-m", "exporter", *args, "--once"], cwd=ROOT, timeout=60).stdout
    lab.a.exec([sys.executable, "-m", "exporter", *args, "--record", snap], cwd=ROOT, timeout=60)
    assert os.path.exists(os.path.join(snap, "snapshot.yml"))
    assert os.path.exists(os.path.join(snap, "root", "proc", "net", "dev"))
    replay = lab.a.exec([sys.executable, "-m", "exporter", *args, "--snapshot", snap, "--once"], cwd=ROOT, timeout=60).stdout
    return parse_exposition(live), parse_exposition(replay)


DROP = {"lanes_collector_duration_seconds", "lanes_exporter_build_info", "lanes_collector_last_success_timestamp_seconds"}


def _info(samples: dict) -> dict[str, dict]:
    return {dict(lbl)["link"]: dict(lbl) for lbl in _shape(samples)["lanes_link_info"]}


def test_live_and_recorded_snapshot_agree(live_and_replay):
    lv, rv = live_and_replay
    ls, rs = _shape(lv), _shape(rv)
    assert set(ls) - DROP == set(rs) - DROP
    links = {dict(lbl)["link"] for lbl in ls["lanes_link_up"]}
    assert links == {dict(lbl)["link"] for lbl in rs["lanes_link_up"]}
    assert {"lo", "lab0", "lab1"} <= links
    for name in sorted(set(ls) - DROP):
        if name == "lanes_link_info":
            continue  # compared label by label (kind: the next test)
        assert ls[name] == rs[name], name
    info_live, info_rec = _info(lv), _info(rv)
    for link in links:
        for key in ("mac", "master", "driver"):
            assert info_live[link][key] == info_rec[link][key], (link, key, info_live[link], info_rec[link])
    # counters exist on both paths; the recording, made after the live read, is not behind it
    for link in ("lab0", "lab1"):
        assert value(rv, "lanes_link_transmit_bytes_total", link=link) is not None
        assert value(lv, "lanes_link_transmit_bytes_total", link=link) <= value(rv, "lanes_link_transmit_bytes_total", link=link)
    assert value(rv, "lanes_collector_success", collector="link") == 1
    assert value(rv, "lanes_collector_success", collector="groups") == 1


def test_live_and_recorded_snapshot_agree_on_link_kind(live_and_replay):
    """The kind comes from netlink (IFLA_INFO_KIND) live; the bundle carries the link dump
    (more kinds: tests/lab/test_record_lab.py)."""
    lv, rv = live_and_replay
    info_live, info_rec = _info(lv), _info(rv)
    assert info_live["lab0"]["kind"] == "veth"
    for link in ("lo", "lab0", "lab1"):
        assert info_live[link]["kind"] == info_rec[link]["kind"], (link, info_live[link], info_rec[link])
