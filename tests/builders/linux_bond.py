"""Builds the hand-made bonding and teamd scenarios (the folders are committed; a test rebuilds them).

python -m tests.builders <name>  # then:
pytest tests/test_scenarios.py --update-golden -k 'linux-bond or linux-team'

Formats (drivers/net/bonding/bond_sysfs.c, bond_sysfs_slave.c, bond_procfs.c;
Documentation/ABI/testing/sysfs-class-net; real-captures.md L-1..L-3):

* ``bonding/mode``, ``xmit_hash_policy``, ``lacp_rate``, ``ad_select``, ``lacp_active`` print
  ``<name> <number>``; ``slaves`` the member names separated by blanks; ``active_slave`` and
  ``primary`` print nothing when unset; ``ad_aggregator``/``ad_num_ports`` print nothing
  outside 802.3ad; ``ad_actor_key``/``ad_partner_key``/``ad_partner_mac`` print nothing
  without CAP_NET_ADMIN.
* ``bonding_slave/ad_aggregator_id`` and the ``ad_*_oper_port_state`` files print ``N/A``
  outside 802.3ad.
* The master's directory holds ``lower_<member>`` links (``slave_<member>`` on old kernels),
  the member's ``upper_<bond>`` and ``master`` links; ``bonding_masters`` lists the bonds.
* LACP actor keys encode the speed, ``(speed_enum << 1) | full_duplex``: 9 = 1G, 15 = 10G.
"""

from __future__ import annotations

import json
import os

from .captures import capture
from .sysfs import clear, counters, netdev, proc_net_dev, snapshot_yml, symlink, write

NOTE = "hand-made from the kernel's bonding sysfs formats (bond_sysfs.c, bond_sysfs_slave.c) and /proc/net/dev"


def _fresh(out: str, name: str) -> tuple[str, str]:
    d = os.path.join(out, name)
    clear(d)
    return d, os.path.join(d, "root")


def bond_master(root, name, *, mode, slaves, ifindex, mac, speed, miimon=100, arp_interval=0, xmit="layer2 0",
                lacp_rate="slow 0", ad_select="stable 0", lacp_active="on 1", min_links=0, active_slave="", primary="",
                ad=None, privileged=True, layout="lower", operstate="up"):
    """A bond master: its netdev, bonding/ files and the links to its members.
    ad: (aggregator, num_ports, actor_key, partner_key, partner_mac) in 802.3ad."""
    d = netdev(root, name, devtype="bond", mac=mac, speed=speed, ifindex=ifindex, flags=0x1403, operstate=operstate)
    files = {
        "mode": mode, "slaves": " ".join(slaves), "active_slave": active_slave, "primary": primary,
        "miimon": str(miimon), "arp_interval": str(arp_interval), "xmit_hash_policy": xmit, "lacp_rate": lacp_rate,
        "ad_select": ad_select, "min_links": str(min_links), "updelay": "0", "downdelay": "0",
        "mii_status": "up" if operstate == "up" else "down", "use_carrier": "1", "fail_over_mac": "none 0",
        "ad_aggregator": "", "ad_num_ports": "", "ad_actor_key": "", "ad_partner_key": "", "ad_partner_mac": "",
    }  # fmt: skip
    if lacp_active is not None:
        files["lacp_active"] = lacp_active
    if ad is not None:
        agg, ports, akey, pkey, pmac = ad
        files["ad_aggregator"], files["ad_num_ports"] = str(agg), str(ports)
        if privileged:
            files.update(ad_actor_key=str(akey), ad_partner_key=str(pkey), ad_partner_mac=pmac)
    for k, v in files.items():
        # an attribute that prints nothing is an empty file; others end in a newline
        write(os.path.join(d, "bonding", k), v + "\n" if v else "")
    prefix = "lower_" if layout == "lower" else "slave_"
    for s in slaves:
        target = os.path.relpath(os.path.realpath(os.path.join(root, "sys/class/net", s)), d)
        symlink(target, os.path.join(d, prefix + s))
    return d


def bond_slave(root, name, bond, *, pci, driver, mac, speed, ifindex, state="active", mii="up", failures=0, agg=None,
               actor=None, partner=None, operstate="up", carrier=1, carrier_changes=1, port_state_files=True):
    """A bonded NIC with its bonding_slave/ directory.  agg/actor/partner None -> N/A."""
    d = netdev(root, name, pci=pci, driver=driver, mac=mac, speed=speed, ifindex=ifindex, master=bond,
               operstate=operstate, carrier=carrier, carrier_changes=carrier_changes, flags=0x1803 if operstate == "up" else 0x1003)
    symlink(os.path.relpath(os.path.join(root, "sys/devices/virtual/net", bond), d), os.path.join(d, f"upper_{bond}"))

    def na(v):
        return "N/A" if v is None else str(v)

    files = {"state": state, "mii_status": mii, "link_failure_count": str(failures), "perm_hwaddr": mac, "queue_id": "0",
             "ad_aggregator_id": na(agg)}
    if port_state_files:
        files.update(ad_actor_oper_port_state=na(actor), ad_partner_oper_port_state=na(partner))
    for k, v in files.items():
        write(os.path.join(d, "bonding_slave", k), v + "\n")
    return d


def masters(root, *names):
    write(os.path.join(root, "sys/class/net/bonding_masters"), " ".join(names) + "\n")


def lo(root):
    netdev(root, "lo", operstate="unknown", flags=0x9, mtu=65536, ifindex=1)


# --------------------------------------------------------------------------- active-backup


def ab_healthy(out: str) -> None:
    d, root = _fresh(out, "linux-bond-ab-healthy")
    snapshot_yml(d, "linux", f"{NOTE}: an active-backup bond of two 1G NICs, both up, eno1 active.", hostname="nfs-client-a")
    lo(root)
    bond_slave(root, "eno1", "bond0", pci="0000:00:19.0", driver="igb", mac="3c:ec:ef:00:10:01", speed=1000, ifindex=2)
    bond_slave(root, "eno2", "bond0", pci="0000:00:1a.0", driver="igb", mac="3c:ec:ef:00:10:02", speed=1000, ifindex=3, state="backup")
    bond_master(root, "bond0", mode="active-backup 1", slaves=["eno1", "eno2"], ifindex=4, mac="3c:ec:ef:00:10:01", speed=1000,
                active_slave="eno1")
    masters(root, "bond0")
    proc_net_dev(root, {
        "lo": counters(1_000, 10, 1_000, 10),
        "eno1": counters(9_100_200_300, 7_000_000, 4_400_500_600, 3_100_000),
        "eno2": counters(1_200_300, 15_000, 0, 0, rx_drop=14_900),
        "bond0": counters(9_101_400_600, 7_015_000, 4_400_500_600, 3_100_000, rx_drop=14_900),
    })  # fmt: skip


def ab_failover(out: str) -> None:
    d, root = _fresh(out, "linux-bond-ab-failover")
    snapshot_yml(d, "linux", f"{NOTE}: an active-backup bond whose primary ens1f0 lost its link (MII down, speed -1, "
                 "3 link failures); the backup ens2f0 took over.", hostname="nfs-client-b")
    lo(root)
    bond_slave(root, "ens1f0", "bond0", pci="0000:3b:00.0", driver="ixgbe", mac="a0:36:9f:11:22:30", speed=-1, ifindex=2,
               state="backup", mii="down", failures=3, operstate="down", carrier=0, carrier_changes=6)
    bond_slave(root, "ens2f0", "bond0", pci="0000:5e:00.0", driver="ixgbe", mac="a0:36:9f:11:22:40", speed=10000, ifindex=3)
    bond_master(root, "bond0", mode="active-backup 1", slaves=["ens1f0", "ens2f0"], ifindex=4, mac="a0:36:9f:11:22:30",
                speed=10000, active_slave="ens2f0", primary="ens1f0")
    masters(root, "bond0")
    proc_net_dev(root, {
        "lo": counters(1_000, 10, 1_000, 10),
        "ens1f0": counters(700_000_000_000, 500_000_000, 300_000_000_000, 250_000_000),
        "ens2f0": counters(12_000_000_000, 9_000_000, 6_000_000_000, 4_500_000),
        "bond0": counters(712_000_000_000, 509_000_000, 306_000_000_000, 254_500_000),
    })  # fmt: skip


# --------------------------------------------------------------------------- 802.3ad

PARTNER_A = "3c:c7:86:43:ac:f1"
PARTNER_B = "3c:c7:86:99:00:01"
NICS = [  # name, pci, mac
    ("ens1f0", "0000:3b:00.0", "b8:59:9f:12:34:50"),
    ("ens1f1", "0000:3b:00.1", "b8:59:9f:12:34:51"),
    ("ens2f0", "0000:5e:00.0", "b8:59:9f:12:34:60"),
    ("ens2f1", "0000:5e:00.1", "b8:59:9f:12:34:61"),
]


def _lacp_counters(n):
    rows = {"lo": counters(1_000, 10, 1_000, 10)}
    rx = tx = rp = tp = 0
    for i, (name, _pci, _mac) in enumerate(NICS[:n]):
        r, t = 100_000_000_000 * (i + 1), 50_000_000_000 * (i + 1)
        rows[name] = counters(r, r // 1000, t, t // 1000)
        rx, tx, rp, tp = rx + r, tx + t, rp + r // 1000, tp + t // 1000
    rows["bond0"] = counters(rx, rp, tx, tp)
    return rows


def lacp_bond(out: str, name: str, notes: str, hostname: str, ports: list[tuple[int, int, int, str]], *, speed: int,
              ad: tuple, lacp_rate: str = "fast 1", privileged: bool = True) -> tuple[str, str]:
    """The base 802.3ad host: bond0 over the first len(ports) of NICS (10G ixgbe, ifindex 2..),
    layer3+4 hashing, and their counters.  ports: (aggregator, actor state, partner state,
    bonding_slave state) per member; the rest of a scenario is its delta."""
    d, root = _fresh(out, name)
    snapshot_yml(d, "linux", f"{NOTE}{notes}", hostname=hostname)
    lo(root)
    for i, ((nic, pci, mac), (agg, a, p, st)) in enumerate(zip(NICS, ports)):  # noqa: B905 (3.9: no strict=)
        bond_slave(root, nic, "bond0", pci=pci, driver="ixgbe", mac=mac, speed=10000, ifindex=2 + i, agg=agg, actor=a, partner=p, state=st)
    bond_master(root, "bond0", mode="802.3ad 4", slaves=[n for n, _, _ in NICS[:len(ports)]], ifindex=2 + len(ports), mac=NICS[0][2],
                speed=speed, xmit="layer3+4 1", lacp_rate=lacp_rate, ad=ad, privileged=privileged)
    masters(root, "bond0")
    proc_net_dev(root, _lacp_counters(len(ports)))
    return d, root


def lacp_healthy(out: str) -> None:
    lacp_bond(out, "linux-bond-lacp-healthy", ": an 802.3ad bond of four 10G NICs, all in aggregator 1 with one partner, "
              "fast LACP, actor and partner port state 63; read as root.", "iscsi-target-a",
              [(1, 63, 63, "active")] * 4, speed=40000, ad=(1, 4, 15, 32, PARTNER_A))


def lacp_split(out: str) -> None:
    states = [(1, 63, 63, "active"), (1, 63, 63, "active"), (2, 15, 63, "backup"), (2, 15, 63, "backup")]
    d, root = lacp_bond(out, "linux-bond-lacp-split", ", plus /proc/net/bonding/bond0 (bond_procfs.c, 6.8 layout, read as root): "
                        "an 802.3ad bond whose four members are cabled to two switches that are not one MLAG pair. ens1f0/ens1f1 "
                        "form the active aggregator 1 with partner 3c:c7:86:43:ac:f1; ens2f0/ens2f1 sit in aggregator 2 with "
                        "partner 3c:c7:86:99:00:01, synchronised but not collecting/distributing (actor state 15), as backup.",
                        "iscsi-target-b", states, speed=20000, ad=(1, 2, 15, 32, PARTNER_A))
    # the delta: /proc/net/bonding/bond0 naming each member's partner system
    slaves = []
    for i, ((name, _pci, mac), (agg, a, p, _st)) in enumerate(zip(NICS, states)):  # noqa: B905 (3.9: no strict=)
        partner = PARTNER_A if agg == 1 else PARTNER_B
        slaves.append(f"""
Slave Interface: {name}
MII Status: up
Speed: 10000 Mbps
Duplex: full
Link Failure Count: 0
Permanent HW addr: {mac}
Slave queue ID: 0
Aggregator ID: {agg}
Actor Churn State: {"none" if agg == 1 else "churned"}
Partner Churn State: {"none" if agg == 1 else "churned"}
Actor Churned Count: {0 if agg == 1 else 1}
Partner Churned Count: {0 if agg == 1 else 1}
details actor lacp pdu:
    system priority: 65535
    system mac address: {NICS[0][2]}
    port key: 15
    port priority: 255
    port number: {i + 1}
    port state: {a}
details partner lacp pdu:
    system priority: 32768
    system mac address: {partner}
    oper key: {32 if agg == 1 else 17}
    port priority: 32768
    port number: {11 + (i % 2)}
    port state: {p}
""")
    write(os.path.join(root, "proc/net/bonding/bond0"), f"""Ethernet Channel Bonding Driver: v6.8.0-45-generic

Bonding Mode: IEEE 802.3ad Dynamic link aggregation
Transmit Hash Policy: layer3+4 (1)
MII Status: up
MII Polling Interval (ms): 100
Up Delay (ms): 0
Down Delay (ms): 0
Peer Notification Delay (ms): 0

802.3ad info
LACP active: on
LACP rate: fast
Min links: 0
Aggregator selection policy (ad_select): stable
System priority: 65535
System MAC address: {NICS[0][2]}
Active Aggregator Info:
\tAggregator ID: 1
\tNumber of ports: 2
\tActor Key: 15
\tPartner Key: 32
\tPartner Mac Address: {PARTNER_A}
""" + "".join(slaves))


def lacp_nopartner(out: str) -> None:
    d, root = _fresh(out, "linux-bond-lacp-nopartner")
    snapshot_yml(d, "linux", f"{NOTE}; values after the real captures of real-captures.md L-1 (RHEL 7 insights-core "
                 "BOND_MODE_4, systemd#11635): an 802.3ad bond whose switch ports do not speak LACP. The active aggregator 1 "
                 "holds only enp0s9 (actor state 77, partner 1, partner MAC zero, partner key 1); enp0s8 lost its link and "
                 "sits alone in aggregator 2 (actor state 69).", hostname="nfs-server-c")
    lo(root)
    bond_slave(root, "enp0s8", "bond0", pci="0000:00:08.0", driver="e1000", mac="08:00:27:aa:00:08", speed=-1, ifindex=2,
               state="backup", mii="down", failures=1, agg=2, actor=69, partner=1, operstate="down", carrier=0, carrier_changes=3)
    bond_slave(root, "enp0s9", "bond0", pci="0000:00:09.0", driver="e1000", mac="08:00:27:aa:00:09", speed=1000, ifindex=3,
               agg=1, actor=77, partner=1)
    bond_master(root, "bond0", mode="802.3ad 4", slaves=["enp0s8", "enp0s9"], ifindex=4, mac="08:00:27:aa:00:08", speed=1000,
                lacp_active=None, ad=(1, 1, 9, 1, "00:00:00:00:00:00"))
    masters(root, "bond0")
    proc_net_dev(root, {
        "lo": counters(1_000, 10, 1_000, 10),
        "enp0s8": counters(5_000_000, 40_000, 3_000_000, 20_000),
        "enp0s9": counters(81_000_000, 600_000, 52_000_000, 400_000),
        "bond0": counters(86_000_000, 640_000, 55_000_000, 420_000),
    })  # fmt: skip


def lacp_unprivileged(out: str) -> None:
    lacp_bond(out, "linux-bond-lacp-unprivileged", ": a healthy two-member 802.3ad bond read without CAP_NET_ADMIN: "
              "bonding/ad_actor_key, ad_partner_key and ad_partner_mac are empty (bond_sysfs.c prints them only when "
              "capable(CAP_NET_ADMIN)), the ungated ad_aggregator, ad_num_ports and member port states are filled.", "iscsi-init-d",
              [(1, 61, 61, "active")] * 2, speed=20000, ad=(1, 2, 15, 32, PARTNER_A), lacp_rate="slow 0", privileged=False)


def lacp_mismatch(out: str) -> None:
    lacp_bond(out, "linux-bond-lacp-mismatch", ": an 802.3ad bond (lacp_rate fast) of three 10G NICs in aggregator 1. ens1f0 is "
              "healthy (63/63); the switch port of ens1f1 runs slow LACP (partner state 61: timeout mismatch, still aggregating); "
              "ens2f0 is in the active aggregator but not collecting/distributing (actor 15, partner 55, as in an Ubuntu 5.15 "
              "lab capture) and so a backup port.", "iscsi-target-e",
              [(1, 63, 63, "active"), (1, 63, 61, "active"), (1, 15, 55, "backup")], speed=20000, ad=(1, 2, 15, 32, PARTNER_A))


def old_layout(out: str) -> None:
    d, root = _fresh(out, "linux-bond-old-layout")
    snapshot_yml(d, "linux", f"{NOTE}, in the layout of 3.13-era kernels: the master links its members as slave_<member> "
                 "(node_exporter's fixture layout), bonding_slave/ has no ad_*_oper_port_state files and bonding/ no "
                 "lacp_active; /proc/net/bonding/bond0 in the v3.7.1 format with churn and lacp pdu lines (RHEL 7 "
                 "insights-core capture layout, read as root) supplies the port states. Two 1G members, slow LACP, healthy.",
                 hostname="legacy-f")
    lo(root)
    mems = [("eth0", "0000:02:00.0", "00:50:56:aa:01:00"), ("eth1", "0000:02:00.1", "00:50:56:aa:01:01")]
    for i, (name, pci, mac) in enumerate(mems):
        bond_slave(root, name, "bond0", pci=pci, driver="e1000e", mac=mac, speed=1000, ifindex=2 + i, agg=1, port_state_files=False)
    bond_master(root, "bond0", mode="802.3ad 4", slaves=[n for n, _, _ in mems], ifindex=4, mac=mems[0][2], speed=2000,
                xmit="layer2+3 2", lacp_active=None, ad=(1, 2, 9, 100, "00:1b:17:00:01:13"), layout="slave")
    masters(root, "bond0")
    proc_net_dev(root, {
        "lo": counters(1_000, 10, 1_000, 10),
        "eth0": counters(44_000_000_000, 40_000_000, 21_000_000_000, 20_000_000),
        "eth1": counters(43_000_000_000, 39_000_000, 22_000_000_000, 21_000_000),
        "bond0": counters(87_000_000_000, 79_000_000, 43_000_000_000, 41_000_000),
    })  # fmt: skip
    blocks = []
    for i, (name, _pci, mac) in enumerate(mems):
        blocks.append(f"""
Slave Interface: {name}
MII Status: up
Speed: 1000 Mbps
Duplex: full
Link Failure Count: 0
Permanent HW addr: {mac}
Slave queue ID: 0
Aggregator ID: 1
Actor Churn State: none
Partner Churn State: none
Actor Churned Count: 0
Partner Churned Count: 0
details actor lacp pdu:
    system priority: 65535
    system mac address: {mems[0][2]}
    port key: 9
    port priority: 255
    port number: {i + 1}
    port state: 61
details partner lacp pdu:
    system priority: 32768
    system mac address: 00:1b:17:00:01:13
    oper key: 100
    port priority: 32768
    port number: {i + 21}
    port state: 61
""")
    write(os.path.join(root, "proc/net/bonding/bond0"), f"""Ethernet Channel Bonding Driver: v3.7.1 (April 27, 2011)

Bonding Mode: IEEE 802.3ad Dynamic link aggregation
Transmit Hash Policy: layer2+3 (2)
MII Status: up
MII Polling Interval (ms): 100
Up Delay (ms): 0
Down Delay (ms): 0

802.3ad info
LACP rate: slow
Min links: 0
Aggregator selection policy (ad_select): stable
System priority: 65535
System MAC address: {mems[0][2]}
Active Aggregator Info:
\tAggregator ID: 1
\tNumber of ports: 2
\tActor Key: 9
\tPartner Key: 100
\tPartner Mac Address: 00:1b:17:00:01:13
""" + "".join(blocks))


def xor(out: str) -> None:
    d, root = _fresh(out, "linux-bond-xor")
    snapshot_yml(d, "linux", f"{NOTE}: a balance-xor bond (layer2+3) of a 10G and a 1G NIC with neither MII (miimon 0) nor "
                 "ARP monitoring (arp_interval 0): a member losing its link would never be noticed.", hostname="backup-g")
    lo(root)
    bond_slave(root, "ens1f0", "bond1", pci="0000:3b:00.0", driver="ixgbe", mac="a0:36:9f:11:22:30", speed=10000, ifindex=2)
    bond_slave(root, "eno1", "bond1", pci="0000:00:19.0", driver="igb", mac="3c:ec:ef:00:10:01", speed=1000, ifindex=3)
    bond_master(root, "bond1", mode="balance-xor 2", slaves=["ens1f0", "eno1"], ifindex=4, mac="a0:36:9f:11:22:30", speed=11000,
                miimon=0, xmit="layer2+3 2")
    masters(root, "bond1")
    proc_net_dev(root, {
        "lo": counters(1_000, 10, 1_000, 10),
        "ens1f0": counters(400_000_000_000, 300_000_000, 900_000_000_000, 650_000_000),
        "eno1": counters(300_000_000_000, 220_000_000, 40_000_000_000, 30_000_000),
        "bond1": counters(700_000_000_000, 520_000_000, 940_000_000_000, 680_000_000),
    })  # fmt: skip


# --------------------------------------------------------------------------- teamd


def _team_netdevs(root, team, ports, ifindex_team):
    lo(root)
    for i, (name, pci, mac, speed, up) in enumerate(ports):
        netdev(root, name, pci=pci, driver="ixgbe", mac=mac, speed=speed if up else -1, ifindex=2 + i, master=team,
               operstate="up" if up else "down", carrier=1 if up else 0, carrier_changes=1 if up else 4)
    # the team driver sets no device type (team_core.c team_setup): no DEVTYPE in uevent
    netdev(root, team, mac=ports[0][2], ifindex=ifindex_team, flags=0x1003)


def team_lacp(out: str) -> None:
    d, root = _fresh(out, "linux-team-lacp")
    snapshot_yml(d, "linux", "hand-made: a teamd lacp team of two 10G ports, ens3f1 lost its link (ethtool link watch down, "
                 "LACP state defaulted, not selected). commands/teamdctl_team0_state_dump.out is written in the layout of "
                 "libteam teamd/teamd_state.c and teamd_runner_lacp.c (no real lacp-runner dump exists: real-captures.md L-3), "
                 "keys sorted with 4-blank indentation like the real RHEL 7 activebackup dump; netdevs in the sysfs-class-net layout.",
                 hostname="sonic-like-h")
    ports = [("ens3f0", "0000:af:00.0", "b8:59:9f:aa:00:10", 10000, True), ("ens3f1", "0000:af:00.1", "b8:59:9f:aa:00:11", 10000, False)]
    _team_netdevs(root, "team0", ports, 4)
    proc_net_dev(root, {
        "lo": counters(1_000, 10, 1_000, 10),
        "ens3f0": counters(600_000_000_000, 450_000_000, 200_000_000_000, 150_000_000),
        "ens3f1": counters(90_000_000_000, 70_000_000, 30_000_000_000, 20_000_000),
        "team0": counters(690_000_000_000, 520_000_000, 230_000_000_000, 170_000_000),
    })  # fmt: skip
    write(os.path.join(d, "commands", "teamdctl_team0_state_dump.out"), """{
    "ports": {
        "ens3f0": {
            "ifinfo": {
                "dev_addr": "b8:59:9f:aa:00:10",
                "dev_addr_len": 6,
                "ifindex": 2,
                "ifname": "ens3f0"
            },
            "link": {
                "duplex": "full",
                "speed": 10000,
                "up": true
            },
            "link_watches": {
                "list": {
                    "link_watch_0": {
                        "delay_down": 0,
                        "delay_up": 0,
                        "down_count": 1,
                        "name": "ethtool",
                        "up": true
                    }
                },
                "up": true
            },
            "runner": {
                "actor_lacpdu_info": {
                    "key": 0,
                    "port": 2,
                    "port_priority": 255,
                    "state": 61,
                    "system": "b8:59:9f:aa:00:10",
                    "system_priority": 65535
                },
                "aggregator": {
                    "id": 2,
                    "selected": true
                },
                "key": 0,
                "partner_lacpdu_info": {
                    "key": 32,
                    "port": 11,
                    "port_priority": 32768,
                    "state": 61,
                    "system": "3c:c7:86:43:ac:f1",
                    "system_priority": 32768
                },
                "prio": 255,
                "selected": true,
                "state": "current"
            }
        },
        "ens3f1": {
            "ifinfo": {
                "dev_addr": "b8:59:9f:aa:00:10",
                "dev_addr_len": 6,
                "ifindex": 3,
                "ifname": "ens3f1"
            },
            "link": {
                "duplex": "half",
                "speed": 0,
                "up": false
            },
            "link_watches": {
                "list": {
                    "link_watch_0": {
                        "delay_down": 0,
                        "delay_up": 0,
                        "down_count": 4,
                        "name": "ethtool",
                        "up": false
                    }
                },
                "up": false
            },
            "runner": {
                "actor_lacpdu_info": {
                    "key": 0,
                    "port": 3,
                    "port_priority": 255,
                    "state": 69,
                    "system": "b8:59:9f:aa:00:10",
                    "system_priority": 65535
                },
                "aggregator": {
                    "id": 0,
                    "selected": false
                },
                "key": 0,
                "partner_lacpdu_info": {
                    "key": 0,
                    "port": 0,
                    "port_priority": 0,
                    "state": 0,
                    "system": "00:00:00:00:00:00",
                    "system_priority": 0
                },
                "prio": 255,
                "selected": false,
                "state": "defaulted"
            }
        }
    },
    "runner": {
        "active": true,
        "fast_rate": false,
        "select_policy": "lacp_prio",
        "sys_prio": 65535
    },
    "setup": {
        "daemonized": true,
        "dbus_enabled": false,
        "debug_level": 0,
        "kernel_team_mode_name": "loadbalance",
        "pid": 1312,
        "pid_file": "/var/run/teamd/team0.pid",
        "runner_name": "lacp",
        "zmq_enabled": false
    },
    "team_device": {
        "ifinfo": {
            "dev_addr": "b8:59:9f:aa:00:10",
            "dev_addr_len": 6,
            "ifindex": 4,
            "ifname": "team0"
        }
    }
}
""")


def team_ab(out: str) -> None:
    d, root = _fresh(out, "linux-team-activebackup")
    snapshot_yml(d, "linux", "hand-made: a teamd activebackup team; eno1 is the active port, eno2 lost its link. "
                 "commands/teamdctl_team1_state_dump.out follows the real RHEL 7 activebackup dump of real-captures.md L-3 "
                 "(keys sorted, 4-blank indentation) with the ports object of libteam teamd/teamd_state.c added; netdevs in the "
                 "sysfs-class-net layout.", hostname="rhel7-i")
    ports = [("eno1", "0000:01:00.0", "2c:59:e5:47:a9:04", 1000, True), ("eno2", "0000:01:00.1", "2c:59:e5:47:a9:05", 1000, False)]
    _team_netdevs(root, "team1", ports, 5)
    proc_net_dev(root, {
        "lo": counters(1_000, 10, 1_000, 10),
        "eno1": counters(5_000_000_000, 4_000_000, 2_000_000_000, 1_500_000),
        "eno2": counters(100_000, 900, 0, 0),
        "team1": counters(5_000_100_000, 4_000_900, 2_000_000_000, 1_500_000),
    })  # fmt: skip
    # the real RHEL 7 activebackup dump (keys sorted, 4-blank indentation: json.dumps(indent=4,
    # sort_keys=True) reproduces it), renamed to team1, with the ports object teamd_state.c adds
    dump = json.loads(capture("insights-core/teamdctl-team0-state-dump.json"))
    dump["setup"]["pid_file"] = "/var/run/teamd/team1.pid"
    dump["team_device"]["ifinfo"]["ifname"] = "team1"

    def port(name, ifindex, duplex, speed, up, downs):
        return {
            "ifinfo": {"dev_addr": "2c:59:e5:47:a9:04", "dev_addr_len": 6, "ifindex": ifindex, "ifname": name},
            "link": {"duplex": duplex, "speed": speed, "up": up},
            "link_watches": {"list": {"link_watch_0": {"delay_down": 0, "delay_up": 0, "down_count": downs, "name": "ethtool", "up": up}},
                             "up": up},
        }  # fmt: skip

    dump["ports"] = {"eno1": port("eno1", 2, "full", 1000, True, 0), "eno2": port("eno2", 3, "half", 0, False, 2)}
    write(os.path.join(d, "commands", "teamdctl_team1_state_dump.out"), json.dumps(dump, indent=4, sort_keys=True) + "\n")


#: scenario folder -> builder
BUILDS = {
    "linux-bond-ab-healthy": ab_healthy,
    "linux-bond-ab-failover": ab_failover,
    "linux-bond-lacp-healthy": lacp_healthy,
    "linux-bond-lacp-split": lacp_split,
    "linux-bond-lacp-nopartner": lacp_nopartner,
    "linux-bond-lacp-unprivileged": lacp_unprivileged,
    "linux-bond-lacp-mismatch": lacp_mismatch,
    "linux-bond-old-layout": old_layout,
    "linux-bond-xor": xor,
    "linux-team-lacp": team_lacp,
    "linux-team-activebackup": team_ab,
}
