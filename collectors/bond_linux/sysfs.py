"""Bonds from /sys/class/net/<bond>/bonding/* (bond_sysfs.c) and the members' bonding_slave/*
(bond_sysfs_slave.c)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from collectors._parse import mac as parse_mac
from collectors._parse import opt_int
from collectors.bond_linux.model import LACP_RATES, MEMBER_STATES, MII_STATES, MODES, XMIT_HASH_POLICIES, AdInfo, Bond, BondMember
from exporter.api import Host, ParseError

# ----------------------------------------------------------------------------- sysfs

# read only what the mode uses: each sysfs read costs, and some take rtnl (research §2.6)
MASTER_COMMON = ("mode", "slaves", "active_slave", "primary", "miimon", "arp_interval", "min_links", "xmit_hash_policy")
MASTER_LACP = ("lacp_rate", "lacp_active", "ad_select", "ad_aggregator", "ad_num_ports", "ad_actor_key", "ad_partner_key", "ad_partner_mac")
MASTER_FILES = MASTER_COMMON + MASTER_LACP
SLAVE_COMMON = ("state", "mii_status", "link_failure_count")  # perm_hwaddr: not exported
SLAVE_LACP = ("ad_aggregator_id", "ad_actor_oper_port_state", "ad_partner_oper_port_state")
SLAVE_FILES = SLAVE_COMMON + SLAVE_LACP


def _choice(text: str | None, source: str, table: Sequence[str] | None = None) -> str:
    """bond_sysfs.c prints enumerated options as ``<name> <value>`` (``802.3ad 4``)."""
    if text is None:
        return ""
    words = text.split()
    if not words:
        return ""
    if len(words) > 2 or (len(words) == 2 and not (words[1].isascii() and words[1].isdigit())):
        raise ParseError(source, 1, f"expected '<name> <number>', got {text.strip()[:40]!r}")
    if table is not None and words[0] not in table:
        raise ParseError(source, 1, f"unknown value {words[0][:40]!r}")
    return words[0]


def _opt_int(text: str | None, source: str, na: bool = False) -> int | None:
    """Decimal file; None when absent or empty (gated); ``N/A`` allowed where sysfs prints it."""
    return opt_int(text, source, 1, ("", "N/A") if na else ("",))


def parse_bond_sysfs(name: str, files: Mapping[str, str | None]) -> Bond:
    """The master's ``bonding/`` files (bond_sysfs.c).  ``files`` maps file name -> content
    or None (absent).  ad_actor_key/ad_partner_key/ad_partner_mac print nothing without
    CAP_NET_ADMIN; ad_aggregator/ad_num_ports are not gated and print 0 with no aggregator."""
    base = f"/sys/class/net/{name}/bonding"
    mode = _choice(files.get("mode"), f"{base}/mode", MODES)
    if not mode:
        raise ParseError(f"{base}/mode", 1, "empty")
    ad = None
    hidden = False
    if mode == "802.3ad":
        agg = _opt_int(files.get("ad_aggregator"), f"{base}/ad_aggregator")
        mac = parse_mac(files.get("ad_partner_mac"), f"{base}/ad_partner_mac")
        ad = AdInfo(
            aggregator_id=agg,
            num_ports=_opt_int(files.get("ad_num_ports"), f"{base}/ad_num_ports"),
            actor_key=_opt_int(files.get("ad_actor_key"), f"{base}/ad_actor_key"),
            partner_key=_opt_int(files.get("ad_partner_key"), f"{base}/ad_partner_key"),
            partner_mac=mac,
        )
        # With an active aggregator the partner MAC is always printed to a privileged reader
        # (zeros when there is no partner): empty means the reader lacks CAP_NET_ADMIN.
        hidden = bool(agg) and mac is None
    slaves = tuple((files.get("slaves") or "").split())
    return Bond(
        name=name,
        mode=mode,
        source="sysfs",
        xmit_hash_policy=_choice(files.get("xmit_hash_policy"), f"{base}/xmit_hash_policy", XMIT_HASH_POLICIES),
        lacp_rate=_choice(files.get("lacp_rate"), f"{base}/lacp_rate", LACP_RATES),
        lacp_active=_choice(files.get("lacp_active"), f"{base}/lacp_active", ("off", "on")),
        ad_select=_choice(files.get("ad_select"), f"{base}/ad_select"),
        primary=(files.get("primary") or "").strip(),
        active_slave=(files.get("active_slave") or "").strip(),
        min_links=_opt_int(files.get("min_links"), f"{base}/min_links"),
        miimon_ms=_opt_int(files.get("miimon"), f"{base}/miimon"),
        arp_interval_ms=_opt_int(files.get("arp_interval"), f"{base}/arp_interval"),
        ad=ad,
        partner_hidden=hidden,
        slaves=slaves,
    )


def mii_status_word(text: str, source: str) -> str:
    t = text.strip().replace(" ", "_")
    if t not in MII_STATES:
        raise ParseError(source, 1, f"unknown MII status {text.strip()[:40]!r}")
    return t


def parse_slave_sysfs(name: str, files: Mapping[str, str | None], source: str) -> BondMember | None:
    """One member's ``bonding_slave/`` files (bond_sysfs_slave.c); None when the directory
    is absent (kernels before 3.13, or the member left the bond)."""
    mii = files.get("mii_status")
    if mii is None:
        return None
    state = (files.get("state") or "").strip()
    return BondMember(
        name=name,
        mii_status=mii_status_word(mii, f"{source}/mii_status"),
        # "UNKNOWN" (and the old misspelling "UNKONWN") means neither role
        state=state if state in MEMBER_STATES else None,
        link_failures=_opt_int(files.get("link_failure_count"), f"{source}/link_failure_count"),
        perm_hwaddr=parse_mac(files.get("perm_hwaddr"), f"{source}/perm_hwaddr") or "",
        aggregator_id=_opt_int(files.get("ad_aggregator_id"), f"{source}/ad_aggregator_id", na=True),
        actor_state=_opt_int(files.get("ad_actor_oper_port_state"), f"{source}/ad_actor_oper_port_state", na=True),
        partner_state=_opt_int(files.get("ad_partner_oper_port_state"), f"{source}/ad_partner_oper_port_state", na=True),
    )


def read_bond_sysfs(host: Host, name: str) -> Bond | None:
    base = f"/sys/class/net/{name}/bonding"
    mode = host.read_optional(f"{base}/mode")
    if mode is None:  # no bonding/ directory (vanished, or procfs-only kernel)
        return None
    lacp = _choice(mode, f"{base}/mode", MODES) == "802.3ad"
    names = [f for f in (MASTER_FILES if lacp else MASTER_COMMON) if f != "mode"]
    files = dict(zip(names, host.read_many([f"{base}/{f}" for f in names])))
    files["mode"] = mode
    bond = parse_bond_sysfs(name, files)
    members = []
    for slave in bond.slaves:
        member = None
        # the member's own directory, else the master's links to it (lower_<m> since 3.13,
        # slave_<m> before: node_exporter's bonding_linux.go reads both)
        for d in (f"/sys/class/net/{slave}", f"/sys/class/net/{name}/lower_{slave}", f"/sys/class/net/{name}/slave_{slave}"):
            src = f"{d}/bonding_slave"
            status = host.read_optional(f"{src}/mii_status")
            if status is None:
                continue
            snames = [f for f in (SLAVE_FILES if lacp else SLAVE_COMMON) if f != "mii_status"]
            sfiles = dict(zip(snames, host.read_many([f"{src}/{f}" for f in snames])))
            sfiles["mii_status"] = status
            member = parse_slave_sysfs(slave, sfiles, src)
            break
        members.append(member or BondMember(name=slave))
    return dataclasses.replace(bond, members=tuple(members))
