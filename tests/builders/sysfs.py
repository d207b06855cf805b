"""Low-level writers for hand-made snapshot trees in the kernel's sysfs/procfs layout.

Used to write the committed scenarios (and the benchmark's large hosts).  Layout facts:
Documentation/ABI/testing/sysfs-class-net (attribute names and formats), a physical NIC's
/sys/class/net/<if> is a symlink into /sys/devices/<bus path>/net/<if>, a virtual one into
/sys/devices/virtual/net/<if>; ``device/driver`` links to /sys/bus/<bus>/drivers/<drv>;
``master`` links to the master's directory.  /proc/net/dev: net/core/net-procfs.c.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import struct
import tempfile
from collections.abc import Callable

import yaml

from exporter.host import slug

PROC_NET_DEV_HEADER = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
)


#: the parts of a scenario folder a builder writes; expected.prom is the test's, never touched
BUILT_PARTS = ("snapshot.yml", "config.yml", "root", "commands")


def clear(directory: str) -> None:
    """Remove what a builder wrote into a scenario folder, keeping its expected.prom."""
    for part in BUILT_PARTS:
        p = os.path.join(directory, part)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        elif os.path.lexists(p):
            os.remove(p)


def derive(out: str, base: Callable[[str], None], base_name: str, name: str) -> str:
    """Start scenario ``name`` under ``out`` as a copy of what ``base`` builds (the folder
    ``base_name``): the base host.  The caller then writes the delta.  Returns the folder."""
    d = os.path.join(out, name)
    clear(d)
    with tempfile.TemporaryDirectory() as tmp:
        base(tmp)
        for part in BUILT_PARTS:
            src = os.path.join(tmp, base_name, part)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(d, part), symlinks=True)
            elif os.path.exists(src):
                os.makedirs(d, exist_ok=True)
                shutil.copy2(src, os.path.join(d, part))
    return d


def write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def symlink(target: str, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.lexists(path):
        os.remove(path)
    os.symlink(target, path)


def snapshot_yml(directory: str, platform: str, notes: str, hostname: str = "scenario") -> None:
    write(
        os.path.join(directory, "snapshot.yml"),
        yaml.safe_dump(
            {"platform": platform, "captured": "hand-made", "lanes_version": "0.1.0", "hostname": hostname, "notes": notes},
            sort_keys=False,
        ),
    )


def netdev(
    root: str,
    name: str,
    *,
    pci: str | None = None,
    driver: str | None = None,
    operstate: str = "up",
    carrier: int | None = 1,
    flags: int = 0x1003,
    mtu: int = 1500,
    mac: str = "00:00:00:00:00:00",
    speed: int | None = None,
    carrier_changes: int = 0,
    devtype: str | None = None,
    ifindex: int = 1,
    master: str | None = None,
    extra: dict[str, str] | None = None,
) -> str:
    """Create /sys/class/net/<name> and its device directory; returns the device dir."""
    if pci:
        devdir = f"sys/devices/pci0000:00/{pci}/net/{name}"
        symlink(f"../../devices/pci0000:00/{pci}/net/{name}", os.path.join(root, "sys/class/net", name))
        symlink("../../../" + pci, os.path.join(root, devdir, "device"))
        if driver:
            symlink(f"../../../bus/pci/drivers/{driver}", os.path.join(root, f"sys/devices/pci0000:00/{pci}/driver"))
            os.makedirs(os.path.join(root, "sys/bus/pci/drivers", driver), exist_ok=True)
    else:
        devdir = f"sys/devices/virtual/net/{name}"
        symlink(f"../../devices/virtual/net/{name}", os.path.join(root, "sys/class/net", name))
    d = os.path.join(root, devdir)
    uevent = f"INTERFACE={name}\nIFINDEX={ifindex}\n"
    if devtype:
        uevent = f"DEVTYPE={devtype}\n" + uevent
    attrs = {
        "operstate": operstate,
        "flags": hex(flags),
        "mtu": str(mtu),
        "address": mac,
        "carrier_changes": str(carrier_changes),
        "uevent": uevent.rstrip("\n"),
        "ifindex": str(ifindex),
    }
    if carrier is not None:  # reading carrier of an admin-down link gives EINVAL: no file
        attrs["carrier"] = str(carrier)
    if speed is not None:  # no speed file: EINVAL on the real host (down link, virtual)
        attrs["speed"] = str(speed)
    attrs.update(extra or {})
    for k, v in attrs.items():
        write(os.path.join(d, k), v + "\n")
    if master:  # the kernel links to the master's device directory
        symlink(os.path.relpath(os.path.join(root, "sys/devices/virtual/net", master), d), os.path.join(d, "master"))
    return d


def proc_net_dev(root: str, rows: dict[str, tuple[int, ...]]) -> None:
    """rows: name -> 16 counters in /proc/net/dev column order."""
    lines = [PROC_NET_DEV_HEADER]
    for name, v in rows.items():
        assert len(v) == 16, name
        lines.append(f"{name:>6}: " + " ".join(f"{x:>7}" for x in v) + "\n")
    write(os.path.join(root, "proc/net/dev"), "".join(lines))


def counters(rx_bytes: int, rx_packets: int, tx_bytes: int, tx_packets: int, rx_errs=0, rx_drop=0, tx_errs=0, tx_drop=0) -> tuple[int, ...]:
    return (rx_bytes, rx_packets, rx_errs, rx_drop, 0, 0, 0, 0, tx_bytes, tx_packets, tx_errs, tx_drop, 0, 0, 0, 0)


def command(d: str, tool: str, args, out: str, err: str = "", rc: int = 0) -> None:
    base = os.path.join(d, "commands", slug(tool, list(args)))
    write(base + ".out", out)
    if err:
        write(base + ".err", err)
    if rc:
        write(base + ".rc", f"{rc}\n")


def _le(addr: str) -> str:
    return f"{struct.unpack('<I', ipaddress.IPv4Address(addr).packed)[0]:08X}"


def proc_net_route(root: str, rows: list[tuple[str, str, str, int, int, str]]) -> None:
    """rows: (iface, destination, gateway, flags, metric, mask) in dotted quads (net/ipv4/fib_trie.c fib_route_seq_show: little-endian %08X)."""
    out = ["Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT".ljust(127) + "\n"]
    for iface, dest, gw, flags, metric, mask in rows:
        out.append(f"{iface}\t{_le(dest)}\t{_le(gw)}\t{flags:04X}\t0\t0\t{metric}\t{_le(mask)}\t0\t0\t0".ljust(127) + "\n")
    write(os.path.join(root, "proc/net/route"), "".join(out))


def diskstats(root: str, rows: list[tuple[int, int, str, int, int, int, int]]) -> None:
    """rows: (major, minor, name, reads, sectors read, writes, sectors written); 17 counters
    (Linux 5.5+, block/genhd.c diskstats_show)."""
    lines = []
    for major, minor, name, rd, rs, wr, ws in rows:
        # reads merges sectors ms | writes merges sectors ms | inflight io_ms weighted_ms |
        # discards merges sectors ms | flushes ms
        v = [rd, 0, rs, rd // 4, wr, 0, ws, wr // 3, 0, (rd + wr) // 5, (rd // 4) + (wr // 3), 0, 0, 0, 0, 0, 0]
        lines.append(f"{major:4d} {minor:7d} {name} " + " ".join(str(x) for x in v) + "\n")
    write(os.path.join(root, "proc/diskstats"), "".join(lines))
