"""Loads the FreeBSD captures of tests/captures/freebsd/: a ``# key: value`` header (source,
os, command, note) ended by ``# ---``, then the output exactly as published."""

from __future__ import annotations

import os

HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURES = os.path.join(os.path.dirname(HERE), "captures", "freebsd")


def capture(name: str) -> str:
    with open(os.path.join(CAPTURES, name), encoding="utf-8") as f:
        text = f.read()
    header, sep, body = text.partition("# ---\n")
    assert sep and "# source:" in header and "# command:" in header, f"{name}: capture without its header"
    return body
