"""Builds the hand-made illumos storage scenarios (the folders are committed; a test rebuilds them).

python -m tests.builders <name>  # then:
pytest tests/test_scenarios.py --update-golden -k illumos-storage

No real capture exists of ``iscsiadm list target -v``, ``stmfadm list-target -v`` with
sessions, ``itadm list-tpg -v``, ``mpathadm show lu`` of an iSCSI LU or the iscsi/stmf kstats
(research/real-captures.md Part S).  These outputs follow the illumos-gate code paths:

* ``mpathadm list lu``: a TAB before the device, two before the counts (real-captures I-9).
  ``show lu``: ``label:  value`` with two blanks, INQUIRY padding kept (``SUN     ``),
  ``Paths:  `` and ``Target Port Groups:  `` with two trailing blanks, symmetric LUs with
  ``Target Ports:`` right after the paths (real-captures I-10; mpathadm.c).  iSCSI port
  names follow the notes' composition (IQN,ISID / ISID,IQN,TPGT), which is unverified.
* ``iscsiadm list target -v``: iscsiadm_main.c listTarget/printConnectionList (TAB
  indents, ``\\t\\t  `` before addresses, ``Discovery Method: SendTargets `` with a
  trailing blank, login parameters after ``\\t\\t  \\t``).
* ``stmfadm list-target -v``: PROPS_FORMAT ``"    %-18s: "``, sessions at 8 and 12 blanks,
  ``Logged in since:`` a ctime() string (stmfadm.c printSessionProps).
* ``itadm``: list-target -v rows padded ``%-61s%-9s%-9s`` with the trailing blanks of the
  real OmniOS capture, property lines ``<TAB>label:<pad to 20><TAB>value`` (real-captures
  I-13); list-tpg -v ``%-30s%-9d`` rows and ``    portals:<TAB>a,b`` (itadm.c list_tpg).
* ``kstat -p``: ``module:instance:name:stat<TAB>value``, kstats sorted by name, statistics
  sorted by name with ``class``, ``crtime`` and ``snaptime`` (kstat.c); iscsi kstats from
  iscsi_stats.c, stmf kstats from stmf.c (names ``stmf_tgt_<addr>`` with the kernel address
  in lower-case hex).
"""

from __future__ import annotations

import os

from collectors import comstar_illumos, iscsi_illumos, mpxio_illumos

from .captures import capture
from .illumos_net import link_stats, mac_stats, network
from .sysfs import clear, command, snapshot_yml, write

TGT = "iqn.2010-08.org.illumos:02:9f3c1a2e-5b7d-6c4e-9a1f-d2b3c4e5f601"
TGT_BACKUP = "iqn.2010-08.org.illumos:02:backup-0001"
INITIATOR = "iqn.1986-03.com.sun:01:e00000000000.5f1a2b3c"
ESX01 = "iqn.1998-01.com.vmware:esx01-4f2a1b3c"
ESX02 = "iqn.1998-01.com.vmware:esx02-7d1e9a00"


def kstat_p(kstats: dict[tuple[str, int, str], dict[str, object]], crtime: float = 41.337159245, snaptime: float = 8731552.402771188) -> str:
    """kstat(8) -p: kstats in (module, instance, name) order, statistics sorted by name
    case-insensitively, each with class, crtime and snaptime (kstat.c)."""
    lines = []
    for (module, inst, name), stats in sorted(kstats.items()):
        stats = {**stats, "crtime": f"{crtime:.9f}", "snaptime": f"{snaptime:.9f}"}
        for stat in sorted(stats, key=str.lower):
            lines.append(f"{module}:{inst}:{name}:{stat}\t{stats[stat]}")
    return "\n".join(lines) + "\n"


def io_stats(nread: int, nwritten: int, reads: int, writes: int, klass: str) -> dict[str, object]:
    """KSTAT_TYPE_IO as kstat -p prints it (kstat_io_t; times in ns)."""
    return {"class": klass, "nread": nread, "nwritten": nwritten, "reads": reads % (1 << 32), "writes": writes % (1 << 32),
            "wtime": 1822736450, "wlentime": 2212377811, "wlastupdate": 8731552401022110, "rtime": 90451122873,
            "rlentime": 131022918730, "rlastupdate": 8731552401023390, "wcnt": 0, "rcnt": 0}


def fresh(out: str, name: str, network_data: bool = False) -> str:
    d = os.path.join(out, name)
    clear(d)
    os.makedirs(d, exist_ok=True)
    if network_data:
        return d
    write(os.path.join(d, "config.yml"), """\
# A storage-only snapshot: it holds the storage tools' outputs and no dladm, ipmpstat or
# link kstats, so the network collectors are off (illumos-net-* scenarios cover them).
collectors:
  link: {enabled: false}
  aggr: {enabled: false}
  ipmp: {enabled: false}
""")
    return d


# ------------------------------------------------------------------ MPxIO


LU_OK = "/dev/rdsk/c0t600144F0C8A2B6E1000062E1F00A0001d0s2"
LU_DEGRADED = "/dev/rdsk/c0t600144F0C8A2B6E1000062E1F00A0002d0s2"
SAS_DISK = "/dev/rdsk/c0t5000C500562A02E3d0s2"
SAS_VHCI = "/scsi_vhci/disk@g5000c500562a0b17"
SES = "/scsi_vhci/enclosure@g500605b0055961fd"
FC_ALUA = "/scsi_vhci/disk@g600a0b8000492c63000005fd49e8305b"

# An FC LU of an explicit-failover array: the real capture of research/real-captures.md I-10
# (Vendor/Product padded, "Paths:  " and "Target Port Groups:  " with two trailing blanks,
# TPG 1 active, TPG 2 standby) with one change: its second path (to 202400a0b8492c63, a
# disabled port of TPG 1) becomes the path to TPG 2's port, so each TPG has one path.
_ASYM = capture("solaris-multipathing-blog/mpathadm-show-lu-asymmetric.txt").split("\n\n")
assert "202400a0b8492c63" in _ASYM[2] and "Disabled:  yes" in _ASYM[2] and "202400a0b8492c63" in _ASYM[4]
FC_SHOW = "\n\n".join(
    [*_ASYM[:2], _ASYM[2].replace("202400a0b8492c63", "201400a0b8492c63").replace("Disabled:  yes", "Disabled:  no"), _ASYM[3], _ASYM[5]]
)


def iscsi_lu(device: str, guid: str, states: tuple[str, str]) -> str:
    blocks = []
    for i, state in enumerate(states):
        blocks.append(
            f"\t\tInitiator Port Name:  {INITIATOR},4000002a000{i}\n"
            f"\t\tTarget Port Name:  4000002a000{i},{TGT},{i + 2}\n"
            "\t\tOverride Path:  NA\n"
            f"\t\tPath State:  {state}\n"
            "\t\tDisabled:  no\n\n"
        )
    return (
        f"Logical Unit:  {device}\n"
        "\tmpath-support:  libmpscsi_vhci.so\n"
        "\tVendor:  SUN     \n"
        "\tProduct:  COMSTAR         \n"
        "\tRevision:  1.0 \n"
        "\tName Type:  unknown type\n"
        f"\tName:  {guid}\n"
        "\tAsymmetric:  no\n"
        "\tCurrent Load Balance:  round-robin\n"
        "\tLogical Unit Group ID:  NA\n"
        "\tAuto Failback:  on\n"
        "\tAuto Probing:  NA\n\n"
        "\tPaths:  \n" + "".join(blocks)
        + "\tTarget Ports:\n"
        f"\t\tName:  4000002a0000,{TGT},2\n"
        "\t\tRelative ID:  0\n\n"
        f"\t\tName:  4000002a0001,{TGT},3\n"
        "\t\tRelative ID:  0\n\n"
    )


def sas_lu(device: str, wwn: str, vendor: str, product: str, ports: tuple[str, str], init: str = "w500605b0055961c0") -> str:
    paths = "".join(
        f"\t\tInitiator Port Name:  {init}\n"
        f"\t\tTarget Port Name:  {p}\n"
        "\t\tOverride Path:  NA\n"
        "\t\tPath State:  OK\n"
        "\t\tDisabled:  no\n\n"
        for p in ports
    )
    tports = "".join(f"\t\tName:  {p}\n\t\tRelative ID:  0\n\n" for p in ports)
    return (
        f"Logical Unit:  {device}\n"
        "\tmpath-support:  libmpscsi_vhci.so\n"
        f"\tVendor:  {vendor}\n"
        f"\tProduct:  {product}\n"
        "\tRevision:  0002\n"
        "\tName Type:  unknown type\n"
        f"\tName:  {wwn}\n"
        "\tAsymmetric:  no\n"
        "\tCurrent Load Balance:  none\n"
        "\tLogical Unit Group ID:  NA\n"
        "\tAuto Failback:  on\n"
        "\tAuto Probing:  NA\n\n"
        "\tPaths:  \n" + paths + "\tTarget Ports:\n" + tports
    )


def illumos_storage_mpxio(out: str) -> None:
    d = fresh(out, "illumos-storage-mpxio")
    snapshot_yml(
        d,
        "illumos",
        "hand-made from the mpathadm code paths (illumos-gate usr/src/cmd/mpathadm) and the real "
        "captures of list lu / show lu shapes (research/real-captures.md I-9, I-10): an OmniOS "
        "initiator with two COMSTAR iSCSI LUs over two sessions, one LU down to one of its two "
        "paths (path error), plus a JBOD: two dual-ported SAS disks (one listed by its "
        "/scsi_vhci node) and a SES enclosure, all through one SAS HBA port, and an FC LU of an "
        "explicit-failover array (one active, one standby target port group).",
        hostname="omnios-initiator",
    )
    lus = [
        mpxio_illumos.LuPaths(LU_OK, 2, 2),
        mpxio_illumos.LuPaths(LU_DEGRADED, 2, 1),
        mpxio_illumos.LuPaths(SAS_DISK, 2, 2),
        mpxio_illumos.LuPaths(SAS_VHCI, 2, 2),
        mpxio_illumos.LuPaths(SES, 2, 2),
        mpxio_illumos.LuPaths(FC_ALUA, 2, 2),
    ]
    command(d, "mpathadm", mpxio_illumos.LIST_LU_ARGS,
            "".join(f"\t{lu.device}\n\t\tTotal Path Count: {lu.total}\n\t\tOperational Path Count: {lu.operational}\n" for lu in lus))
    details = {
        LU_OK: iscsi_lu(LU_OK, "600144f0c8a2b6e1000062e1f00a0001", ("OK", "OK")),
        LU_DEGRADED: iscsi_lu(LU_DEGRADED, "600144f0c8a2b6e1000062e1f00a0002", ("OK", "path error")),
        SAS_DISK: sas_lu(SAS_DISK, "5000c500562a02e3", "SEAGATE ", "ST1000NM0001    ", ("w5000c500562a02e1", "w5000c500562a02e2")),
        SAS_VHCI: sas_lu(SAS_VHCI, "5000c500562a0b17", "SEAGATE ", "ST1000NM0001    ", ("w5000c500562a0b15", "w5000c500562a0b16")),
        SES: sas_lu(SES, "500605b0055961fd", "LSI     ", "SAS2X28         ", ("w500605b0055961fd", "w500605b0055961fe")),
        FC_ALUA: FC_SHOW,
    }
    for dev, text in details.items():
        command(d, "mpathadm", [*mpxio_illumos.SHOW_LU_ARGS, dev], text)


# ------------------------------------------------------------------ COMSTAR


def illumos_storage_comstar(out: str) -> None:
    d = fresh(out, "illumos-storage-comstar")
    snapshot_yml(
        d,
        "illumos",
        "hand-made from the stmfadm, itadm and stmf kstat code paths (illumos-gate "
        "usr/src/cmd/stmfadm/stmfadm.c, usr/src/cmd/itadm/itadm.c, "
        "usr/src/uts/common/io/comstar/stmf/stmf.c) and the real itadm/stmfadm captures "
        "(research/real-captures.md I-12, I-13): a ZFS head serving one iSCSI target on two "
        "portal groups (10.10.1.10, 10.10.2.10); esx01 logs in twice (one session per portal: "
        "MPIO), esx02 once (no MPIO); a second target on all portals has no session.",
        hostname="omnios01",
    )
    command(d, "stmfadm", comstar_illumos.STMFADM_ARGS, (
        f"Target: {TGT}\n"
        "    Operational Status: Online\n"
        "    Provider Name     : iscsit\n"
        "    Alias             : -\n"
        "    Protocol          : iSCSI\n"
        "    Sessions          : 3\n"
        f"        Initiator: {ESX01}\n"
        "            Alias: esx01\n"
        "            Logged in since: Tue Mar  4 09:12:44 2025\n"
        f"        Initiator: {ESX02}\n"
        "            Alias: esx02\n"
        "            Logged in since: Tue Mar  4 09:13:02 2025\n"
        f"        Initiator: {ESX01}\n"
        "            Alias: esx01\n"
        "            Logged in since: Tue Mar  4 09:12:45 2025\n"
        f"Target: {TGT_BACKUP}\n"
        "    Operational Status: Online\n"
        "    Provider Name     : iscsit\n"
        "    Alias             : backup\n"
        "    Protocol          : iSCSI\n"
        "    Sessions          : 0\n"
    ))
    command(d, "itadm", comstar_illumos.ITADM_TARGET_ARGS, (
        f"{'TARGET NAME':<61}{'STATE':<9}{'SESSIONS':<9}\n"
        + f"{TGT:<61}\t{'online':<9}{3:<9}\n"  # a TAB after names longer than 60 (itadm.c list_target)
        "\talias:              \t-\n"
        "\tauth:               \tnone (defaults)\n"
        "\ttargetchapuser:     \t-\n"
        "\ttargetchapsecret:   \tunset\n"
        "\ttpg-tags:           \ttpg-a = 2,tpg-b = 3\n"
        f"{TGT_BACKUP:<61}{'online':<9}{0:<9}\n"
        "\talias:              \tbackup\n"
        "\tauth:               \tnone \n"
        "\ttargetchapuser:     \t-\n"
        "\ttargetchapsecret:   \tunset\n"
        "\ttpg-tags:           \tdefault\n"
    ))
    command(d, "itadm", comstar_illumos.ITADM_TPG_ARGS, (
        f"{'TARGET PORTAL GROUP':<30}{'PORTAL COUNT':<9}\n"
        f"{'tpg-a':<30}{1:<9}\n    portals:\t10.10.1.10:3260\n"
        f"{'tpg-b':<30}{1:<9}\n    portals:\t10.10.2.10:3260\n"
        f"{'tpg-mgmt':<30}{2:<9}\n    portals:\t192.168.50.10:3260,[fd00:50::10]:3260\n"
    ))
    tgt_a, tgt_b = "ffffff0d4a7c2e80", "ffffff0d4a7c3a40"
    lu_1, lu_2 = "ffffff0d4b112000", "ffffff0d4b113800"
    command(d, "kstat", ["-p", *comstar_illumos.KSTAT_SELECTORS], kstat_p({
        ("stmf", 0, f"stmf_tgt_{tgt_a}"): {"class": "misc", "protocol": "iSCSI", "target-alias": "", "target-name": TGT},
        ("stmf", 0, f"stmf_tgt_io_{tgt_a}"): io_stats(71_934_823_448_576, 23_011_455_520_768, 6_415_519_169, 513_882_016, "io"),
        ("stmf", 0, f"stmf_tgt_{tgt_b}"): {"class": "misc", "protocol": "iSCSI", "target-alias": "backup", "target-name": TGT_BACKUP},
        ("stmf", 0, f"stmf_tgt_io_{tgt_b}"): io_stats(0, 0, 0, 0, "io"),
        ("stmf", 0, f"stmf_lu_{lu_1}"): {"class": "misc", "lun-alias": "/dev/zvol/rdsk/tank/vols/esx-ds01", "lun-guid": "600144f0c8a2b6e1000062e1f00a0001"},
        ("stmf", 0, f"stmf_lu_io_{lu_1}"): io_stats(61_001_822_101_504, 19_440_018_911_232, 5_100_200_300, 401_002_003, "io"),
        ("stmf", 0, f"stmf_lu_{lu_2}"): {"class": "misc", "lun-alias": "/dev/zvol/rdsk/tank/vols/esx-ds02", "lun-guid": "600144f0c8a2b6e1000062e1f00a0002"},
        ("stmf", 0, f"stmf_lu_io_{lu_2}"): io_stats(10_933_001_347_072, 3_571_436_609_536, 1_315_318_869, 112_880_013, "io"),
    }))


# ------------------------------------------------------------------ iSCSI initiator


def illumos_storage_iscsi_initiator(out: str) -> None:
    d = fresh(out, "illumos-storage-iscsi-initiator", network_data=True)
    snapshot_yml(
        d,
        "illumos",
        "hand-made from the iscsiadm and iSCSI initiator kstat code paths (illumos-gate "
        "usr/src/cmd/iscsiadm/iscsiadm_main.c, usr/src/uts/common/io/scsi/adapters/iscsi/"
        "iscsi_stats.c) and ipadm(8) parseable output: an OmniOS initiator with two sessions to "
        "one COMSTAR target, one per portal group (TPGT 2 over ixgbe0 10.10.1.21, TPGT 3 over "
        "ixgbe1 10.10.2.21), both logged in; the link table (dladm show-link/show-phys -p, "
        "link and mac kstats, as tests/builders/illumos_net.py writes them) gives each "
        "session the speed of its NIC; no aggregation, in.mpathd not running.",
        hostname="omnios-initiator",
    )
    login = (
        "\t\t  Login Parameters (Negotiated):\n"
        "\t\t  \tData Sequence In Order: yes\n"
        "\t\t  \tData PDU In Order: yes\n"
        "\t\t  \tDefault Time To Retain: 20\n"
        "\t\t  \tDefault Time To Wait: 2\n"
        "\t\t  \tError Recovery Level: 0\n"
        "\t\t  \tFirst Burst Length: 65536\n"
        "\t\t  \tImmediate Data: yes\n"
        "\t\t  \tInitial Ready To Transfer (R2T): yes\n"
        "\t\t  \tMax Burst Length: 262144\n"
        "\t\t  \tMax Outstanding R2T: 1\n"
        "\t\t  \tMax Receive Data Segment Length: 32768\n"
        "\t\t  \tMax Connections: 65535\n"
        "\t\t  \tHeader Digest: NONE\n"
        "\t\t  \tData Digest: NONE\n\n"
    )
    blocks = []
    for tpgt, isid, local, peer in ((3, "4000002a0001", "10.10.2.21:40122", "10.10.2.10:3260"),
                                    (2, "4000002a0000", "10.10.1.21:33817", "10.10.1.10:3260")):
        blocks.append(
            f"Target: {TGT}\n"
            "\tAlias: -\n"
            f"\tTPGT: {tpgt}\n"
            f"\tISID: {isid}\n"
            "\tConnections: 1\n"
            "\t\tCID: 0\n"
            f"\t\t  IP address (Local): {local}\n"
            f"\t\t  IP address (Peer): {peer}\n"
            "\t\t  Discovery Method: SendTargets \n" + login
        )
    command(d, "iscsiadm", iscsi_illumos.LIST_TARGET_ARGS, "".join(blocks))
    ix0 = (30_980_112_300_544, 21_344_556_001, 9_871_220_011_008, 7_220_113_554)
    ix1 = (30_955_700_812_800, 21_330_987_113, 9_866_001_224_704, 7_219_004_321)
    network(
        d,
        "igb0:phys:1500:up:\nixgbe0:phys:9000:up:\nixgbe1:phys:9000:up:\n",
        "igb0:Ethernet:up:1000:full:igb0\nixgbe0:Ethernet:up:10000:full:ixgbe0\nixgbe1:Ethernet:up:10000:full:ixgbe1\n",
        [
            ("link", 0, "igb0", link_stats(81_234_567, 402_211, 120_456_789, 388_120, speed=1_000_000_000)),
            ("link", 0, "ixgbe0", link_stats(*ix0, speed=10_000_000_000)),
            ("link", 0, "ixgbe1", link_stats(*ix1, speed=10_000_000_000)),
            ("igb", 0, "mac", mac_stats(81_234_567, 402_211, 120_456_789, 388_120, speed=1_000_000_000)),
            ("ixgbe", 0, "mac", mac_stats(*ix0, speed=10_000_000_000)),
            ("ixgbe", 1, "mac", mac_stats(*ix1, speed=10_000_000_000)),
        ],
    )
    command(d, "ipadm", iscsi_illumos.IPADM_ARGS, (
        "lo0/v4:127.0.0.1/8\n"
        "igb0/v4:192.168.50.21/24\n"
        "ixgbe0/v4:10.10.1.21/24\n"
        "ixgbe1/v4:10.10.2.21/24\n"
        "lo0/v6:\\:\\:1/128\n"
        "ixgbe0/v6:fe80\\:\\:8\\:20ff\\:fe7a\\:1c01/10\n"
    ))
    sess_io = {
        "1_5": io_stats(30_512_771_211_264, 9_722_010_624_000, 3_207_760_101, 256_941_008, "iscsi_sess"),
        "1_7": io_stats(30_489_050_824_704, 9_718_008_012_800, 3_207_759_088, 256_940_911, "iscsi_sess"),
    }
    # the peak sampler's read: the statistic field filters what kstat prints (nread, nwritten)
    command(d, "kstat", ["-p", *iscsi_illumos.SAMPLE_SELECTORS], "".join(
        f"iscsi:0:iscsi_sess_io_{k}:{stat}\t{v[stat]}\n" for k, v in sorted(sess_io.items()) for stat in ("nread", "nwritten")))
    command(d, "kstat", ["-p", *iscsi_illumos.KSTAT_SELECTORS], kstat_p({
        ("iscsi", 0, "iscsi_hba_1"): {"class": "iscsi_hba", "_alias": "omnios-initiator", "_cntr_sess": 2, "_name": INITIATOR},
        ("iscsi", 0, "iscsi_sess_1_5"): {
            "class": "iscsi_sess", "_state": "logged_in", "_oid": 5, "_hba": "iscsi_hba_1", "_cntr_conn": 1, "_cntr_reset": 0,
            "_cntr_pkt_pending": 0, "_cmd_sn": 91_822_310, "_cmd_sn_exp": 91_822_310, "_cmd_sn_max": 91_822_437,
            "_target_name": TGT, "_target_alias": "", "_tpgt": 2},
        ("iscsi", 0, "iscsi_sess_io_1_5"): sess_io["1_5"],
        ("iscsi", 0, "iscsi_sess_1_7"): {
            "class": "iscsi_sess", "_state": "logged_in", "_oid": 7, "_hba": "iscsi_hba_1", "_cntr_conn": 1, "_cntr_reset": 1,
            "_cntr_pkt_pending": 0, "_cmd_sn": 90_377_002, "_cmd_sn_exp": 90_377_002, "_cmd_sn_max": 90_377_129,
            "_target_name": TGT, "_target_alias": "", "_tpgt": 3},
        ("iscsi", 0, "iscsi_sess_io_1_7"): sess_io["1_7"],
    }))


#: scenario folder -> builder
BUILDS = {
    "illumos-storage-mpxio": illumos_storage_mpxio,
    "illumos-storage-comstar": illumos_storage_comstar,
    "illumos-storage-iscsi-initiator": illumos_storage_iscsi_initiator,
}
