"""Which bond member a TCP flow leaves by: the kernel's ``bond_xmit_hash()``, recomputed.

Source: Linux drivers/net/bonding/bond_main.c, mainline v6.6 and later (functions
``__bond_xmit_hash``, ``bond_eth_hash``, ``bond_ip_hash``, ``bond_vlan_srcmac_hash``,
``bond_xmit_3ad_xor_slave_get``), and Documentation/networking/bonding.rst
("xmit_hash_policy").  Facts used, not code:

* ``layer2``: ``h_dest[5] ^ h_source[5] ^ be16_to_cpu(h_proto)`` (last octet of each MAC,
  the EtherType as a number: 0x0800 IPv4, 0x86dd IPv6).  Before v6.4 the EtherType entered
  in network byte order as read on the host (0x0008 on little-endian machines); the
  ``legacy_proto`` switch reproduces that.
* ``layer2+3`` / ``encap2+3``: that layer-2 value, then the layer-3 fold below.
* ``layer3+4`` / ``encap3+4``: the TCP ports, as the 32-bit word ``memcpy(&hash,
  &flow.ports.ports, 4)`` reads from (source port, destination port) in network order
  on the host, then the layer-3 fold.
* the layer-3 fold (``bond_ip_hash``): ``hash ^= dst ^ src`` with each address as the
  32-bit word(s) the host reads (IPv6: ``ipv6_addr_hash``, the XOR of its four words),
  ``hash ^= hash >> 16; hash ^= hash >> 8``; for layer3+4 and encap3+4 the lowest bit is
  then discarded (``hash >> 1``; since v5.17 only for these two, earlier for all).
* ``vlan+srcmac`` (v5.12+): ``vlan ^ (first 3 octets of the source MAC as a number) ^
  (last 3 octets)``.
* the member: ``usable_slaves[hash % count]`` (balance-xor and 802.3ad), the usable
  members in the bond's order (``/sys/class/net/<bond>/bonding/slaves``; for 802.3ad the
  members of the active aggregator).

Flows a host sends itself with ``encap3+4`` use the socket's random ``skb->hash`` (the
kernel returns it when ``skb->l4_hash`` is set), so no member can be computed for them:
``member_index`` returns None.  The "host" byte order is the machine's that transmits;
lanes assumes the one it runs on (``sys.byteorder``), which is right when it reads its own
host.
"""

from __future__ import annotations

import ipaddress
import sys

POLICIES = ("layer2", "layer2+3", "layer3+4", "encap2+3", "encap3+4", "vlan+srcmac")
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD


def _mac(mac: str) -> bytes:
    parts = mac.split(":")
    if len(parts) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return bytes(int(p, 16) for p in parts)


def _addr_word(addr: str, byteorder: str) -> int:
    """The 32-bit value the kernel XORs for one address (flow_get_u32_src/dst)."""
    packed = ipaddress.ip_address(addr).packed
    word = 0
    for i in range(0, len(packed), 4):  # IPv6: ipv6_addr_hash, the four words XORed
        word ^= int.from_bytes(packed[i : i + 4], byteorder)
    return word


def _ports_word(sport: int, dport: int, byteorder: str) -> int:
    return int.from_bytes(sport.to_bytes(2, "big") + dport.to_bytes(2, "big"), byteorder)


def eth_hash(src_mac: str, dst_mac: str, ethertype: int, *, legacy_proto: bool = False, byteorder: str | None = None) -> int:
    byteorder = byteorder or sys.byteorder
    proto = int.from_bytes(ethertype.to_bytes(2, "big"), byteorder) if legacy_proto else ethertype
    return _mac(dst_mac)[5] ^ _mac(src_mac)[5] ^ proto


def ip_hash(hash_: int, src: str, dst: str, policy: str, *, byteorder: str | None = None) -> int:
    byteorder = byteorder or sys.byteorder
    h = (hash_ ^ _addr_word(dst, byteorder) ^ _addr_word(src, byteorder)) & 0xFFFFFFFF
    h ^= h >> 16
    h ^= h >> 8
    if policy in ("layer3+4", "encap3+4"):
        return h >> 1
    return h


def xmit_hash(
    policy: str,
    *,
    src: str,
    dst: str,
    sport: int = 0,
    dport: int = 0,
    src_mac: str | None = None,
    dst_mac: str | None = None,
    vlan: int = 0,
    legacy_proto: bool = False,
    byteorder: str | None = None,
) -> int | None:
    """``bond_xmit_hash()`` for one TCP segment of a flow (local ``src``:``sport`` to
    ``dst``:``dport``); None when the kernel's value depends on what lanes cannot know
    (a MAC not given, the random socket hash of encap3+4)."""
    byteorder = byteorder or sys.byteorder
    if policy == "vlan+srcmac":
        if src_mac is None:
            return None
        m = _mac(src_mac)
        return vlan ^ int.from_bytes(m[:3], "big") ^ int.from_bytes(m[3:], "big")
    ethertype = ETH_P_IPV6 if ipaddress.ip_address(src).version == 6 else ETH_P_IP
    if policy in ("layer2", "layer2+3", "encap2+3"):
        if src_mac is None or dst_mac is None:
            return None
        h = eth_hash(src_mac, dst_mac, ethertype, legacy_proto=legacy_proto, byteorder=byteorder)
        if policy == "layer2":
            return h
        return ip_hash(h, src, dst, policy, byteorder=byteorder)
    if policy == "layer3+4":
        return ip_hash(_ports_word(sport, dport, byteorder), src, dst, policy, byteorder=byteorder)
    if policy == "encap3+4":
        return None  # locally sent TCP: skb->l4_hash is set, the socket's random hash wins
    raise ValueError(f"unknown xmit_hash_policy {policy!r}")


def member_index(policy: str, count: int, **flow) -> int | None:
    """Index into the bond's usable members (``hash % count``), or None if unknown."""
    if count <= 0:
        return None
    h = xmit_hash(policy, **flow)
    return None if h is None else h % count
