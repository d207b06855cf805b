"""tests/captures/<source>/<file>: each real capture is stored once, says where it came from,
and is read by a parser test or a scenario builder (never pasted into one)."""

from __future__ import annotations

import glob
import os

import pytest
from builders.captures import CAPTURES, split
from conftest import ROOT

FILES = sorted(os.path.relpath(p, CAPTURES) for p in glob.glob(os.path.join(CAPTURES, "*", "*")))


def test_there_are_captures():
    assert len(FILES) >= 15


@pytest.mark.parametrize("path", FILES)
def test_capture_header_names_source_os_and_command(path):
    with open(os.path.join(CAPTURES, path), encoding="utf-8", newline="") as f:
        header, body = split(f.read(), path)
    assert {"source", "os", "command"} <= set(header), header
    assert all(header[k].strip() for k in header)
    assert body.strip(), "a capture without output"


def _readers() -> str:
    text = []
    # the scenario trees hold symlink loops: walk the code folders only
    paths = glob.glob(os.path.join(ROOT, "tests", "*.py")) + glob.glob(os.path.join(ROOT, "tests", "*", "*.py"))
    for p in paths:
        if os.path.basename(p) != "test_captures.py":
            with open(p, encoding="utf-8") as f:
                text.append(f.read())
    return "\n".join(text)


def test_every_capture_is_read_and_no_body_is_pasted_twice():
    code = _readers()
    unread = [p for p in FILES if f'capture("{p}")' not in code]
    assert not unread, f"captures no test or builder reads: {unread}"
    bodies = {}
    for p in FILES:
        with open(os.path.join(CAPTURES, p), encoding="utf-8", newline="") as f:
            bodies.setdefault(split(f.read(), p)[1], []).append(p)
    assert not [ps for ps in bodies.values() if len(ps) > 1]


def test_split_rejects_a_file_without_header():
    with pytest.raises(ValueError, match="no '# ---' line"):
        split("link:0:net0:class\tnet\n", "x")
    with pytest.raises(ValueError, match="x:1: header lines"):
        split("# from: somewhere\n# ---\nbody\n", "x")
