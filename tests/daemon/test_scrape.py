"""Scrape orchestration and the peak sampler."""

import threading
import time

from exporter.api import Collector, Context
from exporter.metrics import gauge, merge, render
from exporter.model import Group, Member, MemberMemory, group_families
from exporter.sampler import Sampler
from exporter.scrape import Scraper


class Stuck(Collector):
    name = "stuck"
    platforms = frozenset({"linux"})

    def __init__(self, host, ctx):
        super().__init__(host, ctx)
        self.release = threading.Event()
        self.starts = 0

    def collect(self):
        self.starts += 1
        self.release.wait(30)
        return []


class Fine(Collector):
    name = "fine"
    platforms = frozenset({"linux"})

    def collect(self):
        g = gauge("fine", "test", ("x",))
        g.add(("b",), 2)
        g.add(("a",), 1)
        return [g]


def success(families, name):
    for f in families:
        if f.name == "lanes_collector_success":
            return dict(f.samples)[(name,)]


def test_stuck_collector_times_out_and_is_not_started_twice():
    stuck = Stuck(None, Context("stuck"))
    scraper = Scraper([stuck, Fine(None, Context("fine"))], {"stuck": 0.3, "fine": 5}, "linux")
    t0 = time.monotonic()
    first = scraper.scrape()
    assert time.monotonic() - t0 < 3
    assert success(first, "stuck") == 0 and success(first, "fine") == 1
    second = scraper.scrape()
    assert success(second, "stuck") == 0 and stuck.starts == 1  # still stuck: not started again
    assert "still running" in scraper.runners[0].status.error
    stuck.release.set()
    time.sleep(0.1)
    scraper.scrape()
    assert stuck.starts == 2


def test_output_is_sorted_and_deterministic():
    scraper = Scraper([Fine(None, Context("fine"))], {}, "linux")
    text = render(scraper.scrape()).decode()
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert names == sorted(names)
    assert text.index('lanes_fine{x="a"}') < text.index('lanes_fine{x="b"}')


def test_group_families_merge_across_collectors():
    a = group_families([Group("bond", "bond0", "802.3ad", "load", (Member("eth0", True, 1, 2, 3),))])
    b = group_families([Group("declared", "g", "declared", "load", (Member("eth1", False),), expected=2)])
    fams = {f.name: f for f in merge([*a, *b])}
    assert fams["lanes_group_members"].samples == [(("bond", "bond0"), 1), (("declared", "g"), 2)]
    assert fams["lanes_group_members_up"].samples == [(("bond", "bond0"), 1), (("declared", "g"), 0)]
    assert "# TYPE lanes_group_info gauge" in render(fams.values()).decode()


def test_member_memory_keeps_vanished_members_down():
    mem = MemberMemory()
    g1 = Group("iscsi", "iqn.t", "sessions", "load", (Member("p1", True), Member("p2", True)))
    mem.apply([g1])
    (g2,) = mem.apply([Group("iscsi", "iqn.t", "sessions", "load", (Member("p1", True),))])
    assert [(m.name, m.up) for m in g2.members] == [("p1", True), ("p2", False)]
    assert mem.apply([]) == []  # the whole group is gone: forgotten
    (g3,) = mem.apply([Group("iscsi", "iqn.t", "sessions", "load", (Member("p1", True),))])
    assert len(g3.members) == 1


def test_sampler_peak_is_the_highest_interval_rate(monkeypatch):
    counters = {"eth0": (0, 0)}
    clock = [100.0]
    monkeypatch.setattr("exporter.sampler.time.monotonic", lambda: clock[0])
    s = Sampler(1.0, lambda source: (lambda keys: dict(counters)) if source == "link" else None)
    s.want("link", ["eth0"])
    steps = [(1.0, 1000, 10), (1.0, 1000, 10), (0.5, 4000, 0), (1.0, 0, 500)]
    s.sample_once()
    for dt, drx, dtx in steps:
        clock[0] += dt
        rx, tx = counters["eth0"]
        counters["eth0"] = (rx + drx, tx + dtx)
        s.sample_once()
    assert s.peak("link", "eth0") is None  # window not closed yet
    s.roll()
    assert s.peak("link", "eth0") == (8000.0, 500.0)  # 4000 B in 0.5 s; 500 B in 1 s
    # a counter reset gives no rate for that interval, and a new window starts empty
    counters["eth0"] = (10, 10)
    clock[0] += 1
    s.sample_once()
    s.roll()
    assert s.peak("link", "eth0") is None


def test_sampler_thread_starts_and_stops():
    reads = []
    s = Sampler(0.05, lambda source: (lambda keys: reads.append(1) or {"x": (len(reads), 0)}))
    s.want("link", ["x"])
    s.start()
    time.sleep(0.4)
    s.stop()
    n = len(reads)
    assert n >= 3
    time.sleep(0.2)
    assert len(reads) == n


def test_private_registry_filters_by_name():
    from prometheus_client import CollectorRegistry, generate_latest

    from exporter.scrape import RegistryCollector

    scraper = Scraper([Fine(None, Context("fine"))], {}, "linux")
    scraper.scrape()  # describe() knows the families of the last scrape
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RegistryCollector(scraper))
    text = generate_latest(registry.restricted_registry(["lanes_fine"])).decode()
    assert 'lanes_fine{x="a"} 1.0' in text and "lanes_collector_success" not in text


def test_device_vanishing_mid_scrape_is_skipped(tmp_path):
    import os

    from collectors.link_linux import read_links_sysfs
    from exporter.host import LiveHost

    for name in ("eth0", "eth1"):
        d = tmp_path / "sys/class/net" / name
        d.mkdir(parents=True)
        (d / "operstate").write_text("up\n")
        (d / "mtu").write_text("1500\n")
    (tmp_path / "proc/net").mkdir(parents=True)
    (tmp_path / "proc/net/dev").write_text("h\nh\n  eth0: 1 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n")
    host = LiveHost(str(tmp_path))
    real = host.listdir

    def listdir_then_vanish(path):
        names = real(path)
        if path == "/sys/class/net":  # eth1 is unplugged between the listing and its reads
            for f in os.listdir(tmp_path / "sys/class/net/eth1"):
                os.remove(tmp_path / "sys/class/net/eth1" / f)
            os.rmdir(tmp_path / "sys/class/net/eth1")
        return names

    host.listdir = listdir_then_vanish
    links = read_links_sysfs(host)
    assert list(links) == ["eth0"] and links["eth0"].rx_bytes == 1 and links["eth0"].tx_bytes == 3
