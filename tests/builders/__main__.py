"""python -m tests.builders [--out DIR] [NAME...]: rebuild scenario folders (default: in place)."""

from __future__ import annotations

import argparse
import os
import sys

if __package__ in (None, ""):  # run as a file: make the package importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "builders"

from . import SCENARIOS_DIR, build

p = argparse.ArgumentParser(prog="python -m tests.builders", description=__doc__)
p.add_argument("--out", default=SCENARIOS_DIR, help="where the scenario folders go (default: tests/scenarios)")
p.add_argument("names", nargs="*", help="scenario names (default: all)")
a = p.parse_args()
for name in build(a.out, a.names):
    print(os.path.join(a.out, name))
