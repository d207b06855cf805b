"""Bond masters and members from the netlink link dump: IFLA_INFO_DATA (IFLA_BOND_*) and
IFLA_INFO_SLAVE_DATA (IFLA_BOND_SLAVE_*); include/uapi/linux/if_link.h, drivers/net/bonding/bond_netlink.c."""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

from collectors._parse import mac_from_bytes
from collectors.bond_linux.model import (
    AD_SELECTS,
    CHURN_STATES,
    LACP_RATES,
    MEMBER_STATES,
    MII_STATES,
    MODES,
    XMIT_HASH_POLICIES,
    AdInfo,
    Bond,
    BondMember,
)
from exporter.api import ParseError, iter_attrs

# include/uapi/linux/if_link.h: enum IFLA_BOND_*, IFLA_BOND_AD_INFO_*, IFLA_BOND_SLAVE_*
IFLA_BOND_MODE = 1
IFLA_BOND_ACTIVE_SLAVE = 2
IFLA_BOND_MIIMON = 3
IFLA_BOND_ARP_INTERVAL = 7
IFLA_BOND_PRIMARY = 11
IFLA_BOND_XMIT_HASH_POLICY = 14
IFLA_BOND_MIN_LINKS = 18
IFLA_BOND_AD_LACP_RATE = 21
IFLA_BOND_AD_SELECT = 22
IFLA_BOND_AD_INFO = 23
IFLA_BOND_AD_LACP_ACTIVE = 29
IFLA_BOND_AD_INFO_AGGREGATOR = 1
IFLA_BOND_AD_INFO_NUM_PORTS = 2
IFLA_BOND_AD_INFO_ACTOR_KEY = 3
IFLA_BOND_AD_INFO_PARTNER_KEY = 4
IFLA_BOND_AD_INFO_PARTNER_MAC = 5
IFLA_BOND_SLAVE_STATE = 1
IFLA_BOND_SLAVE_MII_STATUS = 2
IFLA_BOND_SLAVE_LINK_FAILURE_COUNT = 3
IFLA_BOND_SLAVE_PERM_HWADDR = 4
IFLA_BOND_SLAVE_QUEUE_ID = 5
IFLA_BOND_SLAVE_AD_AGGREGATOR_ID = 6
IFLA_BOND_SLAVE_AD_ACTOR_OPER_PORT_STATE = 7
IFLA_BOND_SLAVE_AD_PARTNER_OPER_PORT_STATE = 8  # u16 on the wire (bond_netlink.c nla_put_u16)
IFLA_BOND_SLAVE_AD_CHURN_ACTOR_STATE = 11
IFLA_BOND_SLAVE_AD_CHURN_PARTNER_STATE = 12

# ----------------------------------------------------------------------------- netlink


def _u(v: memoryview, fmt: str, source: str, attr: int) -> int:
    size = struct.calcsize(fmt)
    if len(v) < size:
        raise ParseError(source, None, f"attribute {attr}: {len(v)} bytes, expected {size}")
    return struct.unpack_from(fmt, v)[0]


def _name(table: Sequence[str], value: int) -> str:
    return table[value] if 0 <= value < len(table) else str(value)


def decode_bond_info(data: bytes, names: Mapping[int, str] | None = None) -> dict:
    """IFLA_INFO_DATA of a bond master (bond_netlink.c bond_fill_info) -> field dict.
    ``names`` maps ifindex -> name for the active slave and primary."""
    src = "netlink IFLA_INFO_DATA (bond)"
    names = names or {}
    out: dict = {}
    for t, v in iter_attrs(data):
        if t == IFLA_BOND_MODE:
            out["mode"] = _name(MODES, _u(v, "=B", src, t))
        elif t == IFLA_BOND_ACTIVE_SLAVE:
            out["active_slave"] = names.get(_u(v, "=I", src, t), "")
        elif t == IFLA_BOND_PRIMARY:
            out["primary"] = names.get(_u(v, "=I", src, t), "")
        elif t == IFLA_BOND_MIIMON:
            out["miimon_ms"] = _u(v, "=I", src, t)
        elif t == IFLA_BOND_ARP_INTERVAL:
            out["arp_interval_ms"] = _u(v, "=I", src, t)
        elif t == IFLA_BOND_XMIT_HASH_POLICY:
            out["xmit_hash_policy"] = _name(XMIT_HASH_POLICIES, _u(v, "=B", src, t))
        elif t == IFLA_BOND_MIN_LINKS:
            out["min_links"] = _u(v, "=I", src, t)
        elif t == IFLA_BOND_AD_LACP_RATE:
            out["lacp_rate"] = _name(LACP_RATES, _u(v, "=B", src, t))
        elif t == IFLA_BOND_AD_SELECT:
            out["ad_select"] = _name(AD_SELECTS, _u(v, "=B", src, t))
        elif t == IFLA_BOND_AD_LACP_ACTIVE:
            out["lacp_active"] = "on" if _u(v, "=B", src, t) else "off"
        elif t == IFLA_BOND_AD_INFO:
            ad: dict = {}
            for at, av in iter_attrs(v):
                if at == IFLA_BOND_AD_INFO_AGGREGATOR:
                    ad["aggregator_id"] = _u(av, "=H", src, at)
                elif at == IFLA_BOND_AD_INFO_NUM_PORTS:
                    ad["num_ports"] = _u(av, "=H", src, at)
                elif at == IFLA_BOND_AD_INFO_ACTOR_KEY:
                    ad["actor_key"] = _u(av, "=H", src, at)
                elif at == IFLA_BOND_AD_INFO_PARTNER_KEY:
                    ad["partner_key"] = _u(av, "=H", src, at)
                elif at == IFLA_BOND_AD_INFO_PARTNER_MAC:
                    if len(av) != 6:
                        raise ParseError(src, None, f"partner MAC of {len(av)} bytes")
                    ad["partner_mac"] = mac_from_bytes(av)
            out["ad"] = AdInfo(**ad)
    if "mode" not in out:
        raise ParseError(src, None, "no IFLA_BOND_MODE")
    if out["mode"] == "802.3ad" and "ad" not in out:
        # bond_fill_info nests IFLA_BOND_AD_INFO only when bond_3ad_get_active_agg_info()
        # finds an active aggregator, without a capability check: absent means none.
        out["ad"] = AdInfo(aggregator_id=0, num_ports=0)
    return out


def decode_bond_slave(data: bytes) -> dict:
    """IFLA_INFO_SLAVE_DATA of a bond member (bond_netlink.c bond_fill_slave_info)."""
    src = "netlink IFLA_INFO_SLAVE_DATA (bond)"
    out: dict = {}
    for t, v in iter_attrs(data):
        if t == IFLA_BOND_SLAVE_STATE:
            s = _u(v, "=B", src, t)
            out["state"] = MEMBER_STATES[s] if s < len(MEMBER_STATES) else None
        elif t == IFLA_BOND_SLAVE_MII_STATUS:
            s = _u(v, "=B", src, t)
            out["mii_status"] = MII_STATES[s] if s < len(MII_STATES) else None
        elif t == IFLA_BOND_SLAVE_LINK_FAILURE_COUNT:
            out["link_failures"] = _u(v, "=I", src, t)
        elif t == IFLA_BOND_SLAVE_PERM_HWADDR:
            out["perm_hwaddr"] = mac_from_bytes(v)
        elif t == IFLA_BOND_SLAVE_AD_AGGREGATOR_ID:
            out["aggregator_id"] = _u(v, "=H", src, t)
        elif t == IFLA_BOND_SLAVE_AD_ACTOR_OPER_PORT_STATE:
            out["actor_state"] = _u(v, "=B", src, t)
        elif t == IFLA_BOND_SLAVE_AD_PARTNER_OPER_PORT_STATE:
            out["partner_state"] = _u(v, "=H", src, t) & 0xFF
        elif t == IFLA_BOND_SLAVE_AD_CHURN_ACTOR_STATE:
            s = _u(v, "=B", src, t)
            out["actor_churn"] = CHURN_STATES[s] if s < len(CHURN_STATES) else None
        elif t == IFLA_BOND_SLAVE_AD_CHURN_PARTNER_STATE:
            s = _u(v, "=B", src, t)
            out["partner_churn"] = CHURN_STATES[s] if s < len(CHURN_STATES) else None
    return out


def bonds_from_netlink(dump: Sequence[Mapping]) -> list[Bond]:
    names = {m["index"]: m["name"] for m in dump}
    members: dict[int, list[BondMember]] = {}
    for m in dump:
        if m.get("slave_kind") == "bond" and "master" in m:
            members.setdefault(m["master"], []).append(BondMember(name=m["name"], **decode_bond_slave(m.get("slave_data", b""))))
    bonds = []
    for m in dump:
        if m.get("kind") != "bond":
            continue
        fields = decode_bond_info(m.get("info_data", b""), names)
        mem = tuple(sorted(members.get(m["index"], []), key=lambda x: x.name))
        bonds.append(Bond(name=m["name"], source="netlink", members=mem, slaves=tuple(x.name for x in mem), **fields))
    return bonds
