"""The FreeBSD lagg collector: ``ifconfig -v <lagg>`` parsing (sbin/ifconfig/iflagg.c
lagg_status), member-up and preferred rules per protocol (sys/net/if_lagg.c
lagg_port2req), the derived LACP checks, and the collector on a fake host."""

from __future__ import annotations

import os

import pytest
from builders.captures import capture

from collectors._ifconfig import LacpPeer, parse_ifconfig, parse_peers
from collectors._link_common import Link
from collectors.lagg_freebsd import LaggFreebsd, port_statuses, to_groups
from exporter.api import Context, ParseError
from exporter.host import CommandResult, Host
from exporter.scrape import collect_families

HERE = os.path.dirname(os.path.abspath(__file__))
HEAD = os.path.join(os.path.dirname(HERE), "scenarios", "freebsd-truenas-head", "commands")

LAGG_V = """\
lagg0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 9000
\tether 3c:fd:fe:a1:b2:10
\tlaggproto lacp lagghash l2,l3,l4
\tlagg options:
\t\tflags=10<LACP_STRICT>
\t\tflowid_shift: 16
\tlagg statistics:
\t\tactive ports: 2
\t\tflapping: 4
\tlag id: [(8000,3C-FD-FE-A1-B2-10,0111,0000,0000),
\t\t (8000,00-1C-73-5E-10-01,0022,0000,0000)]
\tlaggport: ix0 flags=1c<ACTIVE,COLLECTING,DISTRIBUTING> state=3d<ACTIVITY,AGGREGATION,SYNC,COLLECTING,DISTRIBUTING>
\t\t[(8000,3C-FD-FE-A1-B2-10,0111,8000,0001),
\t\t (8000,00-1C-73-5E-10-01,0022,8000,0105)]
\tlaggport: ix1 flags=c<ACTIVE,COLLECTING> state=1d<ACTIVITY,AGGREGATION,SYNC,COLLECTING>
\t\t[(8000,3C-FD-FE-A1-B2-10,0111,8000,0002),
\t\t (8000,00-1C-73-5E-10-01,0022,8000,0106)]
\tlaggport: ix2 flags=0<> state=41<ACTIVITY,DEFAULTED>
\t\t[(8000,3C-FD-FE-A1-B2-10,0000,8000,0003),
\t\t (FFFF,00-00-00-00-00-00,0000,FFFF,0000)]
\tlaggport: ix3 flags=0<> state=7<ACTIVITY,TIMEOUT,AGGREGATION>
\t\t[(8000,3C-FD-FE-A1-B2-10,0111,8000,0004),
\t\t (8000,00-1C-73-99-99-99,0033,8000,0001)]
\tgroups: lagg
\tmedia: Ethernet autoselect
\tstatus: active
"""

SWITCH = LacpPeer(0x8000, "00:1c:73:5e:10:01", 0x22, 0, 0)


def test_verbose_lagg():
    lagg = parse_ifconfig(LAGG_V)["lagg0"].lagg
    assert (lagg.proto, lagg.hash, lagg.options, lagg.active_ports, lagg.flapping) == ("lacp", "l2,l3,l4", 0x10, 2, 4)
    assert lagg.lag_actor == LacpPeer(0x8000, "3c:fd:fe:a1:b2:10", 0x111, 0, 0)  # printed upper-case with dashes
    assert lagg.lag_partner == SWITCH
    ix0, ix1, ix2, ix3 = lagg.ports
    assert (ix0.flags, ix0.actor_state) == (0x1C, 0x3D)
    assert ix0.partner == LacpPeer(0x8000, "00:1c:73:5e:10:01", 0x22, 0x8000, 0x105)
    assert (ix1.flags, ix1.actor_state) == (0x0C, 0x1D)
    assert ix2.partner.system == "00:00:00:00:00:00" and not ix2.partner.present
    assert ix3.partner.present


def test_scenario_output_parses_like_the_inline_text():
    with open(os.path.join(HEAD, "ifconfig_-v_lagg0.out")) as f:
        lagg = parse_ifconfig(f.read())["lagg0"].lagg
    assert [(p.name, p.flags, p.actor_state) for p in lagg.ports] == [("ix0", 0x1C, 0x3D), ("ix1", 0x0C, 0x1D), ("ix2", 0, 0x41)]


def test_peers_tolerate_lower_case_and_reject_garbage():
    a, p = parse_peers("[(8000,3c-fd-fe-a1-b2-10,0111,8000,0001),(0,00-00-00-00-00-00,0,0,0)]", 1)
    assert a.system == "3c:fd:fe:a1:b2:10" and not p.present
    for bad in ("(8000,...)", "[(8000,3C-FD-FE-A1-B2-10,0111,8000,0001)]", "[(x,3C-FD-FE-A1-B2-10,0111,8000,0001),(0,00-00-00-00-00-00,0,0,0)]"):
        with pytest.raises(ParseError):
            parse_peers(bad, 1)


def _links(up: dict[str, bool]) -> dict[str, Link]:
    return {n: Link(n, operstate="up" if u else "down", speed_bytes=1_250_000_000 if u else None, rx_bytes=10, tx_bytes=20) for n, u in up.items()}


def test_lacp_member_up_needs_active_collecting_distributing_and_link():
    laggs = {"lagg0": parse_ifconfig(LAGG_V)["lagg0"].lagg}
    ports = port_statuses(laggs, _links({"ix0": True, "ix1": True, "ix2": False, "ix3": True}))
    (g,) = to_groups(laggs, ports)
    assert (g.kind, g.policy, g.balancing, g.expected) == ("lagg", "lacp", "load", 4)
    assert {m.name: m.up for m in g.members} == {"ix0": True, "ix1": False, "ix2": False, "ix3": False}
    checks = {p.name: {k: p.check(k) for k in ("not_aggregating", "sync_missing", "defaulted", "expired", "no_partner", "partner_mismatch")} for p in ports}
    assert checks["ix0"] == dict.fromkeys(checks["ix0"], False)
    assert checks["ix1"]["not_aggregating"] and not checks["ix1"]["sync_missing"]
    # a port without carrier is a member down, not a set of LACP findings
    assert checks["ix2"] == dict.fromkeys(checks["ix2"], False)
    # ix3 has a link and a partner, but another one (another switch or LAG), and no sync
    assert checks["ix3"]["partner_mismatch"] and checks["ix3"]["sync_missing"] and checks["ix3"]["not_aggregating"]


def test_failover_backup_is_up_but_not_preferred():
    lagg = parse_ifconfig(capture("freebsd/handbook-lagg-failover.ifconfig"))["lagg0"].lagg
    ports = port_statuses({"lagg0": lagg}, _links({"fxp0": True, "fxp1": True}))
    (g,) = to_groups({"lagg0": lagg}, ports)
    assert (g.policy, g.balancing) == ("failover", "failover")
    assert {m.name: m.up for m in g.members} == {"fxp1": True, "fxp0": True}
    assert {p.name: p.preferred for p in ports} == {"fxp1": False, "fxp0": True}
    assert {m.name: m.preferred for m in g.members} == {"fxp1": False, "fxp0": True}
    assert all(p.check("not_aggregating") is None for p in ports)  # no LACP


def test_handbook_lacp_lagg_without_verbose_detail():
    lagg = parse_ifconfig(capture("freebsd/handbook-lagg-lacp.ifconfig"))["lagg0"].lagg
    ports = port_statuses({"lagg0": lagg}, _links({"fxp0": True, "fxp1": True}))
    assert all(p.up for p in ports)
    assert {p.check("sync_missing") for p in ports} == {None}  # no state= without -v


@pytest.mark.parametrize("proto,balancing", [("loadbalance", "load"), ("roundrobin", "load"), ("broadcast", "failover"), ("none", "failover")])
def test_other_protocols(proto, balancing):
    text = f"lagg0: flags=8843 mtu 1500\n\tlaggproto {proto}\n\tlaggport: em0 flags=4<ACTIVE>\n\tlaggport: em1 flags=0<>\n"
    lagg = parse_ifconfig(text)["lagg0"].lagg
    ports = port_statuses({"lagg0": lagg}, _links({"em0": True, "em1": False}))
    (g,) = to_groups({"lagg0": lagg}, ports)
    assert g.balancing == balancing
    assert {m.name: m.up for m in g.members} == ({"em0": False, "em1": False} if proto == "none" else {"em0": True, "em1": False})


class FakeHost(Host):
    platform = "freebsd"

    def __init__(self, outputs):
        self.outputs = outputs
        self.calls = []

    def run(self, tool, args, *, timeout):
        self.calls.append((tool, *args))
        out = self.outputs.get((tool, *args))
        if out is None:
            return CommandResult((tool, *args), 1, "", f"{tool}: interface {args[-1]} does not exist\n")
        return CommandResult((tool, *args), 0, out, "")


NETSTAT = '{"statistics": {"interface": []}}'


def test_no_lagg_is_absent_and_runs_only_ifconfig():
    host = FakeHost({("ifconfig", "-a"): "em0: flags=8843 metric 0 mtu 1500\n\tstatus: active\n"})
    assert list(collect_families(LaggFreebsd(host, Context("lagg", {})))) == []
    assert host.calls == [("ifconfig", "-a")]


def test_collector_series_and_a_lagg_destroyed_meanwhile():
    ifconfig_a = LAGG_V + "lagg1: flags=8843 metric 0 mtu 1500\n\tlaggproto failover\n\tlaggport: em0 flags=5<MASTER,ACTIVE>\n"
    for n in ("ix0", "ix1", "ix3"):
        ifconfig_a += f"{n}: flags=8843 metric 0 mtu 9000\n\tmedia: Ethernet autoselect (10Gbase-SR <full-duplex>)\n\tstatus: active\n"
    ifconfig_a += "ix2: flags=8843 metric 0 mtu 9000\n\tmedia: Ethernet autoselect\n\tstatus: no carrier\n"
    host = FakeHost({("ifconfig", "-a"): ifconfig_a, ("ifconfig", "-v", "lagg0"): LAGG_V, ("netstat", "-i", "-b", "-n", "--libxo", "json"): NETSTAT})
    fams = {f.name: f for f in collect_families(LaggFreebsd(host, Context("lagg", {})))}
    assert ("ifconfig", "-v", "lagg1") in host.calls  # gone: skipped, not a failure
    assert dict(fams["lanes_group_members_up"].samples) == {("lagg", "lagg0"): 1}
    assert dict(fams["lanes_lagg_port_lacp_not_aggregating"].samples) == {("lagg0", "ix0"): 0, ("lagg0", "ix1"): 1, ("lagg0", "ix2"): 0, ("lagg0", "ix3"): 1}
    assert dict(fams["lanes_lagg_capacity_bytes"].samples) == {("lagg0",): 1_250_000_000}
    assert dict(fams["lanes_lagg_flaps_total"].samples) == {("lagg0",): 4}


def test_ifconfig_failure_fails_the_collector():
    host = FakeHost({("ifconfig", "-a"): LAGG_V})
    host.outputs[("ifconfig", "-v", "lagg0")] = None

    def run(tool, args, *, timeout):
        return CommandResult((tool, *args), 1, "", "ifconfig: permission denied\n") if args[0] == "-v" else CommandResult((tool, *args), 0, LAGG_V, "")

    host.run = run
    with pytest.raises(RuntimeError, match="exit 1"):
        list(collect_families(LaggFreebsd(host, Context("lagg", {}))))
