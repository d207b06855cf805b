"""lanes_member_preferred (SPEC §12): each technology's own truth, function by function.

Cases are the configurations storage admins run: ALUA group_by_prio maps (2 optimized + 2
non-optimized paths), failover maps without ALUA, a failed-back group_by_prio map, NVMe ANA,
MPxIO asymmetric LUs (the real `mpathadm show lu` capture of the mpxio scenario), bonds and
teams in active-backup, IPMP standby, and iSCSI sessions under their maps.
"""

from __future__ import annotations

import dataclasses
import os
from types import SimpleNamespace as NS

from conftest import ROOT

from collectors import ipmp_illumos, iscsi_linux, mpxio_illumos, nvme_linux, team_linux
from collectors.bond_linux import groups as bond_groups
from collectors.mpxio_illumos import parse_show_lu
from collectors.multipath_linux import groups as mp_groups
from collectors.multipath_linux.model import MapState, PathGroup, PathView
from exporter import model


def path(dev, access=None, group=None, active=None, dm="active", rd=0):
    return PathView(
        map="m", dev=dev, scsi_state="running", access_state=access, dm_state=dm, checker=None, group=group, group_active=active,
        priority=None, fail_count=None, io_errors=None, io_timeouts=None, read_bytes=rd, written_bytes=0,
    )


def mapview(paths, pgs=()):
    state = MapState("m", "dm-0", "w", None, None, None, None, None, tuple(pgs), "multipathd") if pgs else None
    return NS(name="m", wwid="w", paths=tuple(paths), state=state, selector="service-time 0", policy="group_by_prio")


def pg(index, prio, state, devs):
    return PathGroup(index=index, state=state, selector="service-time 0", priority=prio, paths=tuple(NS(dev=d) for d in devs))


def test_alua_group_by_prio_prefers_optimized_paths():
    m = mapview(
        [path("sdc", "active/optimized", 1, True), path("sdd", "active/optimized", 1, True),
         path("sde", "active/non-optimized", 2, False), path("sdf", "active/non-optimized", 2, False)],
        [pg(1, 50, "active", ["sdc", "sdd"]), pg(2, 10, "enabled", ["sde", "sdf"])],
    )
    assert mp_groups.preferred_paths(m) == {"sdc", "sdd"}
    (g,) = mp_groups.to_groups([m], {})
    assert g.balancing == "load"
    assert {mb.name: mb.is_preferred for mb in g.members} == {"sdc": True, "sdd": True, "sde": False, "sdf": False}


def test_alua_without_optimized_paths_prefers_non_optimized():
    m = mapview([path("sdc", "active/non-optimized"), path("sdd", "standby")])
    assert mp_groups.preferred_paths(m) == {"sdc"}


def test_failover_map_without_alua_prefers_the_active_group():
    m = mapview(
        [path("sdc", None, 1, True), path("sdd", None, 2, False)],
        [pg(1, 1, "active", ["sdc"]), pg(2, 1, "enabled", ["sdd"])],
    )
    assert mp_groups.preferred_paths(m) == {"sdc"}
    (g,) = mp_groups.to_groups([m], {})
    assert g.balancing == "failover"


def test_group_by_prio_not_failed_back_prefers_the_higher_priority_group():
    # the low-priority group is active although the high-priority group has usable paths
    m = mapview(
        [path("sdc", None, 1, False), path("sdd", None, 2, True)],
        [pg(1, 50, "enabled", ["sdc"]), pg(2, 10, "active", ["sdd"])],
    )
    assert mp_groups.preferred_paths(m) == {"sdc"}
    # ... and when those paths are gone, the group that is left
    m2 = mapview([path("sdc", None, 1, False, dm="failed"), path("sdd", None, 2, True)], [pg(1, 50, "enabled", ["sdc"]), pg(2, 10, "active", ["sdd"])])
    assert mp_groups.preferred_paths(m2) == {"sdd"}


def test_no_alua_no_groups_every_up_path_is_preferred():
    m = mapview([path("sdc"), path("sdd", dm="failed")])
    assert mp_groups.preferred_paths(m) is None
    (g,) = mp_groups.to_groups([m], {})
    assert {mb.name: mb.is_preferred for mb in g.members} == {"sdc": True, "sdd": False}


def test_iscsi_sessions_take_preference_and_balancing_from_their_maps():
    roles = {"sdc": (True, "load"), "sdd": (True, "load"), "sde": (False, "load"), "sdf": (False, "load")}
    # ALUA: sessions A,B carry the optimized paths of every LUN, C,D the non-optimized
    pref, bal = iscsi_linux.session_judgement({"A": ["sdc"], "B": ["sdd"], "C": ["sde"], "D": ["sdf"]}, roles)
    assert pref == {"A": True, "B": True, "C": False, "D": False} and bal == "load"
    # failover maps: the sessions do not share a load
    pref, bal = iscsi_linux.session_judgement({"A": ["sdc"], "B": ["sdd"]}, {"sdc": (True, "failover"), "sdd": (False, "failover")})
    assert pref == {"A": True, "B": False} and bal == "failover"
    # LUNs split over the controllers: session A optimized for one LUN, not for the other
    pref, bal = iscsi_linux.session_judgement({"A": ["sdc", "sde"], "B": ["sdd", "sdf"]}, {"sdc": (True, "failover"), "sde": (False, "failover"), "sdd": (False, "failover"), "sdf": (True, "failover")})
    assert pref == {"A": True, "B": True} and bal == "failover"
    # no disk in any map: nothing to say
    assert iscsi_linux.session_judgement({"A": ["sdx"]}, roles) == ({}, None)


def test_nvme_ana():
    assert nvme_linux.best_ana(["optimized", "non-optimized", "inaccessible"]) == "optimized"
    assert nvme_linux.best_ana(["non-optimized", "inaccessible"]) == "non-optimized"
    assert nvme_linux.best_ana([None, None]) is None


def test_mpxio_active_target_port_group_from_a_real_capture():
    with open(os.path.join(ROOT, "tests/scenarios/illumos-storage-mpxio/commands/mpathadm_show_lu_%2Fscsi_vhci%2Fdisk%40g600a0b8000492c63000005fd49e8305b.out"), encoding="utf-8") as f:
        (lu,) = parse_show_lu(f.read())
    assert [(t.id, t.access_state, t.ports) for t in lu.tpgs] == [("1", "active", ("203400a0b8492c63",)), ("2", "standby", ("201400a0b8492c63",))]
    ports = mpxio_illumos.preferred_ports([(mpxio_illumos._state_word(t.access_state), t.ports) for t in lu.tpgs], [p.target_port for p in lu.paths])
    assert ports == {"203400a0b8492c63"}
    # port names of the groups that match no path (iSCSI names differ between the sections,
    # research/illumos.md): not comparable, every path counts as preferred
    iscsi = [("active_optimized", ["iqn.2010-08.org.illumos:02:9f3c,t,0x0001"])]
    assert mpxio_illumos.preferred_ports(iscsi, ["4000002a0000,iqn.2010-08.org.illumos:02:9f3c,1"]) is None
    assert mpxio_illumos.preferred_ports([("active_not_optimized", ["a"]), ("standby", ["b"])]) == {"a"}
    assert mpxio_illumos.preferred_ports([]) is None


def test_active_backup_bond_and_team_prefer_the_active_port():
    bond = NS(mode="active-backup", active_slave="eth1")
    assert bond_groups.member_preferred(bond, NS(name="eth1")) is True
    assert bond_groups.member_preferred(bond, NS(name="eth0")) is False
    # no active_slave known: the member's own bonding_slave/state
    assert bond_groups.member_preferred(NS(mode="active-backup", active_slave=""), NS(name="eth0", state="backup")) is False
    assert bond_groups.member_preferred(NS(mode="802.3ad", active_slave=""), NS(name="eth0", state="active")) is None
    team = NS(runner="activebackup", active_port="eno2")
    assert team_linux.port_preferred(team, NS(name="eno2")) is True
    assert team_linux.port_preferred(team, NS(name="eno1")) is False
    assert team_linux.port_preferred(NS(runner="lacp", active_port=None), NS(name="eno1")) is None


def test_ipmp_standby_is_not_preferred_until_it_takes_over():
    g = NS(active=("igb0",))
    assert ipmp_illumos.member_preferred(g, "igb0", NS(active=True)) is True
    assert ipmp_illumos.member_preferred(g, "igb1", NS(active=False)) is False
    assert ipmp_illumos.member_preferred(g, "igb0", None) is True


def test_a_down_member_is_never_preferred_and_vanished_members_are_not():
    assert not model.Member("a", up=False, preferred=True).is_preferred
    assert model.Member("a", up=True).is_preferred
    mem = model.MemberMemory()
    g = model.Group("bond", "b", "x", "load", (model.Member("a", True), model.Member("b", True)))
    mem.apply([g])
    (g2,) = mem.apply([dataclasses.replace(g, members=(model.Member("a", True),))])
    assert [(m.name, m.up, m.is_preferred) for m in g2.members] == [("a", True, True), ("b", False, False)]


def test_iscsi_never_waits_long_for_the_multipath_collector():
    """The hand-over of the map roles is bounded: with the multipath collector stuck in this
    scrape, the iSCSI collector takes its previous run's roles after the wait."""
    import time

    from collectors import _path_roles
    from exporter.api import Context

    class FakeHost:
        pass

    host = FakeHost()
    assert _path_roles.roles_for(host, Context("t")) == {}, "no multipath collector: nothing to wait for"
    _path_roles.enable(host)
    _path_roles.publish(host, Context("t"), {"sdc": (True, "failover")})  # an earlier scrape
    shared = Context("t")
    t0 = time.monotonic()
    assert _path_roles.roles_for(host, shared, timeout=0.2) == {"sdc": (True, "failover")}
    assert time.monotonic() - t0 < 2
    # this scrape's roles, once the multipath collector hands them over
    shared = Context("t")
    _path_roles.publish(host, shared, {"sdd": (False, "load")})
    assert _path_roles.roles_for(host, shared, timeout=0.2) == {"sdd": (False, "load")}
