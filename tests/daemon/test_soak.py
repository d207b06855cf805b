"""Sequential scrapes do not leak (SPEC §10: 10,000 scrapes grow RSS by < 5 MB).

Runs every Linux collector on the MPIO scenario in-process, renders each scrape, and
compares the resident set after a warm-up with the one at the end.  The count is
LANES_SOAK_SCRAPES (default 1000; the SPEC figure is 10,000: set it for a full run).
"""

import gc
import os

import psutil
from helpers import SCENARIOS

import collectors
from exporter.api import Context
from exporter.cli import collector_options
from exporter.config import load_config
from exporter.host import SnapshotHost
from exporter.metrics import render
from exporter.sampler import Sampler
from exporter.scrape import Scraper


def test_rss_stays_flat_over_many_scrapes():
    scen = os.path.join(SCENARIOS, "linux-declared-mpio")
    config = load_config(os.path.join(scen, "config.yml"), collector_options())
    host = SnapshotHost(scen)
    sampler = Sampler(1.0, lambda source: None)
    instances = [cls(host, Context(cls.name, config.collectors.get(cls.name, {}), config, sampler)) for cls in collectors.for_platform("linux")]
    scraper = Scraper(instances, {}, "linux", sampler)
    proc = psutil.Process()
    n = int(os.environ.get("LANES_SOAK_SCRAPES", "1000"))
    for _ in range(200):
        render(scraper.scrape())
    gc.collect()
    before = proc.memory_info().rss
    for _ in range(n):
        body = render(scraper.scrape())
    gc.collect()
    grown = proc.memory_info().rss - before
    assert b"lanes_link_up" in body
    assert grown < 5 * 1024 * 1024, f"RSS grew by {grown / 1e6:.1f} MB over {n} scrapes"


# ------------------------------------------------------------------ hanging tools and churn
#
# Default tier: a short run of each.  Soak tier (``pytest -m soak tests/test_soak.py``):
# LANES_SOAK_SCRAPES (default 10,000) scrapes each, as SPEC §10 states them.

import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402

from exporter.api import Collector  # noqa: E402
from exporter.host import LiveHost  # noqa: E402
from exporter.metrics import counter, gauge  # noqa: E402

SOAK_N = int(os.environ.get("LANES_SOAK_SCRAPES", "10000"))

#: a tool that hangs after forking a descendant that leaves its process group and keeps
#: stdout open (a daemonizing helper); the descendant ends itself after 3 s
HANGING = """
import os, time
if os.fork() == 0:
    os.setsid()
    time.sleep(3)
    os._exit(0)
print("started", flush=True)
time.sleep(60)
"""


class HangingTool(Collector):
    name = "hanging"
    platforms = frozenset({"linux"})

    def collect(self):
        self.host.run("helper", [], timeout=0.05)  # always times out
        return []


class Churn(Collector):
    """Interfaces that come and go with a new name every scrape (veth churn)."""

    name = "churn"
    platforms = frozenset({"linux"})
    n = 0

    def collect(self):
        type(self).n += 1
        g = gauge("test_churn_up", "test", ("link",))
        c = counter("test_churn_bytes_total", "test", ("link",))
        for i in range(200):
            name = f"veth{self.n}x{i}"
            g.add((name,), 1)
            c.add((name,), self.n * 1000 + i)
        return [g, c]


def _counts(proc) -> tuple[int, int, int]:
    zombies = sum(1 for c in proc.children(recursive=True) if c.status() == psutil.STATUS_ZOMBIE)
    return len(os.listdir("/proc/self/fd")), proc.num_threads(), zombies


def _hanging_scrapes(n: int) -> None:
    host = LiveHost(commands={"helper": [sys.executable, "-c", HANGING]})
    scraper = Scraper([HangingTool(host, Context("hanging"))], {"hanging": 5.0}, "linux")
    proc = psutil.Process()
    # one "collector failed" warning per scrape: pytest's log capture would keep every
    # record (about 1 kB each) and count as growth
    logging.disable(logging.WARNING)
    try:
        for _ in range(5):
            scraper.scrape()
        time.sleep(3.5)  # the warm-up's descendants are gone
        gc.collect()
        fds0, threads0, _z = _counts(proc)
        rss0 = proc.memory_info().rss
        for _ in range(n):
            fams = scraper.scrape()
        time.sleep(3.5)
        fds1, threads1, zombies = _counts(proc)
        grown = proc.memory_info().rss - rss0
    finally:
        logging.disable(logging.NOTSET)
        scraper.close()
    ok = next(f for f in fams if f.name == "lanes_collector_success")
    assert ok.samples == [(("hanging",), 0)]  # timed out, every time
    print(f"{n} scrapes of a hanging tool: fds {fds0}->{fds1}, threads {threads0}->{threads1}, zombies {zombies}, RSS +{grown / 1e6:.1f} MB")
    assert fds1 <= fds0 and threads1 <= threads0 and zombies == 0
    assert grown < 5 * 1024 * 1024


def _churn_scrapes(n: int) -> None:
    scraper = Scraper([Churn(None, Context("churn"))], {}, "linux")
    proc = psutil.Process()
    try:
        for _ in range(100):
            render(scraper.scrape(), scraper.series)
        gc.collect()
        rss0 = proc.memory_info().rss
        for _ in range(n):
            render(scraper.scrape(), scraper.series)
        gc.collect()
        grown = proc.memory_info().rss - rss0
    finally:
        scraper.close()
    print(f"{n} scrapes with 200 new interface names each: render cache {len(scraper.series)} entries, RSS +{grown / 1e6:.1f} MB")
    assert len(scraper.series) <= 400 + 10  # this scrape's series only
    assert grown < 5 * 1024 * 1024


def test_hanging_tool_short():
    _hanging_scrapes(20)


def test_interface_churn_short():
    _churn_scrapes(300)


@pytest.mark.soak
def test_hanging_tool_soak():
    _hanging_scrapes(SOAK_N)


@pytest.mark.soak
def test_interface_churn_soak():
    _churn_scrapes(SOAK_N)


def test_flows_churn():
    """SPEC §13: a flow that closes disappears.  10,000 short loopback connections
    (LANES_SOAK_FLOWS), 100 at a time, each batch open across a scrape and a sampler pass,
    then closed: afterwards no flow series, nothing followed by the sampler, no cached route,
    and RSS within 5 MB of where it was after the first batches."""
    import socket
    import struct
    import sys

    import pytest

    if not sys.platform.startswith("linux"):
        pytest.skip("sock_diag is Linux")
    from collectors.flows_linux import FlowsLinux
    from exporter.api import SAMPLE_READERS
    from exporter.config import Config
    from exporter.host import LiveHost

    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(256)
    port = ls.getsockname()[1]
    host = LiveHost()
    sampler = Sampler(1.0, lambda source: (lambda keys: SAMPLE_READERS[(source, "linux")](host, keys)) if (source, "linux") in SAMPLE_READERS else None)
    ctx = Context("flows", {"ports": [port]}, Config(), sampler)
    flows = FlowsLinux(host, ctx)
    scraper = Scraper([flows], {"flows": 30.0}, "linux", sampler)
    proc = psutil.Process()
    total = int(os.environ.get("LANES_SOAK_FLOWS", "10000"))
    batch = 100
    linger = struct.pack("ii", 1, 0)  # close with RST: no TIME_WAIT pile-up on loopback

    def one_batch(i: int) -> int:
        conns = []
        for _ in range(batch):
            c = socket.create_connection(("127.0.0.1", port))
            a, _ = ls.accept()
            c.sendall(b"x" * 100)
            conns += [c, a]
        sampler.sample_once()
        fams = scraper.scrape()
        sampler.sample_once()
        seen = sum(len(f.samples) for f in fams if f.name == "lanes_flow_info")
        for s in conns:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            s.close()
        return seen

    try:
        assert one_batch(0) == 2 * batch  # both ends are on this host
        for i in range(1, 10):
            one_batch(i)
        gc.collect()
        before = proc.memory_info().rss
        for i in range(10, total // batch):
            assert one_batch(i) == 2 * batch
        final = scraper.scrape()
        sampler.sample_once()
        gc.collect()
        grown = proc.memory_info().rss - before
    finally:
        scraper.close()
        ls.close()
        host.close()
    assert not [f for f in final if f.name.startswith("lanes_flow_") and f.samples], "closed flows still exported"
    assert sampler._wanted.get("flows") == frozenset(), "the sampler still follows closed flows"
    assert not sampler._prev.get("flows", (0, {}))[1], "the sampler still holds counters of closed flows"
    assert flows._route_cache == {}, "route answers of closed flows kept"
    assert grown < 5 * 1024 * 1024, f"RSS grew by {grown / 1e6:.1f} MB over {total} connections"
