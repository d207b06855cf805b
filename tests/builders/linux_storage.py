"""Builds the hand-made dm-multipath / open-iscsi scenarios (the folders are committed; a test rebuilds them).

python -m tests.builders <name>  # then:
pytest tests/test_scenarios.py --update-golden -k 'linux-mpio or linux-iscsi'

Layout facts:
* software iSCSI: one SCSI host per session, /sys/devices/platform/hostH/sessionN/ holding
  iscsi_session/sessionN, connectionN:0/iscsi_connection/connectionN:0 and
  targetH:0:0/H:0:0:L/block/sdX (kernel scsi_transport_iscsi.c, open-iscsi README 5.1.1;
  udev path /devices/platform/host3/session1/target3:0:0/3:0:0:1/block/sdc);
  /sys/class/iscsi_host/hostH -> .../hostH/iscsi_host/hostH; /sys/block/sdX/device ->
  ../../../H:0:0:L; SCSI device attributes state, access_state, ioerr_cnt/iotmo_cnt
  (``0x%x``) from drivers/scsi/scsi_sysfs.c.
* dm: /sys/devices/virtual/block/dm-N/{dev,dm/{name,uuid,suspended},slaves/} (dm-sysfs.c);
  uuid ``mpath-<wwid>`` for maps, ``partN-mpath-<wwid>`` for kpartx partitions, ``LVM-...``.
* multipathd ``show maps json`` in libmultipath/print.c's template layout (``"key" : value``);
  ``dmsetup status``/``table`` lines per drivers/md/dm-mpath.c multipath_status, with the
  trailing blank real output has (real-captures.md L-7).
* /proc/diskstats: block/genhd.c diskstats_show, 17 counters; sectors are 512 bytes.
* /proc/net/route: net/ipv4/fib_trie.c fib_route_seq_show (little-endian hex, padded to 127).
* node records: open-iscsi usr/idbm.c ``nodes/<target>/<addr>,<port>,<tpgt>/<iface>``.
"""

from __future__ import annotations

import dataclasses
import os

from .sysfs import clear, counters, diskstats, netdev, proc_net_dev, proc_net_route, snapshot_yml, symlink, write

TARGET = "iqn.2003-01.org.linux-iscsi.stor-a.x8664:sn.5b2e0c3a1f77"
INITIATOR = "iqn.1994-05.com.redhat:initiator-a"
WWID = "36001405d27e5d898829468b90ce4ef8c"
WWID2 = "36001405a1b2c3d4e5f60718293a4b5c6"


@dataclasses.dataclass
class Lun:
    lun: int
    dev: str
    minor: int
    read_sectors: int
    write_sectors: int
    state: str = "running"
    access_state: str | None = "active/optimized"
    ioerr: int = 0
    iotmo: int = 0


@dataclasses.dataclass
class Sess:
    sid: int
    host: int
    address: str  # portal address (persistent and current)
    iface: str = "default"
    netdev: str = "default"  # iscsi_host/netdev: bound netdev or "default"
    ipaddress: str | None = None  # local address; None: ENOTCONN (session down), no file
    state: str = "LOGGED_IN"
    conn_state: str = "up"
    recovery_tmo: int = 5
    luns: list[Lun] = dataclasses.field(default_factory=list)
    port: int = 3260
    tpgt: int = 1


def attrs(d: str, values: dict[str, str]) -> None:
    for k, v in values.items():
        write(os.path.join(d, k), v + "\n")


def session(root: str, s: Sess) -> None:
    hd = f"sys/devices/platform/host{s.host}"
    sd = f"{hd}/session{s.sid}"
    attrs(os.path.join(root, sd, "iscsi_session", f"session{s.sid}"), {
        "targetname": TARGET, "tpgt": str(s.tpgt), "state": s.state, "recovery_tmo": str(s.recovery_tmo),
        "ifacename": s.iface, "initiatorname": INITIATOR, "abort_tmo": "15", "lu_reset_tmo": "30", "tgt_reset_tmo": "30",
        "creator": "1187", "target_id": "0", "target_state": "SCANNED",
    })
    symlink(f"../../../session{s.sid}", os.path.join(root, sd, "iscsi_session", f"session{s.sid}", "device"))
    symlink(f"../../devices/platform/host{s.host}/session{s.sid}/iscsi_session/session{s.sid}",
            os.path.join(root, "sys/class/iscsi_session", f"session{s.sid}"))
    conn = {"persistent_address": s.address, "persistent_port": str(s.port), "state": s.conn_state}
    if s.state == "LOGGED_IN":  # address/port read through the endpoint: ENOTCONN while down
        conn.update({"address": s.address, "port": str(s.port)})
    cd = os.path.join(root, sd, f"connection{s.sid}:0", "iscsi_connection", f"connection{s.sid}:0")
    attrs(cd, conn)
    symlink(f"../../devices/platform/host{s.host}/session{s.sid}/connection{s.sid}:0/iscsi_connection/connection{s.sid}:0",
            os.path.join(root, "sys/class/iscsi_connection", f"connection{s.sid}:0"))
    host_attrs = {"netdev": s.netdev, "hwaddress": "default", "initiatorname": INITIATOR}
    if s.ipaddress:
        host_attrs["ipaddress"] = s.ipaddress
    attrs(os.path.join(root, hd, "iscsi_host", f"host{s.host}"), host_attrs)
    symlink(f"../../devices/platform/host{s.host}/iscsi_host/host{s.host}", os.path.join(root, "sys/class/iscsi_host", f"host{s.host}"))
    for lun in s.luns:
        hctl = f"{s.host}:0:0:{lun.lun}"
        ld = f"{sd}/target{s.host}:0:0/{hctl}"
        a = {"state": lun.state, "vendor": "LIO-ORG ", "model": "vol01           ", "rev": "4.0 ",
             "ioerr_cnt": hex(lun.ioerr), "iotmo_cnt": hex(lun.iotmo), "iorequest_cnt": hex(9000 + lun.minor),
             "timeout": "30", "queue_depth": "128"}
        if lun.access_state:
            a.update({"access_state": lun.access_state, "dh_state": "alua", "preferred_path": "0"})
        attrs(os.path.join(root, ld), a)
        attrs(os.path.join(root, ld, "block", lun.dev), {"dev": f"8:{lun.minor}", "size": "419430400", "ro": "0"})
        symlink(f"../../../{hctl}", os.path.join(root, ld, "block", lun.dev, "device"))
        symlink(f"../devices/platform/host{s.host}/session{s.sid}/target{s.host}:0:0/{hctl}/block/{lun.dev}",
                os.path.join(root, "sys/block", lun.dev))


def dm_device(root: str, minor: int, name: str, uuid: str, slaves: list[str], suspended: int = 0) -> None:
    """/sys/devices/virtual/block/dm-N; slaves link to the members' device directories."""
    d = os.path.join(root, "sys/devices/virtual/block", f"dm-{minor}")
    attrs(d, {"dev": f"253:{minor}", "size": "419430400", "ro": "0"})
    attrs(os.path.join(d, "dm"), {"name": name, "uuid": uuid, "suspended": str(suspended), "use_blk_mq": "1"})
    os.makedirs(os.path.join(d, "slaves"), exist_ok=True)
    symlink(f"../devices/virtual/block/dm-{minor}", os.path.join(root, "sys/block", f"dm-{minor}"))
    for s in slaves:
        target = os.path.realpath(os.path.join(root, "sys/block", s))
        symlink(os.path.relpath(target, os.path.join(d, "slaves")), os.path.join(d, "slaves", s))


def local_disk(root: str) -> None:
    """The boot disk sda with partitions sda1, sda2: a distractor that must not show."""
    ld = "sys/devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0"
    attrs(os.path.join(root, ld), {"state": "running", "vendor": "ATA     ", "model": "SAMSUNG MZ7LH480", "ioerr_cnt": "0x2", "iotmo_cnt": "0x0"})
    attrs(os.path.join(root, ld, "block/sda"), {"dev": "8:0", "size": "937703088"})
    symlink("../../../0:0:0:0", os.path.join(root, ld, "block/sda/device"))
    for n in (1, 2):
        attrs(os.path.join(root, ld, f"block/sda/sda{n}"), {"dev": f"8:{n}", "partition": str(n), "start": "2048"})
    symlink(f"../{ld[4:]}/block/sda", os.path.join(root, "sys/block/sda"))


def storage_diskstats(root: str, rows: list[tuple[int, int, str, int, int]]) -> None:
    """rows: (major, minor, name, sectors read, sectors written), one I/O per 16 sectors."""
    diskstats(root, [(major, minor, name, rs // 16, rs, ws // 16, ws) for major, minor, name, rs, ws in rows])


def node_record(root: str, address: str, iface: str, port: int = 3260, tpgt: int = 1, startup: str = "automatic") -> None:
    d = os.path.join(root, "etc/iscsi/nodes", TARGET, f"{address},{port},{tpgt}")
    write(os.path.join(d, iface), "\n".join([
        "# BEGIN RECORD 2.1.8",
        f"node.name = {TARGET}",
        f"node.tpgt = {tpgt}",
        f"node.startup = {startup}",
        f"iface.iscsi_ifacename = {iface}",
        "node.session.timeo.replacement_timeout = 5",
        f"node.conn[0].address = {address}",
        f"node.conn[0].port = {port}",
        "# END RECORD",
    ]) + "\n")


def nics(root: str, ens1f0: tuple[int, int], ens2f0: tuple[int, int]) -> None:
    netdev(root, "lo", operstate="unknown", flags=0x9, mtu=65536, ifindex=1)
    netdev(root, "eno1", pci="0000:00:19.0", driver="igb", mac="3c:ec:ef:00:10:01", speed=1000, ifindex=2, carrier_changes=2)
    netdev(root, "ens1f0", pci="0000:3b:00.0", driver="ixgbe", mac="a0:36:9f:11:22:30", speed=10000, mtu=9000, ifindex=3, carrier_changes=2)
    netdev(root, "ens2f0", pci="0000:5e:00.0", driver="ixgbe", mac="a0:36:9f:11:22:40", speed=10000, mtu=9000, ifindex=4, carrier_changes=2)
    proc_net_dev(root, {
        "lo": counters(91_238, 1_022, 91_238, 1_022),
        "eno1": counters(5_120_331, 41_002, 2_202_116, 18_990),
        "ens1f0": counters(ens1f0[0], ens1f0[0] // 8000, ens1f0[1], ens1f0[1] // 8000),
        "ens2f0": counters(ens2f0[0], ens2f0[0] // 8000, ens2f0[1], ens2f0[1] // 8000),
    })


def routes(root: str) -> None:
    proc_net_route(root, [
        ("eno1", "0.0.0.0", "10.0.0.1", 0x3, 100, "0.0.0.0"),
        ("eno1", "10.0.0.0", "0.0.0.0", 0x1, 100, "255.255.255.0"),
        ("ens1f0", "192.168.10.0", "0.0.0.0", 0x1, 101, "255.255.255.0"),
        ("ens2f0", "192.168.20.0", "0.0.0.0", 0x1, 102, "255.255.255.0"),
    ])


# ------------------------------------------------------------------ multipathd / dmsetup text


def _kv(indent: str, pairs: list[tuple[str, object]]) -> str:
    out = []
    for k, v in pairs:
        out.append(f'{indent}"{k}" : {v}' if isinstance(v, int) else f'{indent}"{k}" : "{v}"')
    return ",\n".join(out)


def mpd_path(dev: str, minor: int, dm_st: str, dev_st: str, chk_st: str, pri: int, adapter: str) -> str:
    return "{\n" + _kv("               ", [
        ("dev", dev), ("dev_t", f"8:{minor}"), ("dm_st", dm_st), ("dev_st", dev_st), ("chk_st", chk_st),
        ("checker", "tur"), ("pri", pri), ("host_wwnn", "[undef]"), ("target_wwnn", TARGET), ("host_wwpn", "[undef]"),
        ("target_wwpn", "[undef]"), ("host_adapter", adapter), ("lun_hex", "0x0001000000000000"), ("marginal_st", "normal"),
    ]) + "\n            }"


def mpd_group(n: int, selector: str, pri: int, dm_st: str, paths: list[str]) -> str:
    return "{\n" + _kv("            ", [("selector", selector), ("pri", pri), ("dm_st", dm_st), ("marginal_st", "normal"), ("group", n)]) + \
        ",\n            \"paths\": [" + ",".join(paths) + "]\n         }"


def mpd_maps(maps: list[tuple[list[tuple[str, object]], list[str]]]) -> str:
    body = []
    for fields, pgs in maps:
        body.append("{\n" + _kv("      ", fields) + ",\n      \"path_groups\": [" + ",".join(pgs) + "]\n   }")
    return '{\n   "major_version": 0,\n   "minor_version": 1,\n   "maps": [' + ",".join(body) + "]\n}\n"


def map_fields(name: str, wwid: str, dm: str, queueing: str, paths: int, features: str, faults: int, selector_hw="1 alua") -> list:
    return [("name", name), ("uuid", wwid), ("sysfs", dm), ("failback", "immediate"), ("queueing", queueing), ("paths", paths),
            ("write_prot", "rw"), ("dm_st", "active"), ("features", features), ("hwhandler", selector_hw), ("action", ""),
            ("path_faults", faults), ("vend", "LIO-ORG"), ("prod", "vol01"), ("rev", "4.0"), ("switch_grp", 0), ("map_loads", 1),
            ("total_q_time", 0), ("q_timeouts", 0)]


def commands(d: str, files: dict[str, str]) -> None:
    for slug, text in files.items():
        write(os.path.join(d, "commands", slug), text)


# ------------------------------------------------------------------ the base host and its deltas

NOTE_FORMATS = ("kernel scsi_transport_iscsi.c/scsi_sysfs.c/dm-sysfs.c sysfs layouts, block/genhd.c /proc/diskstats, "
                "fib_trie.c /proc/net/route, libmultipath/print.c show maps json and the sysfs-class-net ABI")
CONFIG = "collectors:\n  link:\n    exclude: '^lo$'\n"


def two_sessions(*, s2_state="LOGGED_IN", s2_disk_state="running", iface_bound=True, same_subnet=False, s1_luns=None,
                 s2_luns=None) -> tuple[Sess, Sess]:
    """Session 1 over ens1f0 to 192.168.10.20 and session 2 over ens2f0 to 192.168.20.20, each
    with LUN 1 (sdc, sdd); the keywords say what differs."""
    a2 = "192.168.10.21" if same_subnet else "192.168.20.20"
    s1 = Sess(1, 3, "192.168.10.20", iface="iface-ens1f0" if iface_bound else "default",
              netdev="ens1f0" if iface_bound else "default", ipaddress="192.168.10.11",
              luns=s1_luns or [Lun(1, "sdc", 32, 4_000_000, 2_000_000)])
    s2 = Sess(2, 4, a2, iface="iface-ens2f0" if iface_bound else "default",
              netdev="ens2f0" if iface_bound else "default",
              ipaddress=("192.168.20.11" if not same_subnet else "192.168.10.11") if s2_state == "LOGGED_IN" else None,
              state=s2_state, conn_state="up" if s2_state == "LOGGED_IN" else "failed",
              luns=s2_luns or [Lun(1, "sdd", 48, 3_900_000, 1_950_000, state=s2_disk_state)])
    return s1, s2


def disks(sdc: tuple[int, int], sdd: tuple[int, int] | None, dm2: tuple[int, int], *, partitions: bool = False) -> tuple:
    """/proc/diskstats rows: the local disk, the two paths, the map and the LVM volume (sectors
    read, written); ``partitions`` adds sda1 and the kpartx partition map dm-4."""
    rows = [(8, 0, "sda", 812_000, 455_000)]
    rows += [(8, 1, "sda1", 9_000, 1_000)] if partitions else []
    rows += [(8, 2, "sda2", 800_000, 454_000), (8, 32, "sdc", *sdc)]
    rows += [(8, 48, "sdd", *sdd)] if sdd else []
    rows += [(253, 2, "dm-2", *dm2)]
    rows += [(253, 4, "dm-4", 7_890_000, 3_949_000)] if partitions else []
    return tuple(rows + [(253, 5, "dm-5", 799_000, 454_000)])


def maps_json(queueing: str, paths: int, faults: int, selector: str, rows: list[tuple]) -> dict[str, str]:
    """commands/ for a multipathd that answers ``show maps json`` with the one map mpatha;
    rows: mpd_path arguments of its one path group."""
    return {"multipathd_show_maps_json.out": mpd_maps([(
        map_fields("mpatha", WWID, "dm-2", queueing, paths, "1 queue_if_no_path", faults),
        [mpd_group(1, selector, 50, "active", [mpd_path(*r) for r in rows])],
    )])}


HEALTHY_PATHS = [("sdc", 32, "active", "running", "ready", 50, "192.168.10.11"),
                 ("sdd", 48, "active", "running", "ready", 50, "192.168.20.11")]


@dataclasses.dataclass(frozen=True)
class StorageHost:
    """A software-iSCSI initiator: NICs eno1 (management), ens1f0 and ens2f0 (storage) with
    their routes, iSCSI sessions with their node records, the dm-multipath map mpatha (dm-2)
    over the sessions' disks, distractors (the local disk sda, a kpartx partition map, an LVM
    volume) that must not show, /proc/diskstats and the multipath tools' answers."""

    notes: str
    nic_bytes: tuple[tuple[int, int], tuple[int, int]] = ((2_100_000_000, 1_050_000_000), (2_050_000_000, 1_020_000_000))
    nics_down: bool = False  # both storage NICs lost carrier
    sessions: tuple[Sess, ...] = two_sessions()
    nodes: tuple[tuple[str, str, str], ...] = (("192.168.10.20", "iface-ens1f0", "automatic"),
                                               ("192.168.20.20", "iface-ens2f0", "automatic"))
    maps: tuple[tuple[int, str, str, tuple[str, ...]], ...] = ((2, "mpatha", WWID, ("sdc", "sdd")),)  # (dm minor, alias, wwid, paths)
    diskstats: tuple = disks((4_000_000, 2_000_000), (3_900_000, 1_950_000), (7_899_000, 3_950_000))
    commands: dict[str, str] = dataclasses.field(default_factory=lambda: maps_json("5 chk", 2, 0, "round-robin 0", HEALTHY_PATHS))
    config: str = CONFIG


def write_host(out: str, name: str, h: StorageHost) -> None:
    d = os.path.join(out, name)
    clear(d)
    root = os.path.join(d, "root")
    snapshot_yml(d, "linux", h.notes, hostname="initiator-a")
    write(os.path.join(d, "config.yml"), h.config)
    nics(root, *h.nic_bytes)
    if h.nics_down:
        for n in ("ens1f0", "ens2f0"):
            base = os.path.join(root, "sys/class/net", n)
            write(os.path.join(base, "operstate"), "down\n")
            write(os.path.join(base, "carrier"), "0\n")
            write(os.path.join(base, "speed"), "-1\n")
    routes(root)
    for s in h.sessions:
        session(root, s)
    for address, iface, startup in h.nodes:
        node_record(root, address, iface, startup=startup)
    for minor, alias, wwid, paths in h.maps:
        dm_device(root, minor, alias, f"mpath-{wwid}", list(paths))
    # kpartx partition of the map (dm-4, partN-mpath-), an LVM volume on sda2 (dm-5) and the
    # local disk sda with partitions: none of them may show as a map or a path
    local_disk(root)
    dm_device(root, 4, "mpatha1", f"part1-mpath-{WWID}", ["dm-2"])
    dm_device(root, 5, "vg0-root", "LVM-Xq3kT8n2mPz9vB4cR7sW1yU6dF0gH5jKaL2eN8pQ4tV7xZ1bC3mR9sD6fG0hJ", ["sda2"])
    storage_diskstats(root, list(h.diskstats))
    commands(d, h.commands)


# The base: two iSCSI sessions to one LIO target, ifaces bound, one round-robin map of two paths.
BASE = StorageHost(
    "hand-made from " + NOTE_FORMATS + ": two iSCSI sessions to one LIO target, ifaces bound to ens1f0 "
    "and ens2f0, one dm-multipath map with one round-robin path group holding both paths (multibus), "
    "traffic shared evenly; a kpartx partition map, an LVM volume and the local disk sda with partitions "
    "are distractors that must not show.",
    # the map carries what its paths carried, less the checker's reads on the paths
    diskstats=disks((4_000_000, 2_000_000), (3_900_000, 1_950_000), (7_899_000, 3_950_000), partitions=True),
)

HOSTS: dict[str, StorageHost] = {
    "linux-mpio-round-robin-healthy": BASE,
    "linux-mpio-one-path-failed": dataclasses.replace(
        BASE,
        notes="hand-made from " + NOTE_FORMATS + ": the round-robin map of linux-mpio-round-robin-healthy after "
        "ens2f0's path died and recovery_tmo expired: session 2 is FREE (still listed, real-captures.md L-8), "
        "its connection failed, no local address (ENOTCONN), sdd transport-offline, dm failed, checker faulty.",
        nic_bytes=((2_100_000_000, 1_050_000_000), (1_150_000_000, 560_000_000)),
        sessions=two_sessions(s2_state="FREE", s2_disk_state="transport-offline",
                              s2_luns=[Lun(1, "sdd", 48, 2_100_000, 1_050_000, state="transport-offline", ioerr=0x1b, iotmo=0x4)]),
        diskstats=disks((4_000_000, 2_000_000), (2_100_000, 1_050_000), (6_099_000, 3_050_000)),
        commands=maps_json("5 chk", 1, 1, "round-robin 0", [HEALTHY_PATHS[0], ("sdd", 48, "failed", "offline", "faulty", 50, "[undef]")]),
    ),
    "linux-mpio-failover-only": dataclasses.replace(
        BASE,
        notes="hand-made from " + NOTE_FORMATS.replace("libmultipath/print.c show maps json", "dm-mpath.c multipath_status "
        "(dmsetup status and table lines, with their trailing blank)") + ": multipathd is not running (no socket), "
        "lanes runs as root and reads the dm status line; path_grouping_policy failover (the multipath-tools "
        "default): two path groups of one path each, service-time; all I/O on sdc, sdd idle but for checker reads.",
        nic_bytes=((4_000_000_000, 2_000_000_000), (9_000_000, 1_000_000)),
        # sdd: 2_000 sectors of checker/probe reads, nothing written
        diskstats=disks((7_800_000, 3_900_000), (2_000, 0), (7_799_000, 3_900_000)),
        commands={
            # all-devices form: "name: " prefix; lines end with a blank; the LV has a linear line
            "dmsetup_status_--target_multipath.out":
                "mpatha: 0 419430400 multipath 2 0 0 0 2 1 A 0 1 2 8:32 A 0 0 1 E 0 1 2 8:48 A 0 0 1 \n",
            "dmsetup_table_--target_multipath.out":
                "mpatha: 0 419430400 multipath 1 queue_if_no_path 1 alua 2 1 service-time 0 1 2 8:32 1 1 service-time 0 1 2 8:48 1 1 \n",
        },
    ),
    "linux-mpio-one-nic": dataclasses.replace(
        BASE,
        notes="hand-made from " + NOTE_FORMATS + ": two sessions on iface default (not bound) to two portals in one "
        "subnet: the route to 192.168.10.0/24 sends both over ens1f0, ens2f0 carries nothing; the map has two "
        "paths (multibus, service-time) but one NIC: a redundancy illusion that the path -> NIC join shows.",
        nic_bytes=((4_200_000_000, 2_100_000_000), (0, 0)),
        sessions=two_sessions(iface_bound=False, same_subnet=True),
        nodes=(("192.168.10.20", "default", "automatic"), ("192.168.10.21", "default", "automatic")),
        diskstats=disks((4_000_000, 2_000_000), (3_900_000, 1_950_000), (7_899_000, 3_950_000)),
        commands=maps_json("5 chk", 2, 0, "service-time 0", [HEALTHY_PATHS[0], HEALTHY_PATHS[1][:-1] + ("192.168.10.11",)]),
    ),
    "linux-iscsi-logged-out": dataclasses.replace(
        BASE,
        notes="hand-made from " + NOTE_FORMATS + " and open-iscsi usr/idbm.c node records: the session over ens2f0 was "
        "logged out (iscsiadm -m node -u); its node record is still in /etc/iscsi/nodes, so the target should "
        "have two sessions and the multipath map, whose sdd is gone from the kernel, has one path left. A third "
        "record, for a portal discovery found but nobody logs into (node.startup manual), must not count.",
        nic_bytes=((2_100_000_000, 1_050_000_000), (1_150_000_000, 560_000_000)),
        sessions=two_sessions()[:1],
        nodes=BASE.nodes + (("192.168.30.20", "default", "manual"),),
        maps=((2, "mpatha", WWID, ("sdc",)),),
        diskstats=disks((4_000_000, 2_000_000), None, (6_099_000, 3_050_000)),
        config=CONFIG + "expect:\n  multipath: {mpatha: 2}\n",
        commands=maps_json("5 chk", 1, 1, "round-robin 0", HEALTHY_PATHS[:1]),
    ),
    "linux-mpio-queue-no-path": dataclasses.replace(
        BASE,
        notes="hand-made from " + NOTE_FORMATS + ": both storage NICs lost carrier; both sessions FAILED (inside "
        "recovery_tmo 120, disks blocked, no local address); the map has queue_if_no_path (no_path_retry queue) "
        "and no usable path: applications hang in D state.",
        nics_down=True,
        sessions=(
            Sess(1, 3, "192.168.10.20", iface="iface-ens1f0", netdev="ens1f0", state="FAILED", conn_state="failed", recovery_tmo=120,
                 luns=[Lun(1, "sdc", 32, 4_000_000, 2_000_000, state="blocked")]),
            Sess(2, 4, "192.168.20.20", iface="iface-ens2f0", netdev="ens2f0", state="FAILED", conn_state="failed", recovery_tmo=120,
                 luns=[Lun(1, "sdd", 48, 3_900_000, 1_950_000, state="blocked")]),
        ),
        diskstats=disks((4_000_000, 2_000_000), (3_900_000, 1_950_000), (7_899_000, 3_950_000)),
        commands=maps_json("on", 0, 2, "round-robin 0", [("sdc", 32, "failed", "running", "faulty", 50, "[undef]"),
                                                         ("sdd", 48, "failed", "running", "faulty", 50, "[undef]")]),
    ),
    "linux-mpio-alua-group-by-prio": dataclasses.replace(
        BASE,
        notes="hand-made from " + NOTE_FORMATS + ": an ALUA array with two controllers, one iSCSI session to each "
        "(controller A over ens1f0, B over ens2f0), two LUNs owned one by each controller; path_grouping_policy "
        "group_by_prio with prio alua (the multipath-tools default for ALUA arrays): each map has a prio-50 "
        "group holding its active/optimized path (active) and a prio-10 group holding its active/non-optimized "
        "path (enabled). I/O runs on the optimized paths only (sdc for mpatha, sdf for mpathb), exactly as the "
        "array intends; the non-optimized paths carry the checker's reads.",
        sessions=two_sessions(
            s1_luns=[Lun(1, "sdc", 32, 4_000_000, 2_000_000), Lun(2, "sde", 64, 2_000, 0, access_state="active/non-optimized")],
            s2_luns=[Lun(1, "sdd", 48, 2_000, 0, access_state="active/non-optimized"), Lun(2, "sdf", 80, 3_900_000, 1_950_000)],
        ),
        maps=((2, "mpatha", WWID, ("sdc", "sdd")), (3, "mpathb", WWID2, ("sde", "sdf"))),
        diskstats=((8, 0, "sda", 812_000, 455_000), (8, 2, "sda2", 800_000, 454_000),
                   (8, 32, "sdc", 4_000_000, 2_000_000), (8, 48, "sdd", 2_000, 0),
                   (8, 64, "sde", 2_000, 0), (8, 80, "sdf", 3_900_000, 1_950_000),
                   (253, 2, "dm-2", 3_999_000, 2_000_000), (253, 3, "dm-3", 3_899_000, 1_950_000), (253, 5, "dm-5", 799_000, 454_000)),
        commands={"multipathd_show_maps_json.out": mpd_maps([
            (map_fields("mpatha", WWID, "dm-2", "5 chk", 2, "1 queue_if_no_path", 0),
             [mpd_group(1, "service-time 0", 50, "active", [mpd_path("sdc", 32, "active", "running", "ready", 50, "192.168.10.11")]),
              mpd_group(2, "service-time 0", 10, "enabled", [mpd_path("sdd", 48, "active", "running", "ready", 10, "192.168.20.11")])]),
            (map_fields("mpathb", WWID2, "dm-3", "5 chk", 2, "1 queue_if_no_path", 0),
             [mpd_group(1, "service-time 0", 50, "active", [mpd_path("sdf", 80, "active", "running", "ready", 50, "192.168.20.11")]),
              mpd_group(2, "service-time 0", 10, "enabled", [mpd_path("sde", 64, "active", "running", "ready", 10, "192.168.10.11")])]),
        ])},
    ),
}  # fmt: skip


def _builder(name: str):
    def build(out: str) -> None:
        write_host(out, name, HOSTS[name])

    build.__name__ = build.__qualname__ = name.replace("-", "_")
    return build


#: scenario folder -> builder
BUILDS = {name: _builder(name) for name in HOSTS}
