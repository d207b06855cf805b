"""Parsers of the Linux link collector and the netlink decoder, by table."""

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.link_linux import NetDevCounters, _speed, parse_proc_net_dev, parse_uevent
from exporter import netlink
from exporter.api import ParseError

# /proc/net/dev as the kernel prints it (net/core/net-procfs.c dev_seq_show): two header
# lines, name right-aligned to 6 with a colon, 16 counters.  A 13-digit rx byte count
# touches the colon ("ens1f0:812345678901").
PROC_NET_DEV = """\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:   91238    1022    0    0    0     0          0         0    91238    1022    0    0    0     0       0          0
ens1f0:8123456789012 98765432    3   12    0     0          0     17 401234567890 51234567    0    0    0     0       0          0
  eth0: 1000 10 1 2 3 4 5 6 2000 20 7 8 9 10 11 12
"""


def test_proc_net_dev_columns():
    got = parse_proc_net_dev(PROC_NET_DEV)
    assert list(got) == ["lo", "ens1f0", "eth0"]
    assert got["ens1f0"] == NetDevCounters(8123456789012, 98765432, 3, 12, 401234567890, 51234567, 0, 0)
    # rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes packets errs drop ...
    assert got["eth0"] == NetDevCounters(1000, 10, 1, 2, 2000, 20, 7, 8)


@pytest.mark.parametrize(
    "text",
    [
        PROC_NET_DEV.replace("0          0\n  eth0", "0\n  eth0"),  # a row with too few columns
        PROC_NET_DEV + "  eth1: 1 2 3 x 5 6 7 8 9 10 11 12 13 14 15 16\n",
        PROC_NET_DEV + "garbage without colon\n",
    ],
)
def test_proc_net_dev_rejects_bad_rows(text):
    with pytest.raises(ParseError) as e:
        parse_proc_net_dev(text)
    assert "/proc/net/dev" in str(e.value)


def test_proc_net_dev_header_only_and_empty():
    assert parse_proc_net_dev(PROC_NET_DEV.split("\n    lo")[0] + "\n") == {}
    assert parse_proc_net_dev("") == {}


@given(st.text(max_size=400))
@settings(max_examples=300)
def test_proc_net_dev_never_raises_other_errors(text):
    try:
        parse_proc_net_dev(text)
    except ParseError:
        pass


@pytest.mark.parametrize(
    "raw,want",
    [("10000\n", 1_250_000_000), ("1000", 125_000_000), ("-1\n", None), ("4294967295", None), ("0", None), ("", None), (None, None), ("fast", None)],
)
def test_speed_mbit_to_bytes(raw, want):
    # Documentation/ABI/testing/sysfs-class-net: speed in Mb/s; -1 (SPEED_UNKNOWN) when down
    assert _speed(raw) == want


def test_uevent():
    assert parse_uevent("DEVTYPE=bond\nINTERFACE=bond0\nIFINDEX=7\n") == {"DEVTYPE": "bond", "INTERFACE": "bond0", "IFINDEX": "7"}


# ---------------------------------------------------------------- netlink decoding


def nla(atype: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, atype) + payload + b"\0" * ((4 - length % 4) % 4)


def newlink(index: int, flags: int, *attrs: bytes, msg_flags: int = 2) -> bytes:
    body = struct.pack("=BxHiII", 0, 1, index, flags, 0) + b"".join(attrs)
    return struct.pack("=IHHII", 16 + len(body), netlink.RTM_NEWLINK, msg_flags, 1, 0) + body


DONE = struct.pack("=IHHII", 20, netlink.NLMSG_DONE, 2, 1, 0) + struct.pack("=i", 0)


def test_decode_link_attributes():
    stats = struct.pack("=24Q", *range(1, 25))  # rtnl_link_stats64 field order
    msg = newlink(
        7,
        0x1043,  # IFF_UP | IFF_RUNNING | ...
        nla(netlink.IFLA_IFNAME, b"bond0\0"),
        nla(netlink.IFLA_MTU, struct.pack("=I", 9000)),
        nla(netlink.IFLA_OPERSTATE, bytes([6])),
        nla(netlink.IFLA_CARRIER, bytes([1])),
        nla(netlink.IFLA_CARRIER_CHANGES, struct.pack("=I", 4)),
        nla(netlink.IFLA_MASTER, struct.pack("=I", 3)),
        nla(netlink.IFLA_ADDRESS, bytes.fromhex("a0369f112230")),
        nla(netlink.IFLA_STATS64, stats),
        nla(netlink.IFLA_LINKINFO, nla(netlink.IFLA_INFO_KIND, b"bond\0") + nla(netlink.IFLA_INFO_DATA, nla(1, bytes([4])))),
    )
    links, done = netlink.decode_dump([msg + DONE])
    assert done
    (link,) = links
    assert link["name"] == "bond0" and link["index"] == 7 and link["admin_up"]
    assert link["mtu"] == 9000 and link["operstate"] == "up" and link["carrier"] == 1
    assert link["carrier_changes"] == 4 and link["master"] == 3
    assert link["mac"] == "a0:36:9f:11:22:30"
    assert link["kind"] == "bond" and netlink.attrs(link["info_data"]) == {1: bytes([4])}
    assert link["stats"]["rx_packets"] == 1 and link["stats"]["tx_bytes"] == 4
    assert link["stats"]["rx_missed_errors"] == 16 and link["stats"]["rx_nohandler"] == 24


def test_decode_tolerates_old_kernels_and_truncation():
    # a kernel without rx_nohandler sends 23 fields; a truncated link message is skipped
    short = newlink(2, 0, nla(netlink.IFLA_IFNAME, b"eth0\0"), nla(netlink.IFLA_STATS64, struct.pack("=23Q", *range(23))))
    truncated = struct.pack("=IHHII", 20, netlink.RTM_NEWLINK, 2, 1, 0) + b"\0\0\0\0"
    links, done = netlink.decode_dump([short + truncated + DONE])
    assert [link["name"] for link in links] == ["eth0"] and "rx_nohandler" not in links[0]["stats"]


def test_decode_error_message():
    err = struct.pack("=IHHII", 20, netlink.NLMSG_ERROR, 0, 1, 0) + struct.pack("=i", -1)
    with pytest.raises(netlink.NetlinkError):
        netlink.decode_dump([err])


def test_dump_flags():
    intr = newlink(1, 0, nla(netlink.IFLA_IFNAME, b"lo\0"), msg_flags=2 | netlink.NLM_F_DUMP_INTR)
    assert netlink.interrupted(newlink(2, 0) + intr) and not netlink.interrupted(newlink(2, 0))
    assert netlink.is_done(DONE) and not netlink.is_done(intr)


@given(st.binary(max_size=600))
@settings(max_examples=400)
def test_decoder_never_crashes(data):
    try:
        netlink.decode_dump([data])
    except netlink.NetlinkError:
        pass


class _Sysfs:
    """/sys/class/net as a dict, recording every file read."""

    platform = "linux"
    live = False

    def __init__(self, files: dict[str, str]):
        self.files = files
        self.read: list[str] = []

    def read_many(self, paths):
        self.read.extend(paths)
        return [self.files.get(p) for p in paths]

    def read_optional(self, path):
        return self.read_many([path])[0]

    def read_text(self, path):
        if path not in self.files:
            raise FileNotFoundError(path)
        return self.read_many([path])[0]

    def list_optional(self, path):
        pre = path.rstrip("/") + "/"
        return sorted({p[len(pre) :].split("/")[0] for p in self.files if p.startswith(pre)})

    def readlink(self, path):
        raise FileNotFoundError(path)

    def exists(self, path):
        pre = path.rstrip("/") + "/"
        return path in self.files or any(p.startswith(pre) for p in self.files)


def _nic(name: str, operstate: str, flags: str, carrier: str | None) -> dict[str, str]:
    # net/core/net-sysfs.c: operstate as a word, flags as 0x%x, carrier 0/1 (EINVAL while
    # the device is down: absent here)
    base = f"/sys/class/net/{name}"
    f = {f"{base}/operstate": operstate + "\n", f"{base}/flags": flags + "\n", f"{base}/uevent": f"INTERFACE={name}\nIFINDEX=7\n",
         f"{base}/address": "52:54:00:12:34:56\n", f"{base}/speed": "10000\n", f"{base}/mtu": "9000\n", f"{base}/carrier_changes": "3\n"}  # fmt: skip
    if carrier is not None:
        f[f"{base}/carrier"] = carrier + "\n"
    return f


def test_sysfs_links_read_flags_and_carrier_only_where_operstate_leaves_them_open():
    """operstate "up" is IFF_UP with carrier (net/core/link_watch.c rfc2863_policy): its
    flags and carrier are not read; "down" reads flags (admin down or no carrier), "unknown"
    (lo, tunnels) reads flags and carrier."""
    from collectors.link_linux import read_links_sysfs

    files = {"/proc/net/dev": PROC_NET_DEV}
    files.update(_nic("ens1f0", "up", "0x1003", "1"))  # IFF_UP|IFF_BROADCAST|IFF_MULTICAST
    files.update(_nic("eth0", "down", "0x1002", None))  # administratively down
    files.update(_nic("ens2f0", "down", "0x1003", "0"))  # up, no cable
    files.update(_nic("lo", "unknown", "0x9", "1"))  # IFF_UP|IFF_LOOPBACK
    files.update(_nic("tun0", "unknown", "0x1091", "0"))  # up, carrier off
    host = _Sysfs(files)
    links = read_links_sysfs(host)
    got = {n: (link.operstate, link.admin_up, link.up, link.kind) for n, link in links.items()}
    assert got == {
        "ens1f0": ("up", True, True, ""),
        "eth0": ("down", False, False, ""),
        "ens2f0": ("down", True, False, ""),
        "lo": ("unknown", True, True, "loopback"),
        "tun0": ("unknown", True, False, ""),
    }
    assert "/sys/class/net/ens1f0/flags" not in host.read and "/sys/class/net/ens1f0/carrier" not in host.read
    assert {"/sys/class/net/eth0/flags", "/sys/class/net/ens2f0/flags", "/sys/class/net/lo/flags", "/sys/class/net/tun0/flags"} <= set(host.read)
    assert {p for p in host.read if p.endswith("/carrier")} == {"/sys/class/net/lo/carrier", "/sys/class/net/tun0/carrier"}
