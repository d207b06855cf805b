"""Builds the hand-made NVMe native multipath scenarios (the folders are committed; a test rebuilds them).

python -m tests.builders <name>  # then:
pytest tests/test_scenarios.py --update-golden -k linux-nvme

Layout facts (Linux drivers/nvme/host): a subsystem is /sys/devices/virtual/nvme-subsystem/
nvme-subsysS with a symlink per controller (core.c nvme_init_subsystem) and its head disks
nvmeSnN as children; a fabrics controller is /sys/devices/virtual/nvme-fabrics/ctl/nvmeC
with its hidden path disks nvmeScCnN as children (core.c nvme_alloc_ns adds the disk under
ctrl->device); a PCIe controller sits below its PCI function.  /sys/block links every disk,
hidden ones included (block/genhd.c register_disk).  Attribute formats: sysfs.c (state,
transport, cntlid), fabrics.c nvmf_get_address + tcp.c nvme_tcp_get_address (address),
multipath.c (iopolicy, ana_state, numa_nodes "%*pbl", queue_depth: empty unless its
policy is active).  /proc/diskstats: block/genhd.c diskstats_show, 17 counters (>= 5.5).
/proc/net/route: net/ipv4/fib_trie.c fib_route_seq_show (127-column padded lines);
/proc/net/if_inet6: net/ipv6/addrconf.c if6_seq_show; /proc/net/ipv6_route:
net/ipv6/route.c ipv6_route_native_seq_show.
"""

from __future__ import annotations

import ipaddress
import os

from .sysfs import clear, counters, diskstats, netdev, proc_net_dev, proc_net_route, snapshot_yml, symlink, write

SUBSYS_DEV = "sys/devices/virtual/nvme-subsystem"
FABRICS_DEV = "sys/devices/virtual/nvme-fabrics/ctl"


def attrs(d: str, values: dict[str, str]) -> None:
    for k, v in values.items():
        # sysfs_emit adds the newline; an attribute whose show() returns 0 bytes reads empty
        write(os.path.join(d, k), v if v == "" else v + "\n")


def subsystem(root: str, name: str, nqn: str, model: str, serial: str, iopolicy: str, firmware: str = "6.5.1") -> str:
    d = os.path.join(root, SUBSYS_DEV, name)
    attrs(d, {"subsysnqn": nqn, "model": model.ljust(40), "serial": serial.ljust(20), "firmware_rev": firmware.ljust(8),
              "iopolicy": iopolicy, "subsystype": "nvm"})
    symlink(f"../../devices/virtual/nvme-subsystem/{name}", os.path.join(root, "sys/class/nvme-subsystem", name))
    return d


def fabrics_controller(root: str, subsys: str, name: str, nqn: str, transport: str, state: str, address: str, cntlid: int) -> str:
    d = os.path.join(root, FABRICS_DEV, name)
    attrs(d, {"state": state, "transport": transport, "address": address, "cntlid": str(cntlid), "subsysnqn": nqn,
              "hostnqn": "nqn.2014-08.org.nvmexpress:uuid:4c4c4544-0051-3610-8057-b3c04f4e4d32",
              "kato": "5", "ctrl_loss_tmo": "600", "reconnect_delay": "10", "queue_count": "9", "sqsize": "127", "numa_node": "-1"})
    symlink(f"../../devices/virtual/nvme-fabrics/ctl/{name}", os.path.join(root, "sys/class/nvme", name))
    symlink(f"../../nvme-fabrics/ctl/{name}", os.path.join(root, SUBSYS_DEV, subsys, name))
    return d


def pcie_controller(root: str, subsys: str, name: str, pci: str, nqn: str) -> str:
    d = os.path.join(root, f"sys/devices/pci0000:00/{pci}/nvme", name)
    attrs(d, {"state": "live", "transport": "pcie", "address": pci, "cntlid": "0", "subsysnqn": nqn, "numa_node": "0"})
    symlink(f"../../devices/pci0000:00/{pci}/nvme/{name}", os.path.join(root, "sys/class/nvme", name))
    symlink(f"../../../pci0000:00/{pci}/nvme/{name}", os.path.join(root, SUBSYS_DEV, subsys, name))
    return d


def head(root: str, subsys: str, disk: str, nsid: int) -> None:
    d = os.path.join(root, SUBSYS_DEV, subsys, disk)
    attrs(d, {"nsid": str(nsid), "size": "4294967296", "dev": f"259:{nsid}"})
    symlink(f"../devices/virtual/nvme-subsystem/{subsys}/{disk}", os.path.join(root, "sys/block", disk))


def path_disk(root: str, ctrl_dir: str, disk: str, nsid: int, ana: str | None, numa_nodes: str, queue_depth: str) -> None:
    d = os.path.join(ctrl_dir, disk)
    values = {"nsid": str(nsid), "size": "4294967296", "numa_nodes": numa_nodes, "queue_depth": queue_depth}
    if ana is not None:  # invisible when the controller does not use ANA (sysfs.c)
        values.update({"ana_state": ana, "ana_grpid": "1"})
    attrs(d, values)
    rel = os.path.relpath(d, os.path.join(root, "sys"))
    symlink(f"../{rel}", os.path.join(root, "sys/block", disk))


def if_inet6(root: str, rows: list[tuple[str, int, int, int, int, str]]) -> None:
    out = []
    for addr, ifindex, plen, scope, flags, dev in rows:
        out.append(f"{ipaddress.IPv6Address(addr).packed.hex()} {ifindex:02x} {plen:02x} {scope:02x} {flags:02x} {dev:>8}\n")
    write(os.path.join(root, "proc/net/if_inet6"), "".join(out))


def ipv6_route(root: str, rows: list[tuple[str, int, int, int, str]]) -> None:
    """rows: (destination, prefix length, metric, flags, dev)."""
    zero = "0" * 32
    out = []
    for dest, plen, metric, flags, dev in rows:
        out.append(f"{ipaddress.IPv6Address(dest).packed.hex()} {plen:02x} {zero} 00 {zero} {metric:08x} 00000001 00000000 {flags:08x} {dev:>8}\n")
    write(os.path.join(root, "proc/net/ipv6_route"), "".join(out))


def nics(root: str) -> None:
    netdev(root, "lo", operstate="unknown", flags=0x9, mtu=65536, ifindex=1)
    netdev(root, "eno1", pci="0000:00:19.0", driver="igb", mac="3c:ec:ef:00:20:01", speed=1000, ifindex=2, carrier_changes=2)
    netdev(root, "ens1f0", pci="0000:3b:00.0", driver="ice", mac="b4:96:91:aa:10:30", speed=25000, mtu=9000, ifindex=3, carrier_changes=2)
    netdev(root, "ens2f0", pci="0000:5e:00.0", driver="ice", mac="b4:96:91:aa:20:40", speed=25000, mtu=9000, ifindex=4, carrier_changes=2)


PURE_NQN = "nqn.2010-06.com.purestorage:flasharray.6a1b2c3d4e5f"
PCIE_NQN = "nqn.2014.08.org.nvmexpress:144d144dS4EVNF0M123456      SAMSUNG MZQL2960HCJR-00A07"


ROUTES_MGMT = [("eno1", "0.0.0.0", "10.0.0.1", 0x3, 100, "0.0.0.0"), ("eno1", "10.0.0.0", "0.0.0.0", 0x1, 100, "255.255.255.0")]
ROUTE_ENS1F0 = ("ens1f0", "192.168.10.0", "0.0.0.0", 0x1, 101, "255.255.255.0")
ROUTE_ENS2F0 = ("ens2f0", "192.168.20.0", "0.0.0.0", 0x1, 102, "255.255.255.0")


def initiator(out: str, name: str, notes: str, hostname: str, ens1f0: tuple[int, ...], ens2f0: tuple[int, ...],
              routes: list[tuple]) -> tuple[str, str]:
    """The base NVMe/TCP initiator: lo, eno1 (management) and the storage NICs ens1f0 and
    ens2f0 with their counters (rx bytes, rx packets, tx bytes, tx packets) and IPv4 routes;
    the subsystems, controllers and disks are each scenario's delta."""
    d = os.path.join(out, name)
    clear(d)
    root = os.path.join(d, "root")
    snapshot_yml(d, "linux", notes, hostname=hostname)
    nics(root)
    proc_net_dev(root, {
        "lo": counters(51_238, 622, 51_238, 622),
        "eno1": counters(3_120_331, 31_002, 1_202_116, 12_990),
        "ens1f0": counters(*ens1f0),
        "ens2f0": counters(*ens2f0),
    })
    proc_net_route(root, routes)
    return d, root


def linux_nvme_tcp_numa_inaccessible(out: str) -> None:
    d, root = initiator(
        out,
        "linux-nvme-tcp-numa-inaccessible",
        "hand-made from the Linux drivers/nvme/host sysfs formats (core.c, sysfs.c, fabrics.c, tcp.c, "
        "multipath.c), block/genhd.c /proc/diskstats, fib_trie.c /proc/net/route and the sysfs-class-net ABI: "
        "an NVMe/TCP initiator with one namespace of a FlashArray over two controllers on two 25G NICs, "
        "iopolicy numa (the default); controller nvme0 reached via src_addr on ens1f0 is ANA optimized and "
        "current for NUMA node 0, controller nvme1 bound with host_iface=ens2f0 is live but ANA "
        "inaccessible (the target's controller failed over).  Head accounting (kernel >= 6.3) makes nvme0n1 "
        "the sum of its paths.  A local PCIe SSD (nvme2, its own head nvme2n1 and path nvme2c2n1) must not "
        "show as a network path.",
        "nvme-initiator-a",
        (51_200_123_456, 40_111_222, 22_600_456_789, 21_333_444),
        (812_345, 9_876, 790_123, 9_500),
        [*ROUTES_MGMT, ROUTE_ENS1F0, ROUTE_ENS2F0],
    )
    subsystem(root, "nvme-subsys0", PURE_NQN, "Pure Storage FlashArray", "6A1B2C3D4E5F0001", "numa")
    c0 = fabrics_controller(root, "nvme-subsys0", "nvme0", PURE_NQN, "tcp", "live",
                            "traddr=192.168.10.20,trsvcid=4420,src_addr=192.168.10.11", 1)
    c1 = fabrics_controller(root, "nvme-subsys0", "nvme1", PURE_NQN, "tcp", "live",
                            "traddr=192.168.20.20,trsvcid=4420,host_iface=ens2f0,src_addr=192.168.20.11", 2)
    head(root, "nvme-subsys0", "nvme0n1", 1)
    path_disk(root, c0, "nvme0c0n1", 1, "optimized", "0\n", "")
    path_disk(root, c1, "nvme0c1n1", 1, "inaccessible", "\n", "")
    subsystem(root, "nvme-subsys2", PCIE_NQN, "SAMSUNG MZQL2960HCJR-00A07", "S4EVNF0M123456", "numa", "HXT7904Q")
    p2 = pcie_controller(root, "nvme-subsys2", "nvme2", "0000:3d:00.0", PCIE_NQN)
    head(root, "nvme-subsys2", "nvme2n1", 1)
    path_disk(root, p2, "nvme2c2n1", 1, None, "0\n", "")
    diskstats(root, [
        (259, 0, "nvme2n1", 88_001, 9_600_112, 41_230, 7_700_440),
        (259, 1, "nvme2c2n1", 88_001, 9_600_112, 41_230, 7_700_440),
        (259, 2, "nvme0c0n1", 1_234_567, 98_765_432, 654_321, 43_210_987),
        (259, 3, "nvme0c1n1", 12, 96, 0, 0),
        (259, 4, "nvme0n1", 1_234_579, 98_765_528, 654_321, 43_210_987),
    ])


def linux_nvme_tcp_round_robin(out: str) -> None:
    d, root = initiator(
        out,
        "linux-nvme-tcp-round-robin",
        "hand-made from the Linux drivers/nvme/host sysfs formats (core.c, sysfs.c, fabrics.c, tcp.c, "
        "multipath.c), block/genhd.c /proc/diskstats, /proc/net/route, /proc/net/if_inet6 and "
        "/proc/net/ipv6_route formats and the sysfs-class-net ABI: two namespaces of one NVMe/TCP subsystem "
        "over two controllers with iopolicy round-robin, both paths ANA optimized and busy.  Controller "
        "nvme0 shows an address without src_addr (kernels before the src_addr change, as in "
        "real-captures L-11) so its NIC comes from a route lookup of traddr; controller nvme1 is IPv6 (ULA) "
        "with src_addr, found in /proc/net/if_inet6.  The heads count nothing (kernel before head "
        "accounting, ~6.3).",
        "nvme-initiator-b",
        (41_900_000_000, 31_000_000, 20_100_000_000, 16_000_000),
        (42_300_000_000, 31_500_000, 19_800_000_000, 15_800_000),
        [*ROUTES_MGMT, ROUTE_ENS1F0],  # no IPv4 route for ens2f0: its path is IPv6
    )
    if_inet6(root, [
        ("::1", 1, 128, 0x10, 0x80, "lo"),
        ("fd00:20::11", 4, 64, 0x00, 0x80, "ens2f0"),
        ("fe80::b696:91ff:feaa:2040", 4, 64, 0x20, 0x80, "ens2f0"),
    ])
    ipv6_route(root, [
        ("fd00:20::", 64, 256, 0x00000001, "ens2f0"),
        ("fe80::", 64, 256, 0x00000001, "ens2f0"),
    ])
    nqn = "nqn.2014-08.org.example:tank-nvme"
    subsystem(root, "nvme-subsys0", nqn, "Linux", "a1b2c3d4e5f60718", "round-robin", "6.1.0")
    c0 = fabrics_controller(root, "nvme-subsys0", "nvme0", nqn, "tcp", "live", "traddr=192.168.10.20,trsvcid=4420", 1)
    c1 = fabrics_controller(root, "nvme-subsys0", "nvme1", nqn, "tcp", "live", "traddr=fd00:20::20,trsvcid=4420,src_addr=fd00:20::11", 2)
    head(root, "nvme-subsys0", "nvme0n1", 1)
    head(root, "nvme-subsys0", "nvme0n2", 2)
    for ctrl_dir, c in ((c0, 0), (c1, 1)):
        path_disk(root, ctrl_dir, f"nvme0c{c}n1", 1, "optimized", "", "")
        path_disk(root, ctrl_dir, f"nvme0c{c}n2", 2, "optimized", "", "")
    diskstats(root, [
        (259, 0, "nvme0n1", 0, 0, 0, 0),
        (259, 1, "nvme0n2", 0, 0, 0, 0),
        (259, 2, "nvme0c0n1", 2_000_100, 40_000_800, 1_000_050, 20_000_400),
        (259, 3, "nvme0c0n2", 500_000, 8_000_000, 250_000, 4_000_000),
        (259, 4, "nvme0c1n1", 2_000_099, 40_000_792, 1_000_049, 20_000_392),
        (259, 5, "nvme0c1n2", 500_001, 8_000_016, 250_001, 4_000_016),
    ])


#: scenario folder -> builder
BUILDS = {
    "linux-nvme-tcp-numa-inaccessible": linux_nvme_tcp_numa_inaccessible,
    "linux-nvme-tcp-round-robin": linux_nvme_tcp_round_robin,
}
