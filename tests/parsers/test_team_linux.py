"""Parser tables for collectors.team_linux: teamd state dumps (real-captures.md L-3 and the
libteam teamd_state.c / teamd_runner_lacp.c layouts), the control-socket reply framing
(libteamdctl/cli_usock.c), the socket -> teamdctl fallback and the derived checks."""

from __future__ import annotations

import json

import pytest
from helpers import capture
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors import team_linux as tl
from collectors._link_common import Link
from collectors.team_linux import to_groups as team_groups
from exporter.api import ParseError
from exporter.host import CommandNotFound, CommandResult, Host

# real-captures.md L-3: RHEL 7 activebackup dump (insights-core), keys sorted, no "ports"
RHEL7_AB = capture("insights-core/teamdctl-team0-state-dump.json")


def lacp_port(up=True, selected=True, agg=(4, True), state="current", actor=61, partner=61, system="3c:c7:86:43:ac:f1", speed=25000):
    return {
        "ifinfo": {"ifname": "x", "ifindex": 4, "dev_addr": "b8:59:9f:12:34:60", "dev_addr_len": 6},
        "link": {"up": up, "speed": speed, "duplex": "full"},
        "link_watches": {"up": up, "list": {"link_watch_0": {"name": "ethtool", "up": up, "down_count": 1, "delay_up": 0, "delay_down": 0},
                                            "link_watch_1": {"name": "arp_ping", "up": up, "down_count": 2}}},
        "runner": {"selected": selected, "state": state, "key": 0, "prio": 255,
                   "aggregator": {"id": agg[0], "selected": agg[1]},
                   "actor_lacpdu_info": {"system": "b8:59:9f:12:34:60", "system_priority": 65535, "key": 0, "port": 4, "port_priority": 255, "state": actor},
                   "partner_lacpdu_info": {"system": system, "system_priority": 32768, "key": 32, "port": 11, "port_priority": 32768, "state": partner}},
    }  # fmt: skip


def lacp_dump(ports):
    return json.dumps({
        "setup": {"runner_name": "lacp", "kernel_team_mode_name": "loadbalance", "pid": 1234},
        "team_device": {"ifinfo": {"ifname": "team0", "ifindex": 6}},
        "runner": {"active": True, "fast_rate": True, "select_policy": "lacp_prio", "sys_prio": 65535},
        "ports": ports,
    })  # fmt: skip


def test_rhel7_activebackup_without_ports():
    t = tl.parse_team_dump(RHEL7_AB, "team0")
    assert (t.runner, t.kernel_mode, t.active_port, t.ports) == ("activebackup", "activebackup", "eno1", ())
    (g,) = team_groups([t], {})
    assert g.members == () and g.balancing == "failover"


def test_empty_runner_and_missing_everything_is_unknown():
    t = tl.parse_team_dump('{"runner": {}, "ports": {"eth1": {"link_watches": {"up": false}}}}', "team0")
    (p,) = t.ports
    assert (t.runner, p.link_up, p.link_watch_up, p.link_watch_downs, p.aggregator_id) == ("", None, False, None, None)
    # a partial port during setup (libteam #40) is down by its link watch, not an error
    (g,) = team_groups([t], {})
    assert g.policy == "unknown" and [m.up for m in g.members] == [False]


def test_lacp_ports_and_checks():
    dump = lacp_dump({
        "ens2f0": lacp_port(),
        "ens2f1": lacp_port(selected=True, agg=(5, False), system="3c:c7:86:99:00:01"),  # another switch
        "ens3f0": lacp_port(up=False, selected=False, agg=(0, False), state="defaulted", actor=69, partner=0, system="00:00:00:00:00:00"),
    })  # fmt: skip
    t = tl.parse_team_dump(dump, "team0")
    a, b, c = t.ports
    assert (a.link_watch_downs, a.aggregator_id, a.aggregator_selected, a.actor_state, a.speed_mbps) == (3, 4, True, 61, 25000)
    assert tl.outside_selected_aggregator(t, a) is False
    assert tl.outside_selected_aggregator(t, b) is True
    assert tl.outside_selected_aggregator(t, c) is False  # down ports are judged by member_up
    assert tl.sync_missing(t, a) is False
    assert tl.different_partners(t) is True
    assert tl.no_partner(t) is False
    (g,) = team_groups([t], {})
    assert (g.kind, g.policy, g.balancing) == ("team", "lacp", "load")
    assert [(m.name, m.up) for m in g.members] == [("ens2f0", True), ("ens2f1", False), ("ens3f0", False)]
    assert g.members[0].speed_bytes == 25000 * 125_000  # from the dump when the link table has none


def test_lacp_without_partner():
    t = tl.parse_team_dump(lacp_dump({"p0": lacp_port(actor=69, partner=0, system="00:00:00:00:00:00", state="defaulted")}), "team0")
    assert tl.no_partner(t) is True
    assert tl.sync_missing(t, t.ports[0]) is True
    t = tl.parse_team_dump(lacp_dump({"p0": lacp_port(selected=False, agg=(0, False))}), "team0")
    assert tl.no_partner(t) is True  # no aggregator selected at all


def test_old_flat_aggregator_layout():
    # libteam before v1.1: runner.aggregator_id per port, runner.selected_aggregator_id per team
    doc = {"setup": {"runner_name": "lacp"}, "runner": {"selected_aggregator_id": 4},
           "ports": {"a": {"runner": {"selected": True, "aggregator_id": 4}}, "b": {"runner": {"selected": True, "aggregator_id": 7}}}}  # fmt: skip
    a, b = tl.parse_team_dump(json.dumps(doc), "team0").ports
    assert (a.aggregator_id, a.aggregator_selected, b.aggregator_selected) == (4, True, False)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "REPLY_ERROR\nNoSuchMethod\nmethod not found\n",
        "[1, 2]",
        '{"ports": []}',
        '{"ports": {"a": 3}}',
        '{"setup": {"runner_name": 7}}',
        '{"ports": {"a": {"link": {"speed": true}}}}',
        '{"ports": {"a": {"runner": {"partner_lacpdu_info": {"system": "zz"}}}}}',
        '{"ports": {"a": {"runner": {"actor_lacpdu_info": {"state": 999}}}}}',
        '{"ports": {"a": {"link_watches": {"list": {"w": []}}}}}',
        "[" * 5000,
    ],
)
def test_rejects_garbage(text):
    with pytest.raises(ParseError):
        tl.parse_team_dump(text, "team0")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 300) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["ports", "runner", "setup", "link", "up", "speed", "link_watches", "list", "down_count", "state",
                         "selected", "aggregator", "id", "actor_lacpdu_info", "partner_lacpdu_info", "system", "runner_name",
                         "active_port", "fast_rate", "aggregator_id", "selected_aggregator_id", "eth0"]),
        children, max_size=5),
    max_leaves=25,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_fuzz_structured_raises_only_parse_error(doc):
    try:
        t = tl.parse_team_dump(json.dumps(doc), "team0")
    except ParseError:
        return
    team_groups([t], {})
    tl.team_families([t], {})


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_text_raises_only_parse_error(text):
    try:
        tl.parse_team_dump(text, "team0")
    except ParseError:
        pass


# ----------------------------------------------------------------------------- socket framing


def test_unpack_reply():
    assert tl.unpack_reply(b"", False) is None
    assert tl.unpack_reply(b"REPLY_SUCCESS\n{\"a\": 1}\n", False) == '{"a": 1}\n'
    err = tl.unpack_reply(b"REPLY_ERROR\nNoSuchDev\nno such device\n", False)
    with pytest.raises(ParseError):
        tl.parse_team_dump(err, "team0")


class FakeHost(Host):
    live = True

    def __init__(self, socket_reply=None, socket_error=None, run_result=None):
        self.socket_reply, self.socket_error, self.run_result = socket_reply, socket_error, run_result
        self.calls = []

    def unix_request(self, name, addresses, payload, *, timeout, unpack, seqpacket=False):
        self.calls.append(("socket", tuple(name), tuple(addresses), payload, seqpacket))
        if self.socket_error:
            raise self.socket_error
        return CommandResult(tuple(name), 0, unpack(self.socket_reply, False), "")

    def run(self, tool, args, *, timeout):
        self.calls.append(("run", tool, tuple(args)))
        if self.run_result is None:
            raise CommandNotFound(tool)
        return self.run_result


def test_read_team_prefers_the_control_socket():
    h = FakeHost(socket_reply=b"REPLY_SUCCESS\n" + RHEL7_AB.encode())
    assert tl.read_team(h, "team0", 1.0).active_port == "eno1"
    (call,) = h.calls
    assert call == ("socket", ("teamdctl", "team0", "state", "dump"), ("/var/run/teamd/team0.sock", "/run/teamd/team0.sock"),
                    b"REQUEST\nStateDump\n", True)  # fmt: skip


@pytest.mark.parametrize("error", [CommandNotFound("teamdctl"), PermissionError(13, "denied")])
def test_read_team_falls_back_to_teamdctl(error):
    h = FakeHost(socket_error=error, run_result=CommandResult(("teamdctl",), 0, RHEL7_AB, ""))
    assert tl.read_team(h, "team0", 1.0).runner == "activebackup"
    assert h.calls[-1] == ("run", "teamdctl", ("team0", "state", "dump"))


def test_read_team_failing_teamdctl_raises():
    h = FakeHost(socket_error=CommandNotFound("teamdctl"), run_result=CommandResult(("teamdctl",), 1, "", "Failed to connect"))
    with pytest.raises(RuntimeError):
        tl.read_team(h, "team0", 1.0)


def test_live_team_without_teamd_is_broken_not_absent():
    h = FakeHost(socket_error=CommandNotFound("teamdctl"))
    with pytest.raises(CommandNotFound):
        tl.read_teams(h, {"team0": Link(name="team0", kind="team")}, 1.0)
    assert tl.read_teams(h, {"eth0": Link(name="eth0", kind="device")}, 1.0) == []


def test_sysfs_candidates_are_untyped_masters_confirmed_by_a_dump():
    class SnapHost(FakeHost):
        live = False

        def exists(self, path):
            return path == "/sys/class/net/br0/bridge"

    links = {
        "eth0": Link(name="eth0", kind="device", master="team0"),
        "eth1": Link(name="eth1", kind="device", master="bond0"),
        "eth2": Link(name="eth2", kind="device", master="br0"),
        "eth3": Link(name="eth3", kind="device", master="vrf0"),
        "team0": Link(name="team0"),
        "bond0": Link(name="bond0", kind="bond"),
        "br0": Link(name="br0"),
        "vrf0": Link(name="vrf0"),
    }
    h = SnapHost(socket_error=CommandNotFound("teamdctl"))
    assert tl.team_candidates(links, h) == ["team0", "vrf0"]
    assert tl.read_teams(h, links, 1.0) == []  # nothing recorded: no teams, not a failure
