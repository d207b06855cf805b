"""Support bundles: --record --record.scrub replaces identifiers consistently."""

import ipaddress
import os
import re
import struct

from helpers import SCENARIOS, lanes, normalize

from collectors import bond_linux
from exporter.host import RecordingHost, SnapshotHost, load_netlink_dump
from exporter.scrub import Scrubber, drop_secrets


def test_kinds_and_consistency():
    s = Scrubber(["tank-a.example.com", "tank-a"])
    text = (
        "InitiatorName=iqn.1993-08.org.debian:01:2a8f4c5d6e7f\n"
        "target iqn.2010-09.org.example:tank-a.vol1 at 10.20.30.40:3260,1 via fe80::a236:9fff:fe11:2230%ens1f0\n"
        "mac a0:36:9F:11:22:30 and again a0:36:9f:11:22:30, escaped a0\\:36\\:9f\\:11\\:22\\:30, illumos 0:14:4f:9b:d9:e2\n"
        "host tank-a.example.com is tank-a; subsys nqn.2014-08.com.example:nvme:tank nqn.2014-08.org.nvmexpress.discovery\n"
        "keep 127.0.0.1 0.0.0.0 255.255.255.0 ::1 00:00:00:00:00:00 12:30:00 version 6.1.0 std::string 2001:db8::5\n"
    )
    out = s(text)
    for secret in ("2a8f4c5d6e7f", "org.example", "10.20.30.40", "a236:9fff", "a0:36", "a0\\:36", "0:14:4f", "tank-a", "com.example"):
        assert secret not in out, secret
    # same input, same placeholder: both spellings of one MAC map to one value
    assert out.count("02:00:00:00:00:01") == 2 and "02\\:00\\:00\\:00\\:00\\:01" in out
    v4 = re.search(r"at (\S+):3260,1", out).group(1)
    assert ipaddress.IPv4Address(v4) in ipaddress.IPv4Network("240.0.0.0/4")
    ll = re.search(r"via (\S+)%ens1f0", out).group(1)
    assert ipaddress.IPv6Address(ll) in ipaddress.IPv6Network("fe80::/64") and ll != "fe80::a236:9fff:fe11:2230"
    fqdn, short = re.search(r"host (host-\d+) is (host-\d+);", out).groups()
    assert fqdn != short  # FQDN and short name are different inputs
    for kept in ("127.0.0.1", "0.0.0.0", "255.255.255.0", "::1", "00:00:00:00:00:00", "12:30:00", "6.1.0", "std::string", "2001:db8::5", "nqn.2014-08.org.nvmexpress.discovery"):
        assert kept in out, kept
    assert s(text) == out  # stable for the life of the scrubber


def test_record_scrub_end_to_end(tmp_path):
    scen = os.path.join(SCENARIOS, "linux-declared-mpio")
    cfg = os.path.join(scen, "config.yml")
    snap = tmp_path / "bundle"
    r = lanes("--record", str(snap), "--record.scrub", "--path.rootfs", os.path.join(scen, "root"), "--config.file", cfg,
              "--collector.disable-defaults", "--collector.link", "--collector.groups")
    assert r.returncode == 0, r.stderr
    originals = ("a0:36:9f:11:22:30", "a0:36:9f:11:22:40", "3c:ec:ef:00:10:01")
    for dirpath, dirnames, filenames in os.walk(snap):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            assert not any(o in name for o in originals)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, errors="replace") as f:
                    content = f.read()
                assert not any(o in content for o in originals), path
    scrubbed = normalize(lanes("--snapshot", str(snap), "--config.file", cfg, "--once").stdout)
    original = normalize(lanes("--snapshot", scen, "--config.file", cfg, "--once").stdout)
    # the topology survives: same series and values, only the MAC labels differ
    assert scrubbed.count("\n") == original.count("\n")
    strip = lambda t: "\n".join(line for line in t.splitlines() if "mac=" not in line)  # noqa: E731
    assert strip(scrubbed) == strip(original)
    assert 'mac="02:00:00:00:00:0' in scrubbed


def test_scrub_needs_record():
    r = lanes("--once", "--record.scrub")
    assert r.returncode == 2 and "needs --record" in r.stderr


def test_addresses_keep_their_prefixes_so_routes_match_the_same_hosts():
    s = Scrubber(key=b"x" * 16)
    nets = ["192.168.10.0/24", "192.168.20.0/24", "10.20.0.0/16", "10.20.128.0/23", "fd6c:616e:6573:10::/64", "2a01:4f8:1:2::/64"]
    hosts = ["192.168.10.20", "192.168.20.20", "192.168.10.1", "10.20.5.7", "10.20.129.9", "10.21.0.1",
             "fd6c:616e:6573:10::2", "2a01:4f8:1:2::5", "2a01:4f8:1:3::5"]  # fmt: skip
    for net in nets:
        n = ipaddress.ip_network(net)
        new_net = ipaddress.ip_network(s(net))  # a network stays a network (host bits zero)
        assert new_net.prefixlen == n.prefixlen
        for h in hosts:
            ip = ipaddress.ip_address(h)
            if ip.version == n.version:
                assert (ip in n) == (ipaddress.ip_address(s(h)) in new_net), (net, h)
    assert len({s(h) for h in hosts}) == len(hosts)  # one placeholder per address


def test_route_tables_in_hex_use_the_same_mapping():
    s = Scrubber(key=b"y" * 16)
    route = (
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "ens2f0\t0014A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "eno1\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    )
    out = s.file("/proc/net/route", route).splitlines()
    dest, gw, mask = out[1].split("\t")[1], out[2].split("\t")[2], out[1].split("\t")[7]
    le = lambda h: ipaddress.IPv4Address(int(h, 16).to_bytes(4, "little"))  # noqa: E731
    assert mask == "00FFFFFF" and out[2].split("\t")[1] == "00000000"  # the default route stays default
    assert ipaddress.IPv4Address(s("192.168.20.20")) in ipaddress.IPv4Network(f"{le(dest)}/24")
    assert str(le(gw)) == s("192.168.0.1")
    v6 = "fd6c616e657300100000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001   ens1f0\n"
    dest6 = s.file("/proc/net/ipv6_route", v6).split()[0]
    net6 = ipaddress.IPv6Network((ipaddress.IPv6Address(bytes.fromhex(dest6)), 64))
    assert ipaddress.IPv6Address(s("fd6c:616e:6573:10::2")) in net6
    inet6 = "fd6c616e657300100000000000000001 03 40 00 80   ens1f0\n"
    got = ipaddress.IPv6Address(bytes.fromhex(s.file("/proc/net/if_inet6", inet6).split()[0]))
    assert got == ipaddress.IPv6Address(s("fd6c:616e:6573:10::1"))


def test_illumos_parseable_lines_keep_their_fields():
    s = Scrubber(key=b"z" * 16)
    line = "igb0:multicast:fe80\\:\\:21b\\:21ff\\:feaa\\:bb12:fe80\\:\\:1 fe80\\:\\:2\n"
    mac = "aggr0:ixgbe0:10000Mb:full:up:0\\:1b\\:21\\:aa\\:bb\\:10:attached\n"
    for text, fields in ((line, 4), (mac, 7)):
        out = s(text)
        assert len(re.split(r"(?<!\\):", out.strip())) == fields, out
        assert out != text
    assert "02\\:00\\:00\\:00\\:00\\:01" in s(mac)


def test_identifiers_keep_their_shape_and_spelling():
    s = Scrubber(key=b"w" * 16)
    out = s(
        "wwpn 21:00:00:24:ff:4d:1a:2c 0x21000024ff4d1a2c w21000024ff4d1a2c\n"
        "Logical Unit:  /dev/rdsk/c0t5000C500562A02E3d0s2\n  Name:  5000c500562a02e3\n  Target Port Name:  5000097350088444\n"
        "/scsi_vhci/disk@g600a0b8000492c63000005fd49e8305b 3600a0b8000492c63000005fd49e8305b naa.600a0b8000492c63000005fd49e8305b\n"
        "uuid 4c4c4544-0042-3510-8057-b7c04f4d3232\nSerial Number: RFC0832S61065\nrlastupdate\t8731552401023390\n"
    )
    for gone in ("21000024ff4d1a2c", "5000c500562a02e3", "5000C500562A02E3", "5000097350088444", "600a0b8000492c63000005fd49e8305b", "4c4c4544", "RFC0832S61065"):
        assert gone not in out.replace(":", "") and gone not in out, gone
    assert "8731552401023390" in out  # an all-digit counter is no identifier
    wwpn = re.search(r"wwpn (\S+) 0x(\S+) w(\S+)", out).groups()
    assert wwpn[0].replace(":", "") == wwpn[1] == wwpn[2] and len(wwpn[1]) == 16  # one WWPN, three spellings
    ctd = re.search(r"c0t([0-9A-F]{16})d0s2", out).group(1)
    assert ctd.lower() == re.search(r"Name:  ([0-9a-f]{16})", out).group(1)  # the same disk in both cases
    vhci, wwid, naa = re.search(r"@g(\w+) (\w+) naa\.(\w+)", out).groups()
    assert vhci == naa == wwid[1:] and wwid[0] == "3" and len(naa) == 32 and naa[0] == "6"
    assert re.search(r"uuid [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}", out)
    assert re.search(r"^Serial Number: SN\d{11}$", out, re.M)


def test_chap_secrets_are_never_copied():
    text = (
        "node.name = iqn.2003-01.org.linux-iscsi.stor-a.x8664:sn.5b2e0c3a1f77\n"
        "node.session.auth.authmethod = CHAP\n"
        "node.session.auth.username = initiator-user\nnode.session.auth.password = Sup3rS3cret\n"
        "node.session.auth.username_in = target-user\nnode.session.auth.password_in = MutualS3cret\n"
        "discovery.sendtargets.auth.password = DiscS3cret\n"
        "\ttargetchapuser:     \ttank-chap\n\ttargetchapsecret:   \tunset\n"
        "node.session.auth.password = <empty>\n"
    )
    out = drop_secrets(text)
    for secret in ("Sup3rS3cret", "MutualS3cret", "DiscS3cret", "initiator-user", "target-user", "tank-chap"):
        assert secret not in out
    assert "node.session.auth.authmethod = CHAP" in out and "targetchapsecret:   \tunset" in out and "node.name" in out


def _nla(t, payload):
    return struct.pack("=HH", 4 + len(payload), t) + payload + b"\0" * (-(4 + len(payload)) % 4)


def test_netlink_dump_is_recorded_scrubbed_and_replayed(tmp_path):
    partner = bytes.fromhex("3cc78643acf1")
    perm = bytes.fromhex("a0369f112230")
    arp_target = _nla(8 | 0x8000, _nla(0, bytes([10, 20, 30, 40])))  # IFLA_BOND_ARP_IP_TARGET
    ad_info = _nla(23 | 0x8000, _nla(1, struct.pack("=H", 1)) + _nla(5, partner))
    dump = [
        {"index": 2, "name": "ens1f0", "slave_kind": "bond", "master": 5, "mac": "a0:36:9f:11:22:30",
         "slave_data": _nla(1, b"\x00") + _nla(4, perm), "stats": {"rx_bytes": 1}},
        {"index": 5, "name": "bond0", "kind": "bond", "mac": "a0:36:9f:11:22:30", "info_data": _nla(1, b"\x04") + arp_target + ad_info},
        {"index": 6, "name": "veth0", "kind": "veth", "mac": "3c:ec:ef:00:10:01", "info_data": _nla(1, struct.pack("=I", 7))},
    ]  # fmt: skip

    class Inner(SnapshotHost):
        def netlink_links(self):
            return [dict(d) for d in dump]

    s = Scrubber(key=b"v" * 16)
    rec = RecordingHost(Inner(os.path.join(SCENARIOS, "linux-declared-mpio")), str(tmp_path / "b"), s)
    assert rec.netlink_links() == dump  # lanes itself sees the live dump
    with open(tmp_path / "b" / "netlink" / "links.json") as f:
        raw = f.read()
    for gone in ("a0:36:9f:11:22:30", "3cc78643acf1", "a0369f112230", "3c:ec:ef:00:10:01", "0a141e28"):
        assert gone not in raw
    links = {link["name"]: link for link in load_netlink_dump(str(tmp_path / "b" / "netlink" / "links.json"))}
    assert links["veth0"]["kind"] == "veth" and "info_data" not in links["veth0"]  # only bonds keep raw data
    (bond,) = bond_linux.bonds_from_netlink(list(links.values()))
    assert bond.ad.partner_mac == s("3c:c7:86:43:ac:f1") and bond.members[0].perm_hwaddr == s("a0:36:9f:11:22:30")
    assert links["ens1f0"]["mac"] == s("a0:36:9f:11:22:30") and links["ens1f0"]["stats"] == {"rx_bytes": 1}
    assert load_netlink_dump(str(tmp_path / "nothing.json")) is None
