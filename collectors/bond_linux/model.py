"""Linux bonding model: modes and states as the driver names them, and the frozen Bond,
BondMember and AdInfo every source fills (drivers/net/bonding/bond_options.c, bond_3ad.h)."""

from __future__ import annotations

from exporter.api import record

# ----------------------------------------------------------------------------- constants

# include/uapi/linux/if_bonding.h BOND_MODE_*; names as bond_options.c bond_mode_tbl prints them
MODES = ("balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb")
# Bonding Mode: line of /proc/net/bonding (bond_main.c bond_mode_name())
PROC_MODES = {
    "load balancing (round-robin)": "balance-rr",
    "fault-tolerance (active-backup)": "active-backup",
    "load balancing (xor)": "balance-xor",
    "fault-tolerance (broadcast)": "broadcast",
    "IEEE 802.3ad Dynamic link aggregation": "802.3ad",
    "transmit load balancing": "balance-tlb",
    "adaptive load balancing": "balance-alb",
}
# if_bonding.h BOND_XMIT_POLICY_*, bond_options.c xmit_hashtype_tbl
HASHING_MODES = frozenset({"balance-xor", "802.3ad", "balance-tlb", "balance-alb"})
XMIT_HASH_POLICIES = ("layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4", "vlan+srcmac")
LACP_RATES = ("slow", "fast")  # bond_options.c bond_lacp_tbl
AD_SELECTS = ("stable", "bandwidth", "count", "actor_port_prio")  # bond_options.c ad_select_tbl
# if_bonding.h BOND_LINK_UP/FAIL/DOWN/BACK; sysfs prints bond_slave_link_status() strings
MII_STATES = ("up", "going_down", "down", "going_back")
MEMBER_STATES = ("active", "backup")  # BOND_STATE_ACTIVE 0, BOND_STATE_BACKUP 1
# drivers/net/bonding/bond_3ad.h churn_state_t: AD_CHURN_MONITOR 0, AD_CHURN 1, AD_NO_CHURN 2;
# /proc/net/bonding prints them as "monitoring", "churned", "none" (bond_3ad_churn_desc)
CHURN_STATES = ("monitoring", "churned", "none")

# ----------------------------------------------------------------------------- model


@record
class AdInfo:
    """The active aggregator (802.3ad).  aggregator_id 0: the bond has none."""

    aggregator_id: int | None = None
    num_ports: int | None = None
    actor_key: int | None = None
    partner_key: int | None = None
    partner_mac: str | None = None  # None: not readable (no CAP_NET_ADMIN) or unknown


@record
class BondMember:
    name: str
    mii_status: str | None = None  # one of MII_STATES
    state: str | None = None  # active | backup
    link_failures: int | None = None
    perm_hwaddr: str = ""
    aggregator_id: int | None = None  # 802.3ad; None also for "N/A"
    actor_state: int | None = None  # LACP port state byte
    partner_state: int | None = None
    actor_churn: str | None = None  # one of CHURN_STATES
    partner_churn: str | None = None
    actor_churned: int | None = None  # /proc/net/bonding only
    partner_churned: int | None = None
    actor_key: int | None = None  # /proc/net/bonding "details actor lacp pdu" (root)
    partner_system: str | None = None  # /proc/net/bonding "details partner lacp pdu" (root)


@record
class Bond:
    name: str
    mode: str
    source: str = ""  # netlink | sysfs | procfs (+procfs when it filled gaps)
    xmit_hash_policy: str = ""
    lacp_rate: str = ""
    ad_select: str = ""
    lacp_active: str = ""  # on | off, kernels >= 5.15
    primary: str = ""
    active_slave: str = ""
    min_links: int | None = None
    miimon_ms: int | None = None
    arp_interval_ms: int | None = None
    ad: AdInfo | None = None  # 802.3ad only; None when not readable at all
    #: partner MAC/keys of the active aggregator hidden for lack of CAP_NET_ADMIN
    partner_hidden: bool = False
    members: tuple[BondMember, ...] = ()
    slaves: tuple[str, ...] = ()  # member names as the bond lists them

    @property
    def lacp(self) -> bool:
        return self.mode == "802.3ad"
