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
