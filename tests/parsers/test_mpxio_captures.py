"""``mpathadm show lu`` from real captures (tests/captures/, source in each header)."""

from __future__ import annotations

from builders.captures import capture

from collectors.mpxio_illumos import parse_show_lu


def test_logical_unit_indented_one_level_further_parses_like_column_0():
    text = capture("solaris-inspection-script/mpathadm-show-lu-four-sas-disks.txt")
    assert text.startswith("    Logical Unit:")  # as printed on that host
    lus = parse_show_lu(text)
    assert [lu.device for lu in lus] == [
        "/dev/rdsk/c0t5000CCA02F653D5Cd0s2",
        "/dev/rdsk/c0t5000CCA07D594A30d0s2",
        "/dev/rdsk/c0t5000CCA02F6569A0d0s2",
        "/dev/rdsk/c0t5000CCA07D598CA4d0s2",
    ]
    first = lus[0]
    assert (first.vendor, first.product, first.revision, first.name, first.asymmetric, first.load_balance) == (
        "HGST", "H101860SFSUN600G", "A990", "5000cca02f653d5c", False, "shortest-path")  # fmt: skip
    assert [(p.initiator_port, p.target_port, p.state, p.disabled) for p in first.paths] == [
        ("500605b00e77b830", "5000cca02f653d5d", "OK", False)
    ]
    assert first.tpgs == ()  # symmetric: Target Ports directly, no groups
    # every block one level deeper (a TAB before each line) says the same; so does column 0
    deeper = "".join("\t" + line if line.strip() else line for line in text.splitlines(True))
    flat = "".join(line[4:] if line.startswith("    Logical Unit:") else line for line in text.splitlines(True))
    assert parse_show_lu(deeper) == lus == parse_show_lu(flat)
