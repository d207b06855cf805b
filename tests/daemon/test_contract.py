"""The collector contract (exporter/api.py): collect() returns Collected(families, groups);
the scrape runner applies member memory, adds the sampler's peaks and renders the group
series inside the collector's all-or-nothing boundary."""

from __future__ import annotations

from exporter.api import Collected, Collector, Context, Facts, Group, Member, gauge
from exporter.scrape import Scraper, collect_families


class Paths(Collector):
    """A technology collector whose model is whatever the test sets in ``self.members``."""

    name = "paths"
    platforms = frozenset({"linux"})

    def __init__(self, host, ctx):
        super().__init__(host, ctx)
        self.members: tuple[Member, ...] | None = (Member("p1", True, 10, 20, 100), Member("p2", True, 1, 2, 100))
        self.broken_group = False
        self.absent = False

    def collect(self):
        if self.absent:
            return []  # subsystem absent this time: no groups, memory kept
        own = gauge("paths_things", "test", ("x",))
        own.add(("a",), 1)
        groups = [Group("test", "g0", "rr", "load", self.members)]
        if self.broken_group:
            groups.append("not a group")
        return Collected([own], groups)


def series(families):
    return {(f.name, lv): v for f in families for lv, v in f.samples}


def test_runner_renders_groups_and_remembers_vanished_members():
    c = Paths(None, Context("paths"))
    first = series(collect_families(c))
    assert first[("lanes_paths_things", ("a",))] == 1
    assert first[("lanes_group_members", ("test", "g0"))] == 2
    assert first[("lanes_member_receive_bytes_total", ("test", "g0", "p1"))] == 10
    c.members = c.members[:1]  # p2 vanishes
    second = series(collect_families(c))
    assert second[("lanes_group_members", ("test", "g0"))] == 2
    assert second[("lanes_group_members_up", ("test", "g0"))] == 1
    assert second[("lanes_member_up", ("test", "g0", "p2"))] == 0
    assert second[("lanes_member_speed_bytes", ("test", "g0", "p2"))] == 100
    c.absent = True
    assert collect_families(c) == []
    c.absent = False
    third = series(collect_families(c))
    assert third[("lanes_member_up", ("test", "g0", "p2"))] == 0  # an absent run forgets nothing


def test_a_bad_group_fails_the_collector_with_none_of_its_series():
    c = Paths(None, Context("paths"))
    c.broken_group = True
    scraper = Scraper([c], {"paths": 5}, "linux")
    got = series(scraper.scrape())
    assert got[("lanes_collector_success", ("paths",))] == 0
    assert not [k for k in got if k[0].startswith(("lanes_group_", "lanes_member_", "lanes_paths_"))]
    assert "not a Group" in scraper.runners[0].status.error


def test_needs_members_drops_a_group_nobody_was_ever_in():
    class Targets(Paths):
        def collect(self):
            return Collected([], [Group("iscsi_target", "t0", "stmf", "load", (), needs_members=True), Group("iscsi_target", "t1", "stmf", "load", (), expected=2, needs_members=True)])

    got = series(collect_families(Targets(None, Context("t"))))
    assert ("lanes_group_info", ("iscsi_target", "t0", "stmf", "load")) not in got
    assert got[("lanes_group_members", ("iscsi_target", "t1"))] == 2


def test_facts_are_computed_once_per_scrape_by_provider():
    calls = []

    def provider():
        calls.append(1)
        return {"eth0": 1}

    facts = Facts()
    assert facts.once(provider, provider) is facts.once(provider, provider)
    assert len(calls) == 1


def test_sampler_peaks_are_added_by_the_runner():
    class Sampler:
        def __init__(self):
            self.wanted = {}

        def peak(self, source, key):
            return (5.0, 6.0) if key == "eth0" else None

        def want(self, source, keys):
            self.wanted[source] = set(keys)

    class Nic(Paths):
        def collect(self):
            return Collected([], [Group("bond", "bond0", "802.3ad", "load", (Member("eth0", True, sample=("link", "eth0")), Member("eth1", True)))])

    sampler = Sampler()
    got = series(collect_families(Nic(None, Context("nic")), sampler))
    assert got[("lanes_member_receive_peak_bytes_per_second", ("bond", "bond0", "eth0"))] == 5.0
    assert ("lanes_member_receive_peak_bytes_per_second", ("bond", "bond0", "eth1")) not in got
    assert sampler.wanted == {"link": {"eth0"}}
