"""Real captures: each stored once under tests/captures/<source>/ with a header.

The header is the file's leading ``# key: value`` lines (``source``: URL, bug report or
fixture; ``os``; ``command``; ``notes``) and ends with a ``# ---`` line; everything after it
is the tool's output byte for byte.  Parser tests and scenario builders read captures
through :func:`capture`, so a capture is never pasted twice.
"""

from __future__ import annotations

import os

CAPTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "captures")
HEADER_KEYS = ("source", "os", "command", "notes")


def split(text: str, name: str = "capture") -> tuple[dict[str, str], str]:
    """(header, body) of a capture file's text; ValueError naming ``name`` when malformed."""
    head, sep, body = text.partition("# ---\n")
    if not sep:
        raise ValueError(f"{name}: no '# ---' line ends the header")
    header: dict[str, str] = {}
    for n, line in enumerate(head.splitlines(), 1):
        key, colon, value = line[2:].partition(": ")
        if not line.startswith("# ") or not colon or key not in HEADER_KEYS:
            raise ValueError(f"{name}:{n}: header lines are '# <{'|'.join(HEADER_KEYS)}>: value', got {line!r}")
        header[key] = value
    return header, body


def capture(path: str) -> str:
    """The output stored in tests/captures/<path>, without its header."""
    with open(os.path.join(CAPTURES, path), encoding="utf-8", newline="") as f:
        return split(f.read(), f"tests/captures/{path}")[1]
