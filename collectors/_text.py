"""Small parsing helpers shared by parsers: no I/O, only ParseError on bad input."""

from __future__ import annotations

from collections.abc import Iterator

from collectors._base import ParseError


def split_kv(line: str, sep: str = ":") -> tuple[str, str]:
    """Split ``key: value`` once: IQNs, MACs and WWNs in the value keep their colons."""
    key, found, value = line.partition(sep)
    return key.strip(), value.strip() if found else ""


def split_parseable(line: str, source: str = "parseable", lineno: int | None = None) -> list[str]:
    """Split one line of illumos ``-p -o`` output (PSARC 2008/374): fields are separated
    by ``:``; a literal ``:`` or ``\\`` inside a field is written ``\\:`` or ``\\\\``.  An
    empty field is empty, not ``-``."""
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


def parse_int(text: str, source: str, lineno: int | None = None, base: int = 10) -> int:
    try:
        return int(text.strip(), base)
    except ValueError:
        raise ParseError(source, lineno, f"not an integer: {text.strip()[:40]!r}") from None


def lines(text: str) -> Iterator[tuple[int, str]]:
    """Numbered non-empty lines (1-based)."""
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield i, line
