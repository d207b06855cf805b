"""Run lanes with proposed changes applied in this process only, to measure them side by
side with node_exporter before they land in lanes' code (``bench/run.py --lanes-variant``).

    python bench/lanes_variant.py shared-dump -- <lanes_exporter flags>

Variants (comma-separated):
  shared-dump  one netlink link dump per scrape for every collector: a dump younger than
               0.25 s is reused (an approximation of a per-scrape ``ctx.shared`` slot, which
               is what the proposal is; the link and bond collectors start together).
Nothing in exporter/ or collectors/ changes on disk.
"""

from __future__ import annotations

import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from exporter import host as host_mod  # noqa: E402


def shared_dump() -> None:
    orig = host_mod.LiveHost.netlink_links
    lock = threading.Lock()
    memo: dict = {}

    def netlink_links(self):
        with lock:
            hit = memo.get(id(self))
            if hit is not None and time.monotonic() - hit[0] < 0.25:
                return hit[1]
            dump = orig(self)
            memo[id(self)] = (time.monotonic(), dump)
            return dump

    host_mod.LiveHost.netlink_links = netlink_links


VARIANTS = {"shared-dump": shared_dump}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 2
    for name in sys.argv[1].split(","):
        VARIANTS[name]()
    rest = sys.argv[2:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    from exporter.cli import main as lanes_main

    return lanes_main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
