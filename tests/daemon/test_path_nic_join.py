"""Every storage path joins to the NIC it runs over (issue 4 item 4).

For each scenario with storage paths: every ``lanes_path_info`` series names a ``netdev``
that has a ``lanes_link_info{link=netdev}`` and that NIC's byte counters; every
kind=multipath member has exactly one ``lanes_path_info``; a path's
``lanes_member_speed_bytes`` equals its NIC's ``lanes_link_speed_bytes``; and every iSCSI
session's netdev joins the same way.  The expected outputs are what ``--once`` prints for the
scenarios (tests/test_scenarios.py proves it), so this is the exposition a user gets.
"""

import pytest
from helpers import parse_exposition, read_expected, scenario_names

STORAGE = [n for n in scenario_names("linux") if n.startswith(("linux-mpio-", "linux-iscsi-"))]


def _load(name):
    return parse_exposition(read_expected(name))


def _series(samples, metric):
    return [dict(labels) for (n, labels), _v in samples.items() if n == metric]


def _value(samples, metric, **labels):
    return samples.get((metric, tuple(sorted(labels.items()))))


def test_there_are_storage_scenarios():
    assert len(STORAGE) >= 6, STORAGE


@pytest.mark.parametrize("name", STORAGE)
def test_every_path_joins_a_nic_with_counters(name):
    s = _load(name)
    links = {d["link"] for d in _series(s, "lanes_link_info")}
    paths = _series(s, "lanes_path_info")
    members = {(d["group"], d["member"]) for d in _series(s, "lanes_member_up") if d["kind"] == "multipath"}
    present = {(d["group"], d["member"]) for d in paths}
    assert paths, "no lanes_path_info"
    # every path the kernel still has is described (vanished ones have no info to give)
    assert present <= members
    assert len(present) == len(paths)
    for p in paths:
        nic = p["netdev"]
        assert nic in links, f"{p['member']}: netdev {nic!r} has no lanes_link_info"
        assert _value(s, "lanes_link_receive_bytes_total", link=nic) is not None
        assert _value(s, "lanes_link_transmit_bytes_total", link=nic) is not None
        assert p["portal"] and p["target"].startswith("iqn.") and p["transport"] == "iscsi"
        speed = _value(s, "lanes_link_speed_bytes", link=nic)
        mspeed = _value(s, "lanes_member_speed_bytes", kind="multipath", group=p["group"], member=p["member"])
        assert mspeed == speed, f"{p['member']}: member speed {mspeed} != {nic} speed {speed}"
    for d in _series(s, "lanes_iscsi_session_info"):
        assert d["netdev"] in links, d


def test_mpio_paths_run_over_two_nics_and_one_nic():
    """The healthy map spreads over ens1f0 and ens2f0; the one-NIC scenario shows both
    paths on ens1f0 although the ifaces are not bound (the route to the portals decides)."""

    def nics(name):
        return {d["member"]: (d["netdev"], d["portal"], d["iface"]) for d in _series(_load(name), "lanes_path_info")}

    assert nics("linux-mpio-round-robin-healthy") == {
        "sdc": ("ens1f0", "192.168.10.20:3260", "iface-ens1f0"),
        "sdd": ("ens2f0", "192.168.20.20:3260", "iface-ens2f0"),
    }
    assert nics("linux-mpio-one-nic") == {
        "sdc": ("ens1f0", "192.168.10.20:3260", "default"),
        "sdd": ("ens1f0", "192.168.10.21:3260", "default"),
    }


def test_vanished_members_still_count():
    s = _load("linux-iscsi-logged-out")
    target = "iqn.2003-01.org.linux-iscsi.stor-a.x8664:sn.5b2e0c3a1f77"
    # the node record keeps the logged-out session as a member that is down
    assert _value(s, "lanes_group_members", kind="iscsi", group=target) == 2
    assert _value(s, "lanes_member_up", kind="iscsi", group=target, member="192.168.20.20:3260@iface-ens2f0") == 0
    # expect: keeps the map's lost path in the count although the kernel forgot sdd
    assert _value(s, "lanes_group_members", kind="multipath", group="mpatha") == 2
    assert _value(s, "lanes_group_members_up", kind="multipath", group="mpatha") == 1


def test_distractors_do_not_show():
    for name in STORAGE:
        s = _load(name)
        maps = {d["map"] for d in _series(s, "lanes_multipath_map_info")}
        # not mpatha1 (kpartx), not vg0-root (LVM); mpathb is the second LUN of the ALUA scenario
        assert "mpatha" in maps and not maps - {"mpatha", "mpathb"}, (name, maps)
        paths = {d["path"] for d in _series(s, "lanes_multipath_path_scsi_state")}
        assert not paths & {"sda", "sda1", "sda2", "dm-4", "dm-5"}, (name, paths)
