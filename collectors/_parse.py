"""Parsing helpers shared by every parser: pure text -> values, ``ParseError`` on bad input.

The one copy of: ``key: value`` splitting, illumos parseable (``-p -o``) lines with their
``\\:`` escapes, integers (strict and optional), MAC addresses.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from exporter.api import ParseError

_HEX = frozenset("0123456789abcdef")


def split_kv(line: str, sep: str = ":") -> tuple[str, str]:
    """Split ``key: value`` once: IQNs, MACs and WWNs in the value keep their colons."""
    key, found, value = line.partition(sep)
    return key.strip(), value.strip() if found else ""


def split_parseable(line: str, source: str = "parseable", lineno: int | None = None) -> list[str]:
    """Split one line of illumos ``-p -o`` output (PSARC 2008/374): fields are separated
    by ``:``; a literal ``:`` or ``\\`` inside a field is written ``\\:`` or ``\\\\``.  An
    empty field is empty, not ``-``."""
    if "\\" not in line:
        return line.split(":")
    fields: list[str] = []
    cur: list[str] = []
    it = iter(line)
    for ch in it:
        if ch == "\\":
            nxt = next(it, None)
            if nxt is None:
                raise ParseError(source, lineno, "line ends in a lone backslash")
            cur.append(nxt)
        elif ch == ":":
            fields.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    fields.append("".join(cur))
    return fields


def parseable_rows(text: str, source: str, nfields: int) -> Iterable[tuple[int, list[str]]]:
    """Numbered rows of illumos parseable output, each exactly ``nfields`` fields."""
    for lineno, line in lines(text):
        fields = split_parseable(line.rstrip("\r\n"), source, lineno)
        if len(fields) != nfields:
            raise ParseError(source, lineno, f"{len(fields)} fields, expected {nfields}")
        yield lineno, fields


def parse_int(text: str, source: str, lineno: int | None = None, base: int = 10) -> int:
    try:
        return int(text.strip(), base)
    except ValueError:
        raise ParseError(source, lineno, f"not an integer: {text.strip()[:40]!r}") from None


def uint(text: str, source: str, lineno: int | None = None) -> int:
    """An unsigned decimal integer (ASCII digits only)."""
    if not (text.isascii() and text.isdigit()):
        raise ParseError(source, lineno, f"not a number: {text[:20]!r}")
    return int(text)


def opt_int(text: str | None, source: str, lineno: int | None = None, blanks: Iterable[str] = ("", "--", "?")) -> int | None:
    """An integer, or None when the field is absent or one of ``blanks`` (unknown)."""
    if text is None:
        return None
    text = text.strip()
    if text in blanks:
        return None
    return parse_int(text, source, lineno)


def int_or_none(text: str | None) -> int | None:
    """Lenient: decimal or 0x hex, None for anything else (sysfs files that may say
    ``unknown`` or be empty)."""
    if text is None:
        return None
    text = text.strip()
    try:
        return int(text, 0) if text.startswith("0x") else int(text)
    except ValueError:
        return None


def mac(text: str | None, source: str, lineno: int | None = None) -> str | None:
    """``aa:bb:cc:dd:ee:ff`` (lower case); None for None or empty; ParseError otherwise."""
    if text is None:
        return None
    t = text.strip().lower()
    if not t:
        return None
    parts = t.split(":")
    if len(parts) != 6 or not all(len(p) == 2 and _HEX.issuperset(p) for p in parts):
        raise ParseError(source, lineno, f"not a MAC address: {text.strip()[:40]!r}")
    return t


def mac_from_bytes(data: bytes | memoryview) -> str:
    return ":".join(f"{b:02x}" for b in bytes(data))


def lines(text: str) -> Iterator[tuple[int, str]]:
    """Numbered non-empty lines (1-based)."""
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield i, line
