"""Builds the hand-made core scenarios (the folders are committed; a test rebuilds them).

python -m tests.builders <name>  # then:
pytest tests/test_scenarios.py --update-golden -k linux-declared
"""

from __future__ import annotations

import os

from .sysfs import clear, counters, netdev, proc_net_dev, snapshot_yml, write


def linux_declared_mpio(out: str) -> None:
    d = os.path.join(out, "linux-declared-mpio")
    clear(d)
    root = os.path.join(d, "root")
    snapshot_yml(
        d,
        "linux",
        "hand-made from the sysfs-class-net ABI and /proc/net/dev formats: an iSCSI initiator "
        "with two 10G NICs declared as an MPIO group, one of them down (no carrier, speed -1), "
        "and a management pair whose second NIC is missing.",
        hostname="initiator-a",
    )
    netdev(root, "lo", operstate="unknown", flags=0x9, mtu=65536, ifindex=1)
    netdev(root, "eno1", pci="0000:00:19.0", driver="igb", mac="3c:ec:ef:00:10:01", speed=1000, ifindex=2, carrier_changes=2)
    netdev(root, "ens1f0", pci="0000:3b:00.0", driver="ixgbe", mac="a0:36:9f:11:22:30", speed=10000, mtu=9000, ifindex=3, carrier_changes=2)
    netdev(root, "ens2f0", pci="0000:5e:00.0", driver="ixgbe", mac="a0:36:9f:11:22:40", speed=-1, mtu=9000, ifindex=4,
           operstate="down", carrier=0, carrier_changes=5)
    proc_net_dev(root, {
        "lo": counters(91_238, 1_022, 91_238, 1_022),
        "eno1": counters(5_120_331, 41_002, 2_202_116, 18_990),
        "ens1f0": counters(812_345_678_901, 98_765_432, 401_234_567_890, 51_234_567, rx_errs=3, rx_drop=12),
        "ens2f0": counters(799_000_111_222, 97_000_001, 398_000_333_444, 50_000_002, tx_errs=1),
    })
    write(os.path.join(d, "config.yml"), """\
# Declared groups: the two NICs the iSCSI initiator uses for MPIO, and a management pair.
groups:
  iscsi-mpio:
    members: [ens1f0, ens2f0]
    balancing: load
  mgmt:
    members: [eno1, eno2]
    balancing: failover
    policy: active-backup
collectors:
  link:
    exclude: '^lo$'
""")


#: scenario folder -> builder
BUILDS = {
    "linux-declared-mpio": linux_declared_mpio,
}
