"""/proc/net/bonding/<bond> (bond_procfs.c): parsed by the lines present, never by the driver
version header, and merged into what netlink or sysfs gave."""

from __future__ import annotations

import dataclasses

from collectors import _lacp
from collectors._parse import mac as parse_mac
from collectors._parse import parse_int, split_kv
from collectors.bond_linux.model import CHURN_STATES, PROC_MODES, AdInfo, Bond, BondMember
from collectors.bond_linux.sysfs import mii_status_word
from exporter.api import ParseError

# ----------------------------------------------------------------------------- procfs

PROC_SRC = "/proc/net/bonding"


@dataclasses.dataclass(frozen=True)
class ProcBond:
    """What /proc/net/bonding/<bond> says; every field may be missing."""

    mode: str = ""
    xmit_hash_policy: str = ""
    primary: str = ""
    active_slave: str = ""
    mii_up: bool | None = None
    miimon_ms: int | None = None
    arp_interval_ms: int | None = None
    lacp_active: str = ""
    lacp_rate: str = ""
    min_links: int | None = None
    ad_select: str = ""
    ad: AdInfo | None = None  # None: block absent (unprivileged reader, or not 802.3ad)
    members: tuple[BondMember, ...] = ()


def _ppolicy(v: str) -> str:
    """``layer3+4 (1)`` -> ``layer3+4``."""
    return v.split(" (", 1)[0].strip()


def parse_proc_bonding(text: str, name: str = "bond") -> ProcBond:
    """Parse /proc/net/bonding/<bond> (bond_procfs.c).  Driven by the lines present: old
    drivers lack Speed/Duplex/queue ID/Min links/churn lines, unprivileged readers lack the
    System priority/MAC, Active Aggregator Info and ``details ... lacp pdu`` blocks, and line
    order inside a slave block varies (real-captures.md L-1).  Pasted copies indent with
    blanks instead of TABs: every line is stripped."""
    src = f"{PROC_SRC}/{name}"
    master: dict = {}
    ad: dict | None = None
    no_aggregator = False
    members: list[dict] = []
    cur: dict | None = None
    section = "master"  # master | ad | slave | actor_pdu | partner_pdu
    saw_header = saw_active = False
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("Ethernet Channel Bonding Driver:"):
            saw_header = True
            continue
        if line == "802.3ad info":
            section = "ad"
            continue
        if line == "Active Aggregator Info:":
            ad = {}
            section = "agg"
            continue
        if line.startswith("bond ") and line.endswith("has no active aggregator"):
            no_aggregator = True
            continue
        if line == "details actor lacp pdu:":
            if cur is None:
                raise ParseError(src, lineno, "lacp pdu details outside a slave block")
            section = "actor_pdu"
            continue
        if line == "details partner lacp pdu:":
            if cur is None:
                raise ParseError(src, lineno, "lacp pdu details outside a slave block")
            section = "partner_pdu"
            continue
        if ":" not in line:
            raise ParseError(src, lineno, f"not a 'key: value' line: {line[:60]!r}")
        key, value = split_kv(line)
        if key == "Slave Interface":
            if not value:
                raise ParseError(src, lineno, "slave without a name")
            cur = {"name": value}
            members.append(cur)
            section = "slave"
            continue
        if section in ("actor_pdu", "partner_pdu"):
            if key in ("port state", "port key", "system mac address") and cur is not None:
                side = "actor" if section == "actor_pdu" else "partner"
                if key == "port state":
                    cur[f"{side}_state"] = parse_int(value, src, lineno)
                elif key == "port key":
                    cur[f"{side}_key"] = parse_int(value, src, lineno)
                else:
                    cur[f"{side}_system"] = parse_mac(value, f"{src}:{lineno}")
                continue
            if key in ("system priority", "oper key", "port priority", "port number"):
                parse_int(value, src, lineno)
                continue
            section = "slave"  # a slave line after the pdu block (not printed today)
        if section == "slave" and cur is not None:
            if key == "MII Status":
                cur["mii_status"] = mii_status_word(value, f"{src}:{lineno}")
            elif key == "Link Failure Count":
                cur["link_failures"] = parse_int(value, src, lineno)
            elif key == "Permanent HW addr":
                cur["perm_hwaddr"] = parse_mac(value, f"{src}:{lineno}") or ""
            elif key == "Aggregator ID":
                cur["aggregator_id"] = None if value == "N/A" else parse_int(value, src, lineno)
                cur["_agg_line"] = True  # N/A: printed, the port has no aggregator
            elif key in ("Actor Churn State", "Partner Churn State"):
                if value not in CHURN_STATES:
                    raise ParseError(src, lineno, f"unknown churn state {value[:40]!r}")
                cur["actor_churn" if key.startswith("Actor") else "partner_churn"] = value
            elif key in ("Actor Churned Count", "Partner Churned Count"):
                cur["actor_churned" if key.startswith("Actor") else "partner_churned"] = parse_int(value, src, lineno)
            # Speed, Duplex (from the link table instead), Slave queue ID: not used
            continue
        if section == "agg" and ad is not None:
            if key == "Aggregator ID":
                ad["aggregator_id"] = parse_int(value, src, lineno)
            elif key == "Number of ports":
                ad["num_ports"] = parse_int(value, src, lineno)
            elif key == "Actor Key":
                ad["actor_key"] = parse_int(value, src, lineno)
            elif key == "Partner Key":
                ad["partner_key"] = parse_int(value, src, lineno)
            elif key == "Partner Mac Address":
                ad["partner_mac"] = parse_mac(value, f"{src}:{lineno}")
            continue
        # master and 802.3ad info lines
        if key == "Bonding Mode":
            long = value.split(" (fail_over_mac", 1)[0].strip()  # RHEL 9 appends it
            if long not in PROC_MODES:
                raise ParseError(src, lineno, f"unknown bonding mode {value[:60]!r}")
            master["mode"] = PROC_MODES[long]
        elif key == "Transmit Hash Policy":
            master["xmit_hash_policy"] = _ppolicy(value)
        elif key == "Primary Slave":
            master["primary"] = "" if value == "None" else value.split(" (", 1)[0]
        elif key == "Currently Active Slave":
            master["active_slave"] = "" if value == "None" else value
            saw_active = True
        elif key == "MII Status":
            master["mii_up"] = value == "up"
        elif key == "MII Polling Interval (ms)":
            master["miimon_ms"] = parse_int(value, src, lineno)
        elif key == "ARP Polling Interval (ms)":
            master["arp_interval_ms"] = parse_int(value, src, lineno)
        elif key == "LACP active":
            master["lacp_active"] = value
        elif key == "LACP rate":
            master["lacp_rate"] = value
        elif key == "Min links":
            master["min_links"] = parse_int(value, src, lineno)
        elif key == "Aggregator selection policy (ad_select)":
            master["ad_select"] = value
    if not saw_header or "mode" not in master:
        raise ParseError(src, None, "no bonding driver header or Bonding Mode line")
    if no_aggregator:
        ad = {"aggregator_id": 0, "num_ports": 0}
    if "miimon_ms" in master and "arp_interval_ms" not in master:
        # bond_procfs.c prints the ARP lines only when arp_interval > 0 (and the MII
        # polling line always): no ARP line next to an MII line means ARP monitoring off
        master["arp_interval_ms"] = 0
    adinfo = None if ad is None else AdInfo(**ad)
    mem = []
    for m in members:
        m = dict(m)
        m.pop("partner_key", None)
        m.pop("actor_system", None)
        agg_line = m.pop("_agg_line", False)
        member = BondMember(**m)
        state = proc_member_state(master["mode"], master.get("active_slave", ""), saw_active, adinfo, member, agg_line)
        mem.append(dataclasses.replace(member, state=state))
    return ProcBond(ad=adinfo, members=tuple(mem), **master)


#: modes whose members are all "active" for the kernel: bond_enslave() (bond_main.c) makes a new
#: slave active in balance-rr, balance-xor and broadcast, and bond_set_slave_inactive_flags()
#: (include/net/bonding.h) never sets BOND_STATE_BACKUP in balance-tlb/alb (bond_is_lb());
#: only active-backup and 802.3ad ever mark a slave backup (bond_miimon_commit() included)
_ALL_ACTIVE_MODES = frozenset({"balance-rr", "balance-xor", "broadcast", "balance-tlb", "balance-alb"})


def proc_member_state(mode: str, active_slave: str, has_active_line: bool, ad: AdInfo | None, m: BondMember, agg_line: bool = True) -> str | None:
    """The member's role (sysfs ``bonding_slave/state``, IFLA_BOND_SLAVE_STATE), which
    /proc/net/bonding does not print, derived from what it does print (kernel v6.12):

    * active-backup: ``Currently Active Slave: X`` (bond_procfs.c bond_info_show_master, the
      bond's curr_active_slave) is the one active slave; bond_change_active_slave() puts
      every other slave in BOND_STATE_BACKUP.
    * 802.3ad: a slave is active when bond_3ad.c enabled its port (__enable_port():
      bond_set_slave_active_flags() when the slave's link is up).  That happens to the
      ports of the active aggregator when their mux machine reaches COLLECTING_DISTRIBUTING
      (actor port state bits collecting and distributing), and in ad_agg_selection_logic()
      to every port of an active aggregator without a partner ("if the selected aggregator
      is of join individuals (partner_system is NULL), enable their ports": __agg_has_partner()
      is a non-zero partner MAC).  Ports of other aggregators are disabled (backup).
      Without the root-only Active Aggregator Info the active aggregator is unknown, and
      without a slave's ``Aggregator ID:`` line its aggregator: None.
    * the other modes: every slave active (_ALL_ACTIVE_MODES).
    """
    if mode == "active-backup":
        if not has_active_line:
            return None
        return "active" if active_slave and m.name == active_slave else "backup"
    if mode in _ALL_ACTIVE_MODES:
        return "active"
    if mode != "802.3ad" or ad is None or ad.aggregator_id is None:
        return None
    if ad.aggregator_id == 0:
        return "backup"  # "bond <b> has no active aggregator": no port enabled
    if m.aggregator_id is None and not agg_line:
        return None  # no "Aggregator ID:" line: which aggregator it is in is not printed
    if m.aggregator_id is None or m.aggregator_id != ad.aggregator_id:
        return "backup"
    if m.mii_status is not None and m.mii_status != "up":
        return "backup"  # __enable_port() needs the slave's link up
    if ad.partner_mac == _lacp.ZERO_MAC:
        return "active"  # partner-less active aggregator: ports enabled without LACP
    if m.actor_state is not None:
        return "active" if _lacp.collecting_distributing(m.actor_state) else "backup"
    return None  # kernels without the pdu details: enabled or not is not printed


def merge_proc(bond: Bond | None, proc: ProcBond, name: str) -> Bond:
    """Fill what sysfs/netlink left unknown from /proc/net/bonding."""
    if bond is None:
        lacp = proc.mode == "802.3ad"
        return Bond(
            name=name,
            mode=proc.mode,
            source="procfs",
            xmit_hash_policy=proc.xmit_hash_policy,
            lacp_rate=proc.lacp_rate,
            ad_select=proc.ad_select,
            lacp_active=proc.lacp_active,
            primary=proc.primary,
            active_slave=proc.active_slave,
            min_links=proc.min_links,
            miimon_ms=proc.miimon_ms,
            arp_interval_ms=proc.arp_interval_ms,
            ad=(proc.ad or AdInfo()) if lacp else None,
            # bond_procfs.c prints the active aggregator block only to CAP_NET_ADMIN
            partner_hidden=lacp and proc.ad is None,
            members=proc.members,
            slaves=tuple(m.name for m in proc.members),
        )
    by_name = {m.name: m for m in proc.members}
    members = []
    for m in bond.members:
        p = by_name.get(m.name)
        if p is None:
            members.append(m)
            continue
        fill = {
            f.name: getattr(p, f.name)
            for f in dataclasses.fields(m)
            if getattr(m, f.name) in (None, "") and getattr(p, f.name) not in (None, "")
        }
        members.append(dataclasses.replace(m, **fill))
    ad = bond.ad
    hidden = bond.partner_hidden
    if bond.lacp and proc.ad is not None and (ad is None or ad.partner_mac is None):
        ad = proc.ad
        hidden = False
    return dataclasses.replace(bond, members=tuple(members), ad=ad, partner_hidden=hidden, source=bond.source + "+procfs")


def needs_proc(bond: Bond) -> bool:
    """/proc/net/bonding is the last resort: read it only for what the other sources lack."""
    if any(m.mii_status is None for m in bond.members):
        return True  # no bonding_slave/ directory (kernels before 3.13)
    if not bond.lacp:
        return False
    if any(m.actor_state is None and m.aggregator_id is not None for m in bond.members):
        return True  # kernels without the ad_*_oper_port_state files
    # members in several aggregators: only the root-only pdu lines tell whether they reach
    # different partner systems (cabling to two switches) or none at all
    aggs = {m.aggregator_id for m in bond.members if m.aggregator_id is not None}
    return len(aggs) > 1 and any(m.partner_system is None for m in bond.members)
