"""--record.scrub on FreeBSD outputs: the LACP system IDs ifconfig prints in IEEE form
(``3C-FD-FE-A1-B2-10``, sbin/ifconfig/iflagg.c lacp_format_mac) are MACs too, replaced by
the same placeholder as their colon form so the lagg still parses to the same topology."""

from __future__ import annotations

import os

from conftest import ROOT

from collectors._ifconfig import parse_ifconfig
from exporter.scrub import Scrubber


def norm(mac: str) -> str:
    return mac.lower().replace("-", ":")


HEAD = os.path.join(ROOT, "tests", "scenarios", "freebsd-truenas-head", "commands")


def test_lacp_system_ids_are_scrubbed_consistently():
    with open(os.path.join(HEAD, "ifconfig_-v_lagg0.out")) as f:
        text = f.read()
    scrubbed = Scrubber()(text)
    assert "3C-FD-FE" not in scrubbed and "00-1C-73" not in scrubbed and "3c:fd:fe" not in scrubbed
    before, after = parse_ifconfig(text)["lagg0"], parse_ifconfig(scrubbed)["lagg0"]
    # the actor system is the lagg's own MAC before and after
    assert norm(before.lagg.lag_actor.system) == before.mac and norm(after.lagg.lag_actor.system) == after.mac
    # ports keep their partner relations: same switch for ix0 and ix1, none for ix2
    partners = [norm(p.partner.system) for p in after.lagg.ports]
    assert partners[0] == partners[1] == norm(after.lagg.lag_partner.system) != norm(before.lagg.lag_partner.system)
    assert partners[2] == "00:00:00:00:00:00"
    assert [p.flags for p in after.lagg.ports] == [p.flags for p in before.lagg.ports]


def test_dash_form_keeps_its_case_and_ignores_other_dashed_numbers():
    s = Scrubber()
    assert s("a0:42:3f:a0:42:3f A0-42-3F-A0-42-3F a0-42-3f-a0-42-3f") == "02:00:00:00:00:01 02-00-00-00-00-01 02-00-00-00-00-01"
    kept = "2024-01-02 12-34 01-02-03-04-05"
    assert s(kept) == kept
    # gmultipath's geom UUID is a UUID, not a MAC
    assert s("UUID: 5e0f4c3a-9b1d-11ee-8c4d-90e2ba112230") == "UUID: 00000000-0000-4000-8000-000000000001"
