"""Collector ``link``, one class body for every platform: the link table of the scrape
(``_facts.links``, filled by the reader the platform's link module registers in
``_link_common.LINK_READERS``), filtered by ``include``/``exclude``, rendered with the
platform's HELP ``SOURCES``.  ``link_linux``, ``link_illumos`` and ``link_freebsd`` subclass
it with their platform and sources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from collectors import _facts
from collectors._link_common import LinkFilter, link_families
from exporter.api import Collector, Context, Family, Host


class LinkCollector(Collector):
    name = "link"
    OPTIONS: ClassVar[Mapping[str, str]] = {"include": "regex", "exclude": "regex"}
    description = "Every network interface: state, speed, MTU, byte/packet/error/drop counters"
    SOURCES: ClassVar[Mapping[str, str]] = {}

    def __init__(self, host: Host, ctx: Context) -> None:
        super().__init__(host, ctx)
        self.filter = LinkFilter(ctx.option("include"), ctx.option("exclude"))

    def collect(self) -> list[Family]:
        links = _facts.links(self.host, self.ctx)
        return link_families((link for name, link in sorted(links.items()) if self.filter(name)), self.SOURCES)
