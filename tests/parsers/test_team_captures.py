"""teamdctl state dumps from real captures (tests/captures/, source in each header)."""

from __future__ import annotations

from builders.captures import capture
from helpers import parse_exposition

from collectors import team_linux as tl
from exporter.metrics import render
from exporter.model import group_families


def test_dump_without_ports_is_a_team_with_no_members():
    text = capture("insights-core/teamdctl-team0-state-dump.json")
    team = tl.parse_team_dump(text, "team0")
    assert (team.runner, team.active_port, team.ports) == ("activebackup", "eno1", ())
    fams = tl.team_families([team], {}) + group_families(tl.to_groups([team], {}))
    s = parse_exposition(render(fams).decode())
    assert s[("lanes_group_members", (("group", "team0"), ("kind", "team")))] == 0
    assert s[("lanes_group_members_up", (("group", "team0"), ("kind", "team")))] == 0
    assert not any(name == "lanes_member_up" for name, _ in s)
    # the same dump with an explicit empty object, and with "ports": null, say the same
    for ports in ("{}", "null"):
        again = tl.parse_team_dump(text.rstrip().rstrip("}") + f', "ports": {ports}}}', "team0")
        assert again.ports == ()
