"""The collector registry: every built-in collector, explicit and greppable.

Adding a collector: its module (or package), one line here, a capture and a parser test, a
scenario folder (tests/scenarios/<name>/ with expected.prom), a docs page: docs/DEVELOPING.md
walks through it.  Flags, timeouts, self-metrics, the group series and member memory
and the failure-mode tests come for free (``exporter/api.py`` is the contract).
"""

from __future__ import annotations

from collectors.aggr_illumos import AggrIllumos
from collectors.bond_linux import BondLinux
from collectors.comstar_illumos import Comstar
from collectors.ctl_freebsd import CtlFreebsd
from collectors.flows_illumos import FlowsIllumos
from collectors.flows_linux import FlowsLinux
from collectors.gmultipath_freebsd import GmultipathFreebsd
from collectors.groups import DeclaredGroups
from collectors.ipmp_illumos import IpmpIllumos
from collectors.iscsi_freebsd import IscsiFreebsd
from collectors.iscsi_illumos import IscsiIllumos
from collectors.iscsi_linux import IscsiLinux
from collectors.lagg_freebsd import LaggFreebsd
from collectors.link_freebsd import LinkFreebsd
from collectors.link_illumos import LinkIllumos
from collectors.link_linux import LinkLinux
from collectors.mpxio_illumos import Mpxio
from collectors.multipath_linux import MultipathLinux
from collectors.nvme_linux import NvmeLinux
from collectors.team_linux import TeamLinux

ALL = (
    LinkLinux,
    DeclaredGroups,
    LinkIllumos,
    AggrIllumos,
    IpmpIllumos,
    Mpxio,
    IscsiIllumos,
    Comstar,
    NvmeLinux,
    MultipathLinux,
    IscsiLinux,
    BondLinux,
    TeamLinux,
    FlowsLinux,
    FlowsIllumos,
    LinkFreebsd,
    LaggFreebsd,
    CtlFreebsd,
    IscsiFreebsd,
    GmultipathFreebsd,
)



def names() -> list[str]:
    """Collector names as used by --collector.NAME and the collector label."""
    return sorted({c.name for c in ALL})


def for_platform(platform: str) -> list:
    return [c for c in ALL if platform in c.platforms]
