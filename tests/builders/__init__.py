"""Builders of the hand-made scenarios under tests/scenarios/.

Each module describes one family of hosts: a base host and, per scenario, what differs from
it (the delta).  Building writes ``snapshot.yml``, ``config.yml``, ``root/`` and
``commands/`` of every scenario folder; ``expected.prom`` is never touched (it is what the
code prints, checked by tests/test_scenarios.py).  The folders are committed so that a
scenario replays without building; tests/test_scenarios.py rebuilds them into a temporary
directory and fails if the result differs from what is committed.

    python -m tests.builders                  # rebuild every scenario in place
    python -m tests.builders linux-bond-xor   # one scenario (name = folder)
    pytest tests/test_scenarios.py --update-golden -k linux-bond-xor   # then its expected.prom

Modules: ``sysfs`` (low-level sysfs/procfs writers), ``captures`` (reads tests/captures), ``linux_core`` (declared groups),
``linux_bond`` (bonding and teamd), ``linux_storage`` (open-iscsi and dm-multipath),
``linux_nvme`` (NVMe over TCP), ``illumos_net`` (dladm aggregations, IPMP),
``illumos_storage`` (MPxIO, iSCSI initiator, COMSTAR).
"""

from __future__ import annotations

import os
from collections.abc import Callable

MODULES = ("linux_core", "linux_bond", "linux_storage", "linux_nvme", "illumos_net", "illumos_storage", "freebsd", "flows")
SCENARIOS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scenarios")


def builders() -> dict[str, Callable[[str], None]]:
    """scenario name -> builder(out): the builder writes the folder ``out/<name>``."""
    import importlib

    out: dict[str, Callable[[str], None]] = {}
    for module in MODULES:  # imported here: reading a capture needs none of them
        mod = importlib.import_module(f"{__name__}.{module}")
        for name, fn in mod.BUILDS.items():
            assert name not in out, name
            out[name] = fn
    return out


def build(out: str, names: list[str] | None = None) -> list[str]:
    """Write the scenarios ``names`` (default: all) under ``out``; returns the names built."""
    table = builders()
    chosen = names or sorted(table)
    unknown = sorted(set(chosen) - set(table))
    if unknown:
        raise SystemExit(f"no builder for {', '.join(unknown)} (known: {', '.join(sorted(table))})")
    for name in chosen:
        table[name](out)
    return chosen
