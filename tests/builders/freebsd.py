"""Builds the hand-made FreeBSD scenarios (the folders are committed; a test rebuilds them).

python -m tests.builders <name>  # then:
pytest tests/test_scenarios.py --update-golden -k freebsd

There is no FreeBSD machine behind these: every output is printed here the way the
FreeBSD sources print it, checked against the public captures in tests/captures/freebsd/:

* ``ifconfig -a`` / ``ifconfig -v lagg0``: sbin/ifconfig/ifconfig.c status() (header at
  column 0, TAB-indented properties, printb ``flags=<hex><NAMES>``), af_link.c (``ether``,
  ``hwaddr``), af_inet.c, iflagg.c lagg_status (``laggproto lacp lagghash l2,l3,l4``; under
  ``-v`` ``lagg options:``/``lagg statistics:``/``lag id:`` and per port `` state=<hex><...>``
  and the ``[(actor),\\n\\t\\t (partner)]`` tuple), ifgroup.c (``groups:``), ifmedia.c
  (``media: Ethernet autoselect (10Gbase-SR <full-duplex>)``, ``status: active`` / ``no
  carrier``), in the order of FreeBSD 13/14 (lagg lines, groups, media, status, nd6).
  LACP values follow sys/net/ieee8023ad_lacp.c: a port without carrier is disabled
  (lacp_port_disable: AGGREGATION cleared, mux DETACHED, lacp_sm_rx_record_default sets
  DEFAULTED and, in strict mode, the all-zero partner with priorities 0xFFFF); the lag id
  of the active aggregator carries no port priority or number (lacp_fill_aggregator_id_peer
  copies the system and key only).
* ``netstat -i -b -n --libxo json``: usr.bin/netstat/if.c intpr() field names, one entry
  per address; counters only complete on the ``<Link#n>`` entry.
* ``ctladm islist -v``: usr.sbin/ctladm/ctladm.c cctl_islist ``%-25s %s`` lines, a blank
  line after each session; ``ctladm portlist -i -v``: cctl_portlist, after the real FreeNAS
  capture (tests/captures/freebsd/freenas-ctladm-portlist.txt).
* ``ctlstat -j -t -n 4096 -c 1``: usr.bin/ctlstat/ctlstat.c ctlstat_json (per port: NO IO,
  READ, WRITE with bytes, operations, dmas and bintime seconds), then a newline.
* ``iscsictl -L``: usr.bin/iscsictl/iscsictl.c kernel_list ``%-36s %-16s`` then the state
  (``Connected: da0 `` with the trailing blank of periphs.c, or the failure reason).
* ``gmultipath list``: sbin/geom/core/geom.c list_one_geom with the config of
  sys/geom/multipath/g_multipath.c g_multipath_dumpconf (State, UUID, Mode, Type).
"""

from __future__ import annotations

import json
import os

from .sysfs import clear, command, snapshot_yml

IFF = {"UP": 0x1, "BROADCAST": 0x2, "LOOPBACK": 0x8, "RUNNING": 0x40, "SIMPLEX": 0x800, "MULTICAST": 0x8000, "LOWER_UP": 0x1000000}
PORT_BITS = [("MASTER", 0x1), ("STACK", 0x2), ("ACTIVE", 0x4), ("COLLECTING", 0x8), ("DISTRIBUTING", 0x10)]
LACP_BITS = [("ACTIVITY", 0x1), ("TIMEOUT", 0x2), ("AGGREGATION", 0x4), ("SYNC", 0x8), ("COLLECTING", 0x10), ("DISTRIBUTING", 0x20), ("DEFAULTED", 0x40), ("EXPIRED", 0x80)]


def printb(name: str, value: int, bits) -> str:
    """sbin/ifconfig/ifconfig.c printb: ``name=<hex><NAME,NAME>``."""
    return f"{name}={value:x}<{','.join(n for n, b in bits if value & b)}>"


def iff(*names: str) -> int:
    v = 0
    for n in names:
        v |= IFF[n]
    return v


IFF_NAMES = [(n, b) for n, b in sorted(IFF.items(), key=lambda x: x[1])]


def header(name: str, flags: int, mtu: int) -> str:
    return f"{name}: {printb('flags', flags, IFF_NAMES)} metric 0 mtu {mtu}\n"


def peer(prio: int, mac: str, key: int, pprio: int, pno: int) -> str:
    return f"({prio:04X},{mac.upper().replace(':', '-')},{key:04X},{pprio:04X},{pno:04X})"


def lagg_block(proto: str, hash_: str, ports, verbose: bool, stats=None, lag_id=None) -> str:
    """``ports``: (name, flags, actor_state, actor tuple, partner tuple)."""
    out = f"\tlaggproto {proto}" + (f" lagghash {hash_}" if hash_ else "") + "\n"
    if verbose:
        out += "\tlagg options:\n\t\tflags=0<>\n\t\tflowid_shift: 16\n"
        out += f"\tlagg statistics:\n\t\tactive ports: {stats[0]}\n\t\tflapping: {stats[1]}\n"
        if proto == "lacp":
            out += f"\tlag id: [{lag_id[0]},\n\t\t {lag_id[1]}]\n"
    for name, flags, state, actor, partner in ports:
        out += f"\tlaggport: {name} {printb('flags', flags, PORT_BITS)}"
        if verbose and proto == "lacp":
            out += " " + printb("state", state, LACP_BITS)
        out += "\n"
        if verbose and proto == "lacp":
            out += f"\t\t[{actor},\n\t\t {partner}]\n"
    return out


def nic(name: str, mac: str, mtu: int, media: str | None, inet: str | None = None, carrier: bool = True, lagg_mac: str | None = None, hwcsum: bool = True) -> str:
    """A physical NIC as ifconfig -a prints it (a lagg port shows the lagg's MAC as
    ``ether`` and its own as ``hwaddr``)."""
    flags = iff("UP", "BROADCAST", "RUNNING", "SIMPLEX", "MULTICAST") | (IFF["LOWER_UP"] if carrier else 0)
    out = header(name, flags, mtu)
    if hwcsum:
        out += "\toptions=4e53fbb<RXCSUM,TXCSUM,VLAN_MTU,VLAN_HWTAGGING,JUMBO_MTU,VLAN_HWCSUM,TSO4,TSO6,LRO,WOL_UCAST,WOL_MCAST,WOL_MAGIC,VLAN_HWFILTER,VLAN_HWTSO,RXCSUM_IPV6,TXCSUM_IPV6,HWSTATS,MEXTPG>\n"
    out += f"\tether {lagg_mac or mac}\n"
    if lagg_mac:
        out += f"\thwaddr {mac}\n"
    if inet:
        addr, mask, bcast = inet.split()
        out += f"\tinet {addr} netmask {mask} broadcast {bcast}\n"
    if media and carrier:
        out += f"\tmedia: Ethernet autoselect ({media} <full-duplex,rxpause,txpause>)\n\tstatus: active\n"
    else:
        out += "\tmedia: Ethernet autoselect\n\tstatus: no carrier\n"
    out += "\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>\n"
    return out


def lo0() -> str:
    return (
        header("lo0", iff("UP", "LOOPBACK", "RUNNING", "MULTICAST"), 16384)
        + "\toptions=680003<RXCSUM,TXCSUM,LINKSTATE,RXCSUM_IPV6,TXCSUM_IPV6>\n"
        + "\tinet 127.0.0.1 netmask 0xff000000\n"
        + "\tinet6 ::1 prefixlen 128\n"
        + "\tinet6 fe80::1%lo0 prefixlen 64 scopeid 0x3\n"
        + "\tgroups: lo\n"
        + "\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>\n"
    )


def netstat_json(rows) -> str:
    """``rows``: (name, flags, mtu, mac or "", counters (ipkts, ierrs, idrop, ibytes, opkts,
    oerrs, obytes), [inet networks])."""
    entries = []
    for index, (name, flags, mtu, mac, c, nets) in enumerate(rows, 1):
        ipk, ier, idr, ib, opk, oer, ob = c
        link = {"name": name, "flags": f"0x{flags:x}", "mtu": mtu, "network": f"<Link#{index}>"}
        if mac:
            link["address"] = mac
        link.update({"received-packets": ipk, "received-errors": ier, "dropped-packets": idr, "received-bytes": ib,
                     "sent-packets": opk, "send-errors": oer, "sent-bytes": ob, "collisions": 0})
        entries.append(link)
        for net, addr in nets:
            # other families: no error/drop/collision columns (show_stat showvalue 0)
            entries.append({"name": name, "flags": f"0x{flags:x}", "mtu": mtu, "network": net, "address": addr,
                            "received-packets": ipk // 3, "received-bytes": ib // 3, "sent-packets": opk // 3, "sent-bytes": ob // 3})
    return json.dumps({"statistics": {"interface": entries}}) + "\n"


def fresh(out: str, name: str) -> str:
    d = os.path.join(out, name)
    clear(d)
    os.makedirs(d, exist_ok=True)
    return d


# ------------------------------------------------------------------ TrueNAS-like head

HEAD_LAGG_MAC = "3c:fd:fe:a1:b2:10"
SWITCH = "00:1c:73:5e:10:01"
TARGET = "iqn.2005-10.org.freenas.ctl:tank-vm01"
TARGET_IDLE = "iqn.2005-10.org.freenas.ctl:tank-backup"
ESX01 = "iqn.1998-01.com.vmware:esx01-4f2a1b3c"
ESX02 = "iqn.1998-01.com.vmware:esx02-7d1e9a00"


def head_lagg(verbose: bool) -> str:
    mac = HEAD_LAGG_MAC
    actor = lambda no: peer(0x8000, mac, 0x0111, 0x8000, no)  # noqa: E731
    ports = [
        # ix0: in the active aggregator, collecting and distributing
        ("ix0", 0x1C, 0x3D, actor(1), peer(0x8000, SWITCH, 0x0022, 0x8000, 0x0105)),
        # ix1: joined and in sync but the switch has not enabled distribution: the mux sits
        # in COLLECTING (ieee8023ad_lacp.c lacp_sm_mux: partner not collecting)
        ("ix1", 0x0C, 0x1D, actor(2), peer(0x8000, SWITCH, 0x0022, 0x8000, 0x0106)),
        # ix2: no carrier: lacp_port_disable, strict-mode default partner
        ("ix2", 0x00, 0x41, peer(0x8000, mac, 0x0000, 0x8000, 3), peer(0xFFFF, "00:00:00:00:00:00", 0, 0xFFFF, 0)),
    ]
    lag_id = (peer(0x8000, mac, 0x0111, 0, 0), peer(0x8000, SWITCH, 0x0022, 0, 0))
    flags = iff("UP", "BROADCAST", "RUNNING", "SIMPLEX", "MULTICAST") | IFF["LOWER_UP"]
    out = header("lagg0", flags, 9000)
    out += "\toptions=4e507bb<RXCSUM,TXCSUM,VLAN_MTU,VLAN_HWTAGGING,JUMBO_MTU,VLAN_HWCSUM,TSO4,TSO6,LRO,VLAN_HWFILTER,VLAN_HWTSO,RXCSUM_IPV6,TXCSUM_IPV6,HWSTATS,MEXTPG>\n"
    out += f"\tether {mac}\n\tinet 10.20.1.10 netmask 0xffffff00 broadcast 10.20.1.255\n"
    out += lagg_block("lacp", "l2,l3,l4", ports, verbose, stats=(2, 4), lag_id=lag_id)
    out += "\tgroups: lagg\n\tmedia: Ethernet autoselect\n\tstatus: active\n\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>\n"
    return out


def make_head(out: str) -> None:
    d = fresh(out, "freebsd-truenas-head")
    snapshot_yml(
        d,
        "freebsd",
        "hand-made from FreeBSD's sources (sbin/ifconfig ifconfig.c, iflagg.c, ifmedia.c; "
        "sys/net/if_lagg.c lagg_port2req and ieee8023ad_lacp.c; usr.bin/netstat/if.c; "
        "usr.sbin/ctladm/ctladm.c cctl_islist and cctl_portlist) and the public captures in "
        "tests/captures/freebsd/ (Handbook lagg output, FreeNAS ctladm portlist): a TrueNAS "
        "CORE-like head serving iSCSI from ctld over lagg0 (LACP, 3 x 10 GbE): ix0 collecting "
        "and distributing, ix1 up but not distributing (the switch has not enabled it), ix2 "
        "without carrier; target tank-vm01 with esx01 logged in twice (from two addresses) and "
        "esx02 once, target tank-backup on the same portal group without sessions; igb0 is "
        "the management NIC.  No iscsictl or gmultipath outputs: those collectors report "
        "nothing.",
        hostname="truenas01",
    )
    lagg_mac = HEAD_LAGG_MAC
    ifconfig = (
        nic("ix0", "3c:fd:fe:a1:b2:10", 9000, "10Gbase-SR", lagg_mac=lagg_mac)
        + nic("ix1", "3c:fd:fe:a1:b2:11", 9000, "10Gbase-SR", lagg_mac=lagg_mac)
        + nic("ix2", "3c:fd:fe:a1:b2:12", 9000, None, carrier=False, lagg_mac=lagg_mac)
        + nic("igb0", "ac:1f:6b:20:30:40", 1500, "1000baseT", inet="192.168.7.20 0xffffff00 192.168.7.255", hwcsum=False)
        + lo0()
        + head_lagg(verbose=False)
    )
    command(d, "ifconfig", ["-a"], ifconfig)
    command(d, "ifconfig", ["-v", "lagg0"], head_lagg(verbose=True))
    up = iff("UP", "BROADCAST", "RUNNING", "SIMPLEX", "MULTICAST")
    command(d, "netstat", ["-i", "-b", "-n", "--libxo", "json"], netstat_json([
        ("ix0", up | IFF["LOWER_UP"], 9000, "3c:fd:fe:a1:b2:10", (8123456789, 0, 0, 61234567890123, 7012345678, 0, 48765432101234), []),
        ("ix1", up | IFF["LOWER_UP"], 9000, "3c:fd:fe:a1:b2:11", (15234567, 0, 0, 1023456789, 1234, 0, 98765, ), []),
        ("ix2", up, 9000, "3c:fd:fe:a1:b2:12", (912345, 3, 0, 812345678, 1023, 0, 65432), []),
        ("igb0", up | IFF["LOWER_UP"], 1500, "ac:1f:6b:20:30:40", (2345678, 0, 12, 1876543210, 1987654, 0, 987654321), [("192.168.7.0/24", "192.168.7.20")]),
        ("lo0", iff("UP", "LOOPBACK", "RUNNING", "MULTICAST"), 16384, "", (4521, 0, 0, 1254300, 4521, 0, 1254300), [("127.0.0.0/8", "127.0.0.1"), ("::1/128", "::1"), ("fe80::%lo0/64", "fe80::1%lo0")]),
        ("lagg0", up | IFF["LOWER_UP"], 9000, lagg_mac, (8138603701, 3, 0, 62258837347912, 7012346912, 0, 48765432166666), [("10.20.1.0/24", "10.20.1.10")]),
    ]))

    def session(sid: int, initiator: str, addr: str, alias: str, target: str) -> str:
        rows = [
            ("Session ID:", sid), ("Initiator name:", initiator), ("Initiator portal:", addr),
            ("Initiator alias:", alias), ("Target name:", target), ("Target alias:", target.rpartition(":")[2]),
            ("Header digest:", "None"), ("Data digest:", "None"), ("MaxRecvDataSegmentLength:", 262144),
            ("MaxSendDataSegmentLength:", 262144), ("MaxBurstLen:", 1048576), ("FirstBurstLen:", 65536),
            ("ImmediateData:", "Yes"), ("iSER (RDMA):", "No"), ("Offload driver:", "None"),
        ]
        return "".join(f"{label:<25} {value}\n" for label, value in rows) + "\n"

    command(d, "ctladm", ["islist", "-v"],
            session(3, ESX01, "10.20.1.21", "esx01", TARGET)
            + session(4, ESX02, "10.20.1.31", "esx02", TARGET)
            + session(7, ESX01, "10.20.1.22", "esx01", TARGET))

    def port(pid: int, target: str, tag: int, initiators, luns) -> str:
        out = f"{pid:<4} {'YES':<6} {'iscsi':<8} {'iscsi':<8} {tag:<2} {1:<2} {target},t,0x{tag:04x}\n"
        out += f"  Target: {target}\n"
        for i, (iqn, isid) in enumerate(initiators, 1):
            out += f"  Initiator {i}: {iqn},i,0x{isid}\n"
        for lun, ctl_lun in luns:
            out += f"  LUN {lun}: {ctl_lun}\n"
        out += ("      port_type=16\n      cfiscsi_state=1\n"
                f"      cfiscsi_target={target}\n      cfiscsi_portal_group_tag={tag}\n"
                f"      cfiscsi_target_alias={target.rpartition(':')[2]}\n      ctld_portal_group_name=pg1\n")
        return out

    command(d, "ctladm", ["portlist", "-i", "-v"],
            "Port Online Frontend Name     pp vp\n"
            + f"{0:<4} {'YES':<6} {'ioctl':<8} {'ioctl':<8} {0:<2} {0:<2}\n      port_type=8\n"
            + f"{1:<4} {'YES':<6} {'tpc':<8} {'tpc':<8} {0:<2} {0:<2}\n      port_type=8\n"
            + port(5, TARGET, 1, [(ESX01, "00023d000001"), (ESX02, "00023d000001"), (ESX01, "00023d000002")], [(0, 0), (1, 1)])
            + port(6, TARGET_IDLE, 1, [], [(0, 2)]))

    def stat(num: int, read: int, written: int) -> str:
        io = []
        for kind, b, ops in (("NO IO", 0, 912), ("READ", read, read // 65536), ("WRITE", written, written // 32768)):
            io.append(f'{{"type":"{kind}","bytes":{b},"operations":{ops},"dmas":{ops},"io time":{ops // 4000}.{ops % 1000000:06d},"dma time":0.000000}}')
        return f'{{"num":{num},"io":[{",".join(io)}]}}'

    # ctlstat_json: ports 0 (ioctl) and 1 (tpc) carry nothing; 5 serves tank-vm01, 6 is idle
    command(d, "ctlstat", ["-j", "-t", "-n", "4096", "-c", "1"],
            '{"ports":[' + ",".join([stat(0, 0, 0), stat(1, 0, 0), stat(5, 48518123520000, 21912345600000), stat(6, 0, 0)]) + "]}\n")


# ------------------------------------------------------------------ initiator with gmultipath

DB_TARGET = "iqn.2005-10.org.freenas.ctl:db01"
BACKUP_TARGET = "iqn.2005-10.org.freenas.ctl:backup01"


def make_initiator(out: str) -> None:
    d = fresh(out, "freebsd-initiator")
    snapshot_yml(
        d,
        "freebsd",
        "hand-made from FreeBSD's sources (sbin/ifconfig, usr.bin/netstat/if.c, "
        "usr.bin/iscsictl/iscsictl.c kernel_list and periphs.c, sbin/geom/core/geom.c "
        "list_one_geom, sys/geom/multipath/g_multipath.c g_multipath_dumpconf): a FreeBSD "
        "database server with two storage NICs (ix0 10.30.1.21, ix1 10.30.2.21) logged in to "
        "target db01 over two portals for gmultipath (Active/Active): the session over "
        "10.30.2.10 failed (Connection refused), so path da1 of multipath/db01 is FAIL and the "
        "provider DEGRADED; target backup01 is reached over one portal (da2, no multipath).",
        hostname="db01",
    )
    up = iff("UP", "BROADCAST", "RUNNING", "SIMPLEX", "MULTICAST") | IFF["LOWER_UP"]
    ifconfig = (
        nic("ix0", "90:e2:ba:11:22:30", 9000, "10Gbase-Twinax", inet="10.30.1.21 0xffffff00 10.30.1.255")
        + nic("ix1", "90:e2:ba:11:22:31", 9000, "10Gbase-Twinax", inet="10.30.2.21 0xffffff00 10.30.2.255")
        + nic("em0", "00:25:90:aa:bb:01", 1500, "1000baseT", inet="192.168.7.31 0xffffff00 192.168.7.255", hwcsum=False)
        + lo0()
    )
    command(d, "ifconfig", ["-a"], ifconfig)
    command(d, "netstat", ["-i", "-b", "-n", "--libxo", "json"], netstat_json([
        ("ix0", up, 9000, "90:e2:ba:11:22:30", (902345678, 0, 0, 3456789012345, 812345678, 0, 1234567890123), [("10.30.1.0/24", "10.30.1.21")]),
        ("ix1", up, 9000, "90:e2:ba:11:22:31", (512345678, 0, 0, 2345678901234, 412345678, 0, 987654321098), [("10.30.2.0/24", "10.30.2.21")]),
        ("em0", up, 1500, "00:25:90:aa:bb:01", (1234567, 0, 0, 987654321, 1123456, 0, 456789012), [("192.168.7.0/24", "192.168.7.31")]),
        ("lo0", iff("UP", "LOOPBACK", "RUNNING", "MULTICAST"), 16384, "", (1200, 0, 0, 345600, 1200, 0, 345600), [("127.0.0.0/8", "127.0.0.1")]),
    ]))
    # iscsictl.c: "%-36s %-16s %s"; a connected session lists its periphs with a blank after each
    command(d, "iscsictl", ["-L"],
            f"{'Target name':<36} {'Target portal':<16} State\n"
            f"{DB_TARGET:<36} {'10.30.1.10':<16} Connected: da0 \n"
            f"{DB_TARGET:<36} {'10.30.2.10':<16} Connection refused\n"
            f"{BACKUP_TARGET:<36} {'10.30.1.10':<16} Connected: da2 \n")

    def consumer(n: int, name: str, state: str, mode: str) -> str:
        return (f"{n}. Name: {name}\n   Mediasize: 1099511627776 (1.0T)\n   Sectorsize: 512\n"
                f"   Stripesize: 16384\n   Stripeoffset: 0\n   Mode: {mode}\n   State: {state}\n")

    command(d, "gmultipath", ["list"],
            "Geom name: db01\nState: DEGRADED\nUUID: 5e0f4c3a-9b1d-11ee-8c4d-90e2ba112230\n"
            "Mode: Active/Active\nType: AUTOMATIC\nProviders:\n"
            "1. Name: multipath/db01\n   Mediasize: 1099511627264 (1.0T)\n   Sectorsize: 512\n"
            "   Stripesize: 16384\n   Stripeoffset: 0\n   Mode: r1w1e3\n   State: DEGRADED\n"
            "Consumers:\n" + consumer(1, "da0", "ACTIVE", "r2w2e4") + consumer(2, "da1", "FAIL", "r2w2e4") + "\n")


#: scenario folder -> builder
BUILDS = {
    "freebsd-truenas-head": make_head,
    "freebsd-initiator": make_initiator,
}
