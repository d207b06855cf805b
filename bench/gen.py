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

``--maps M`` adds storage (the shapes of tests/builders/linux_storage.py): M dm-multipath
maps of ``--paths`` (default 4) paths each, every path an SCSI disk behind its own
software-iSCSI session (M x paths sessions, one SCSI host each), path k of every map over
the iface bound to storage NIC k (the last ``--paths`` NICs, never bond members), one
target IQN per map with one portal per path:
* /sys/devices/platform/hostH/sessionN/{iscsi_session/sessionN, connectionN:0/
  iscsi_connection/connectionN:0, targetH:0:0/H:0:0:1/{state,access_state,ioerr_cnt,..},
  .../block/sdX}, /sys/class/iscsi_{session,connection,host}, /sys/block/sdX links
  (scsi_transport_iscsi.c, scsi_sysfs.c); sd names and dev_t as sd.c sd_format_disk_name
  and sd_major give them;
* /sys/devices/virtual/block/dm-N/{dev,dm/{name,uuid,suspended},slaves/} (dm-sysfs.c);
* /proc/diskstats with every disk and map (block/genhd.c, 17 counters);
* ``commands/multipathd_show_maps_json.out`` (libmultipath/print.c) for ``--snapshot``
  runs; a live-host run (``--path.sysfs``) has no multipathd to ask.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from builders.sysfs import netdev, proc_net_dev, snapshot_yml, symlink, write  # noqa: E402

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


def sd_name(index: int) -> str:
    """sd.c sd_format_disk_name: sda..sdz, sdaa..sdzz, sdaaa.."""
    name = ""
    index += 1
    while index > 0:
        index, r = divmod(index - 1, 26)
        name = chr(ord("a") + r) + name
    return "sd" + name


def sd_devt(index: int) -> tuple[int, int]:
    """sd.c sd_probe: major sd_major((index & 0xf0) >> 4), first_minor ((index & 0xf) << 4) | (index & 0xfff00)."""
    i = (index & 0xF0) >> 4
    major = 8 if i == 0 else 64 + i if i < 8 else 128 + i - 8
    return major, ((index & 0xF) << 4) | (index & 0xFFF00)


def _wwid(m: int) -> str:
    return f"36001405{m:024x}"


def _target(m: int) -> str:
    return f"iqn.2003-01.org.linux-iscsi.bench.x8664:sn.vol{m:05d}"


def storage(directory: str, root: str, maps: int, paths: int, storage_nics: list[str]) -> list[tuple[int, int, str, int, int]]:
    """Maps, paths and sessions (layout: the module doc); returns the /proc/diskstats rows."""
    from builders.linux_storage import INITIATOR, attrs, commands, dm_device, map_fields, mpd_group, mpd_maps, mpd_path

    rows = []
    mpd = []
    for m in range(maps):
        slaves, mpaths = [], []
        for k in range(paths):
            i = m * paths + k
            sid, h = i + 1, i + 10  # hosts below 10 are left to local controllers
            dev = sd_name(i)
            major, minor = sd_devt(i)
            nic = storage_nics[k]
            portal = f"10.{k}.{m // 250}.{m % 250 + 1}"
            local = f"10.{k}.255.11"
            hd = f"sys/devices/platform/host{h}"
            sd = f"{hd}/session{sid}"
            sess = os.path.join(root, sd, "iscsi_session", f"session{sid}")
            attrs(sess, {
                "targetname": _target(m), "tpgt": "1", "state": "LOGGED_IN", "recovery_tmo": "5", "ifacename": f"iface-{nic}",
                "initiatorname": INITIATOR, "abort_tmo": "15", "lu_reset_tmo": "30", "tgt_reset_tmo": "30", "creator": "1187",
                "target_id": "0", "target_state": "SCANNED",
            })  # fmt: skip
            symlink(f"../../../session{sid}", os.path.join(sess, "device"))
            symlink(f"../../devices/platform/host{h}/session{sid}/iscsi_session/session{sid}",
                    os.path.join(root, "sys/class/iscsi_session", f"session{sid}"))  # fmt: skip
            attrs(os.path.join(root, sd, f"connection{sid}:0", "iscsi_connection", f"connection{sid}:0"),
                  {"persistent_address": portal, "persistent_port": "3260", "address": portal, "port": "3260", "state": "up"})  # fmt: skip
            symlink(f"../../devices/platform/host{h}/session{sid}/connection{sid}:0/iscsi_connection/connection{sid}:0",
                    os.path.join(root, "sys/class/iscsi_connection", f"connection{sid}:0"))  # fmt: skip
            attrs(os.path.join(root, hd, "iscsi_host", f"host{h}"),
                  {"netdev": nic, "hwaddress": "default", "initiatorname": INITIATOR, "ipaddress": local})  # fmt: skip
            symlink(f"../../devices/platform/host{h}/iscsi_host/host{h}", os.path.join(root, "sys/class/iscsi_host", f"host{h}"))
            hctl = f"{h}:0:0:1"
            ld = f"{sd}/target{h}:0:0/{hctl}"
            attrs(os.path.join(root, ld), {
                "state": "running", "vendor": "LIO-ORG ", "model": "vol01           ", "rev": "4.0 ", "ioerr_cnt": hex(i % 7),
                "iotmo_cnt": "0x0", "iorequest_cnt": hex(9000 + i), "timeout": "30", "queue_depth": "128",
                "access_state": "active/optimized" if k < 2 else "active/non-optimized", "dh_state": "alua", "preferred_path": "0",
            })  # fmt: skip
            attrs(os.path.join(root, ld, "block", dev), {"dev": f"{major}:{minor}", "size": "419430400", "ro": "0"})
            symlink(f"../../../{hctl}", os.path.join(root, ld, "block", dev, "device"))
            symlink(f"../devices/platform/host{h}/session{sid}/target{h}:0:0/{hctl}/block/{dev}", os.path.join(root, "sys/block", dev))
            rows.append((major, minor, dev, 4_000_000 + 1_000 * i, 2_000_000 + 500 * i))
            slaves.append(dev)
            mpaths.append((dev, f"{major}:{minor}", 50 if k < 2 else 10, local))
        name = f"mpath{m}"
        dm_device(root, m, name, f"mpath-{_wwid(m)}", slaves)
        rows.append((253, m, f"dm-{m}", sum(r[3] for r in rows[-paths:]), sum(r[4] for r in rows[-paths:])))
        pgs = [
            mpd_group(g + 1, "service-time 0", pri, "active" if g == 0 else "enabled",
                      [mpd_path(d, int(t.split(":")[1]), "active", "running", "ready", p, a) for d, t, p, a in mpaths if p == pri])
            for g, pri in enumerate(sorted({p for _, _, p, _ in mpaths}, reverse=True))
        ]  # fmt: skip
        mpd.append((map_fields(name, _wwid(m), f"dm-{m}", "5 chk", paths, "1 queue_if_no_path", 0), pgs))
    commands(directory, {"multipathd_show_maps_json.out": mpd_maps(mpd)})
    return rows


def generate(directory: str, nics: int, bonds: int, members: int = 2, maps: int = 0, paths: int = 4) -> str:
    """Write the tree (replacing DIR); returns DIR."""
    if bonds * members > nics:
        raise ValueError(f"{bonds} bonds x {members} members need more than {nics} NICs")
    if maps and bonds * members + paths > nics:
        raise ValueError(f"{paths} storage NICs besides {bonds} bonds x {members} members need more than {nics} NICs")
    shutil.rmtree(directory, ignore_errors=True)
    root = os.path.join(directory, "root")
    snapshot_yml(
        directory,
        "linux",
        f"generated by bench/gen.py: {nics} NICs (ixgbe, {SPEED_MBIT} Mb/s) and {bonds} 802.3ad bonds of {members} members; "
        "layout from the kernel's sysfs-class-net ABI, bond_sysfs*.c, bond_procfs.c, net-procfs.c"
        + (f"; {maps} dm-multipath maps x {paths} iSCSI paths (one session each) on the last {paths} NICs, layout from "
           "scsi_transport_iscsi.c, scsi_sysfs.c, sd.c, dm-sysfs.c, block/genhd.c and libmultipath/print.c" if maps else ""),
        hostname=f"bench-{nics}-{bonds}" + (f"-{maps}x{paths}" if maps else ""),
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
    if maps:
        storage_nics = [f"eth{i}" for i in range(nics - paths, nics)]
        from builders.linux_storage import storage_diskstats

        storage_diskstats(root, storage(directory, root, maps, paths, storage_nics))
    with open(os.path.join(directory, MARKER), "w") as f:
        f.write(_marker(nics, bonds, members, maps, paths))
    return directory


def _marker(nics: int, bonds: int, members: int, maps: int, paths: int) -> str:
    return f"nics={nics} bonds={bonds} members={members}" + (f" maps={maps} paths={paths}" if maps else "") + "\n"


def ensure(directory: str, nics: int, bonds: int, members: int = 2, maps: int = 0, paths: int = 4) -> str:
    """Generate unless DIR already holds this exact tree."""
    want = _marker(nics, bonds, members, maps, paths)
    try:
        with open(os.path.join(directory, MARKER)) as f:
            if f.read() == want:
                return directory
    except FileNotFoundError:
        pass
    return generate(directory, nics, bonds, members, maps, paths)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("directory")
    p.add_argument("--nics", type=int, default=1000)
    p.add_argument("--bonds", type=int, default=100)
    p.add_argument("--members", type=int, default=2, help="NICs per bond (default 2)")
    p.add_argument("--maps", type=int, default=0, help="dm-multipath maps, each with --paths iSCSI paths (default 0)")
    p.add_argument("--paths", type=int, default=4, help="paths (= iSCSI sessions, = storage NICs) per map (default 4)")
    args = p.parse_args(argv)
    t = time.monotonic()
    generate(args.directory, args.nics, args.bonds, args.members, args.maps, args.paths)
    extra = f", {args.maps} maps x {args.paths} paths ({args.maps * args.paths} iSCSI sessions)" if args.maps else ""
    print(f"{args.directory}: {args.nics} NICs, {args.bonds} bonds{extra} in {time.monotonic() - t:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
