"""Property-based fuzzing of every parser (SPEC §10): on any text a parser returns its
model or raises its own ParseError, nothing else (no IndexError, ValueError, KeyError...).

Every public ``parse_*`` function of ``collectors`` whose first parameter is the source
text is found by name, so a new parser is fuzzed without touching this file.  Inputs are
random text and mutations of the real captures and scenario files the parser is tested on
(numbers made huge, negative, NaN, 401 digits; lines cut; bytes inserted).

Default tier: a fixed seed and a few examples per parser (derandomized, no database).
Soak tier (``pytest -m soak tests/test_fuzz_parsers.py``, LANES_FUZZ_EXAMPLES to size it):
many more examples; see docs/hardening.md.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import pkgutil

import pytest
from helpers import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import collectors
from exporter.api import ParseError

DEFAULT_EXAMPLES = 60
SOAK_EXAMPLES = int(os.environ.get("LANES_FUZZ_EXAMPLES", "3000"))


def _parsers():
    found = []
    for mod in pkgutil.walk_packages(collectors.__path__, "collectors."):
        m = importlib.import_module(mod.name)
        for name, fn in vars(m).items():
            if not name.startswith("parse_") or not inspect.isfunction(fn) or fn.__module__ != m.__name__:
                continue
            params = list(inspect.signature(fn).parameters.values())
            if not params or params[0].name != "text":
                continue
            # other required parameters are names (source, device): a fixed word
            required = [p.name for p in params[1:] if p.default is inspect.Parameter.empty]
            if any("str" not in str(p.annotation) for p in params[1:] if p.name in required):
                continue
            fixed = dict.fromkeys(required, "fuzz")
            found.append(pytest.param(functools.partial(fn, **fixed) if fixed else fn, id=f"{mod.name.removeprefix('collectors.')}.{name}"))
    return found


PARSERS = _parsers()


def _corpus() -> list[str]:
    """Lines of the stored captures and scenario files: realistic material to mutate."""
    texts = []
    for base in ("tests/captures", "tests/scenarios"):
        for dirpath, _dirs, files in os.walk(os.path.join(ROOT, base)):
            for f in sorted(files):
                path = os.path.join(dirpath, f)
                if os.path.islink(path) or os.path.getsize(path) > 200_000:
                    continue
                with open(path, "rb") as fh:
                    text = fh.read().decode("utf-8", "replace")
                if text.strip():
                    texts.append(text)
    return texts[:400]


CORPUS = _corpus()
WEIRD_NUMBERS = ["-1", "-9223372036854775809", "18446744073709551616", "9" * 401, "NaN", "nan", "inf", "-Inf", "1e400", "0x", "0xffffffffffffffffff", "", " ", "1.5", "-0"]


@st.composite
def mutated(draw):
    base = draw(st.sampled_from(CORPUS)) if CORPUS else ""
    lines = base.splitlines(keepends=True)
    kind = draw(st.sampled_from(["numbers", "truncate", "insert", "drop_line", "random"]))
    if kind == "random" or not lines:
        return draw(st.text(max_size=400))
    if kind == "truncate":
        return base[: draw(st.integers(0, len(base)))]
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "drop_line":
        return "".join(lines[:i] + lines[i + 1 :])
    if kind == "insert":
        junk = draw(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
        pos = draw(st.integers(0, len(lines[i])))
        lines[i] = lines[i][:pos] + junk + lines[i][pos:]
        return "".join(lines)
    # numbers: every number of one line replaced by a weird one
    import re

    weird = draw(st.sampled_from(WEIRD_NUMBERS))
    lines[i] = re.sub(r"\d+", weird, lines[i])
    return "".join(lines)


def _check(parser, text: str) -> None:
    try:
        parser(text)
    except ParseError:
        pass


@pytest.mark.parametrize("parser", PARSERS)
@settings(max_examples=DEFAULT_EXAMPLES, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.one_of(mutated(), st.text(max_size=200)))
def test_parser_raises_only_parse_error(parser, text):
    _check(parser, text)


@pytest.mark.soak
@pytest.mark.parametrize("parser", PARSERS)
@settings(max_examples=SOAK_EXAMPLES, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.one_of(mutated(), st.text(max_size=2000)))
def test_parser_raises_only_parse_error_soak(parser, text):
    _check(parser, text)


def test_every_parser_is_fuzzed():
    assert len(PARSERS) >= 30, [p.id for p in PARSERS]
