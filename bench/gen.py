"""Generate a fixture host with N NICs and M bonds in the sysfs/procfs layout the kernel
shows and node_exporter reads (netdev via /proc/net/dev, netclass, bonding).

    python bench/gen.py --nics 1000 --bonds 100 bench/out/trees/n1000-b100

Writes ``DIR/snapshot.yml`` and ``DIR/root/{sys,proc}`` so the tree serves lanes both as
``--snapshot DIR`` and as ``--path.sysfs DIR/root/sys --path.procfs DIR/root/proc``, and
node_exporter as ``--path.sysfs``/``--path.procfs``.

Layout sources (nothing is copied from another project's fixtures):
* /sys/class/net/<if> attributes: Documentation/ABI/testing/sysfs-class-net, the regular
  files a 6.x kernel shows for an Ethernet device (those that read without error on a
  virtio NIC; ``phys_port_*`` give EOPNOTSUPP there and are left out), and
  ``statistics/*`` (Documentation/ABI/testing/sysfs-class-net-statistics).
* bonds: /sys/class/net/bonding_masters, <bond>/bonding/* (drivers/net/bonding/
  bond_sysfs.c), <bond>/lower_<member> symlinks, <member>/master and upper_<bond>
  symlinks, <member>/bonding_slave/* (bond_sysfs_slave.c), /proc/net/bonding/<bond>
  (bond_procfs.c, as root sees it).
* /proc/net/dev: net/core/net-procfs.c.
Physical NICs hang below a PCI device with an ``ixgbe`` driver link; bonds are virtual.
Every bond is an 802.3ad bond of ``--members`` NICs (default 2), all healthy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from scenario_tools import netdev, proc_net_dev, snapshot_yml, symlink, write  # noqa: E402

STATS = (
    "collisions", "multicast", "rx_bytes", "rx_compressed", "rx_crc_errors", "rx_dropped", "rx_errors",
    "rx_fifo_errors", "rx_frame_errors", "rx_length_errors", "rx_missed_errors", "rx_nohandler",
    "rx_over_errors", "rx_packets", "tx_aborted_errors", "tx_bytes", "tx_carrier_errors", "tx_compressed",
    "tx_dropped", "tx_errors", "tx_fifo_errors", "tx_heartbeat_errors", "tx_packets", "tx_window_errors",
)  # fmt: skip
SPEED_MBIT = 10000
MARKER = ".generated"


def _mac(prefix: int, n: int) -> str:
    return f"02:{prefix:02x}:{(n >> 16) & 0xFF:02x}:{(n >> 8) & 0xFF:02x}:{n & 0xFF:02x}:01"


def _pci(n: int) -> str:
    # two functions per device, 32 devices per bus: 0000:BB:DD.F
    bus, rest = divmod(n, 64)
    dev, fn = divmod(rest, 2)
    return f"0000:{0x10 + bus:02x}:{dev:02x}.{fn}"


def _counters(i: int) -> dict[str, int]:
    # distinct, large, deterministic values (a busy storage NIC: TB counters)
    base = 1_000_003 * (i + 7)
    return {
        "rx_bytes": base * 9_973, "rx_packets": base * 7, "rx_errors": i % 3, "rx_dropped": i % 5,
        "rx_fifo_errors": 0, "rx_frame_errors": 0, "rx_compressed": 0, "multicast": i * 11,
        "tx_bytes": base * 8_861, "tx_packets": base * 6, "tx_errors": i % 2, "tx_dropped": 0,
        "tx_fifo_errors": 0, "collisions": 0, "tx_carrier_errors": 0, "tx_compressed": 0,
    }  # fmt: skip


def _proc_row(c: dict[str, int]) -> tuple[int, ...]:
    # /proc/net/dev column order (dev_seq_printf_stats)
    return (c["rx_bytes"], c["rx_packets"], c["rx_errors"], c["rx_dropped"], c["rx_fifo_errors"], c["rx_frame_errors"],
            c["rx_compressed"], c["multicast"], c["tx_bytes"], c["tx_packets"], c["tx_errors"], c["tx_dropped"],
            c["tx_fifo_errors"], c["collisions"], c["tx_carrier_errors"], c["tx_compressed"])  # fmt: skip


def _common_attrs(ifindex: int, duplex: str = "full") -> dict[str, str]:
    return {
        "addr_assign_type": "0", "addr_len": "6", "broadcast": "ff:ff:ff:ff:ff:ff", "carrier_down_count": "1",
        "carrier_up_count": "1", "dev_id": "0x0", "dev_port": "0", "dormant": "0", "duplex": duplex,
        "gro_flush_timeout": "0", "ifalias": "", "iflink": str(ifindex), "link_mode": "0", "name_assign_type": "4",
        "napi_defer_hard_irqs": "0", "netdev_group": "0", "proto_down": "0", "testing": "0", "threaded": "0",
        "tx_queue_len": "1000", "type": "1",
    }  # fmt: skip


def _statistics(devdir: str, c: dict[str, int]) -> None:
    d = os.path.join(devdir, "statistics")
    os.makedirs(d, exist_ok=True)
    for s in STATS:
        with open(os.path.join(d, s), "w") as f:
            f.write(f"{c.get(s, 0)}\n")


def _proc_bonding(bond: str, mac: str, members: list[tuple[str, str]], partner: str) -> str:
    """/proc/net/bonding/<bond> of a healthy 802.3ad bond as root reads it (bond_procfs.c:
    bond_info_show_master / bond_info_show_slave; the system MAC and lacp pdu details are
    printed only with CAP_NET_ADMIN)."""
    lines = [
        "Ethernet Channel Bonding Driver: v6.1.0-bench", "",
        "Bonding Mode: IEEE 802.3ad Dynamic link aggregation", "Transmit Hash Policy: layer3+4 (1)",
        "MII Status: up", "MII Polling Interval (ms): 100", "Up Delay (ms): 0", "Down Delay (ms): 0",
        "Peer Notification Delay (ms): 0", "", "802.3ad info", "LACP active: on", "LACP rate: fast", "Min links: 0",
        "Aggregator selection policy (ad_select): stable", "System priority: 65535", f"System MAC address: {mac}",
        "Active Aggregator Info:", "\tAggregator ID: 1", f"\tNumber of ports: {len(members)}", "\tActor Key: 15",
        "\tPartner Key: 1", f"\tPartner Mac Address: {partner}",
    ]  # fmt: skip
    for port, (name, mmac) in enumerate(members, 1):
        lines += [
            "", f"Slave Interface: {name}", "MII Status: up", f"Speed: {SPEED_MBIT} Mbps", "Duplex: full",
            "Link Failure Count: 0", f"Permanent HW addr: {mmac}", "Slave queue ID: 0", "Aggregator ID: 1",
            "Actor Churn State: none", "Partner Churn State: none", "Actor Churned Count: 0", "Partner Churned Count: 0",
            "details actor lacp pdu:", "    system priority: 65535", f"    system mac address: {mac}", "    port key: 15",
            "    port priority: 255", f"    port number: {port}", "    port state: 63",
            "details partner lacp pdu:", "    system priority: 32768", f"    system mac address: {partner}",
            "    oper key: 1", "    port priority: 32768", f"    port number: {port}", "    port state: 63",
        ]  # fmt: skip
    return "\n".join(lines) + "\n"


def generate(directory: str, nics: int, bonds: int, members: int = 2) -> str:
    """Write the tree (replacing DIR); returns DIR."""
    if bonds * members > nics:
        raise ValueError(f"{bonds} bonds x {members} members need more than {nics} NICs")
    shutil.rmtree(directory, ignore_errors=True)
    root = os.path.join(directory, "root")
    snapshot_yml(
        directory,
        "linux",
        f"generated by bench/gen.py: {nics} NICs (ixgbe, {SPEED_MBIT} Mb/s) and {bonds} 802.3ad bonds of {members} members; "
        "layout from the kernel's sysfs-class-net ABI, bond_sysfs*.c, bond_procfs.c, net-procfs.c",
        hostname=f"bench-{nics}-{bonds}",
    )
    rows: dict[str, tuple[int, ...]] = {}
    ifindex = 1
    lo = netdev(root, "lo", operstate="unknown", flags=0x9, mtu=65536, mac="00:00:00:00:00:00", ifindex=ifindex,
                extra={**_common_attrs(1, "unknown"), "addr_assign_type": "0", "type": "772", "name_assign_type": "0"})  # fmt: skip
    c = _counters(0)
    _statistics(lo, c)
    rows["lo"] = _proc_row(c)
    enslaved = {}
    for b in range(bonds):
        for k in range(members):
            enslaved[f"eth{b * members + k}"] = f"bond{b}"
    nic_dirs = {}
    for i in range(nics):
        ifindex += 1
        name = f"eth{i}"
        master = enslaved.get(name)
        flags = 0x1803 if master else 0x1003  # UP|BROADCAST|MULTICAST (+ SLAVE)
        d = netdev(root, name, pci=_pci(i), driver="ixgbe", mac=_mac(0xE0, i), speed=SPEED_MBIT, mtu=9000, ifindex=ifindex,
                   flags=flags, carrier_changes=2, master=master, extra=_common_attrs(ifindex))  # fmt: skip
        c = _counters(i + 1)
        _statistics(d, c)
        rows[name] = _proc_row(c)
        nic_dirs[name] = d
    masters = []
    for b in range(bonds):
        ifindex += 1
        name = f"bond{b}"
        masters.append(name)
        mac = _mac(0xB0, b)
        partner = _mac(0xAA, b // 8)  # a pair of switches serves eight bonds
        names = [f"eth{b * members + k}" for k in range(members)]
        d = netdev(root, name, devtype="bond", mac=mac, speed=SPEED_MBIT * members, mtu=9000, ifindex=ifindex, flags=0x1403,
                   carrier_changes=1, extra=_common_attrs(ifindex))  # fmt: skip
        c = _counters(10_000_000 + b)
        _statistics(d, c)
        rows[name] = _proc_row(c)
        bonding = {
            "mode": "802.3ad 4", "slaves": " ".join(names), "active_slave": "", "primary": "", "primary_reselect": "always 0",
            "mii_status": "up", "miimon": "100", "updelay": "0", "downdelay": "0", "peer_notif_delay": "0",
            "arp_interval": "0", "arp_ip_target": "", "arp_validate": "none 0", "arp_all_targets": "any 0",
            "arp_missed_max": "2", "xmit_hash_policy": "layer3+4 1", "lacp_rate": "fast 1", "lacp_active": "on 1",
            "ad_select": "stable 0", "min_links": "0", "ad_aggregator": "1", "ad_num_ports": str(members),
            "ad_actor_key": "15", "ad_partner_key": "1", "ad_partner_mac": partner, "ad_actor_sys_prio": "65535",
            "ad_actor_system": "00:00:00:00:00:00", "ad_user_port_key": "0", "fail_over_mac": "none 0",
            "use_carrier": "1", "all_slaves_active": "0", "resend_igmp": "1", "num_grat_arp": "1", "num_unsol_na": "1",
            "lp_interval": "1", "packets_per_slave": "1", "tlb_dynamic_lb": "1",
            "queue_id": " ".join(f"{n}:0" for n in names),
        }  # fmt: skip
        for k, v in bonding.items():
            write(os.path.join(d, "bonding", k), v + "\n")
        for m in names:
            md = nic_dirs[m]
            symlink(os.path.relpath(md, d), os.path.join(d, f"lower_{m}"))
            symlink(os.path.relpath(d, md), os.path.join(md, f"upper_{name}"))
            slave = {
                "state": "active", "mii_status": "up", "link_failure_count": "0", "perm_hwaddr": _mac(0xE0, int(m[3:])),
                "queue_id": "0", "prio": "0", "ad_aggregator_id": "1", "ad_actor_oper_port_state": "63",
                "ad_partner_oper_port_state": "63",
            }  # fmt: skip
            for k, v in slave.items():
                write(os.path.join(md, "bonding_slave", k), v + "\n")
        write(os.path.join(root, "proc/net/bonding", name),
              _proc_bonding(name, mac, [(m, _mac(0xE0, int(m[3:]))) for m in names], partner))  # fmt: skip
    if masters:
        write(os.path.join(root, "sys/class/net/bonding_masters"), " ".join(masters) + "\n")
    proc_net_dev(root, rows)
    with open(os.path.join(directory, MARKER), "w") as f:
        f.write(f"nics={nics} bonds={bonds} members={members}\n")
    return directory


def ensure(directory: str, nics: int, bonds: int, members: int = 2) -> str:
    """Generate unless DIR already holds this exact tree."""
    want = f"nics={nics} bonds={bonds} members={members}\n"
    try:
        with open(os.path.join(directory, MARKER)) as f:
            if f.read() == want:
                return directory
    except FileNotFoundError:
        pass
    return generate(directory, nics, bonds, members)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("directory")
    p.add_argument("--nics", type=int, default=1000)
    p.add_argument("--bonds", type=int, default=100)
    p.add_argument("--members", type=int, default=2, help="NICs per bond (default 2)")
    args = p.parse_args(argv)
    t = time.monotonic()
    generate(args.directory, args.nics, args.bonds, args.members)
    print(f"{args.directory}: {args.nics} NICs, {args.bonds} bonds in {time.monotonic() - t:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
