"""Collector ``link`` (illumos, Oracle Solaris): every datalink (SPEC §6.3).

Sources
  topology    ``dladm show-link -p -o link,class,mtu,state,over`` (name, class, MTU, the
  (slow       ports of each aggregation) and ``dladm show-phys -p -o link,media,state,speed,
  cadence)    duplex,device`` (vanity link name -> device, e.g. ``net0`` -> ``e1000g0``), read
              every ``topology_interval`` (default 30 s) in the background.
  counters    one ``kstat -p 'link:0:/^(aggr0|e1000g0|...)$/' <driver>::mac`` per scrape: the
  (every      DLS ``link:0:<link>`` kstats of the datalinks dladm lists
  scrape)     (usr/src/uts/common/io/dls/dls_stat.c) and the driver
              ``<driver>:<instance>:mac`` kstats of the drivers behind physical links
              (usr/src/uts/common/io/mac/mac_stat.c).  A port inside an aggregation has no
              readable ``link`` kstat (dls_devnet_stat_update fails with ENOENT while nothing
              holds the link open: kstat prints only crtime/class/snaptime), so its counters,
              state and speed come from its driver ``mac`` kstat, as ``dladm show-aggr -x``
              does (usr/src/cmd/dladm/dladm.c get_one_kstat with islink false).

Selectors name the module and the name, never a statistic or class alone: kstat(8) reads
every kstat whose module and name match (before 2016: module *or* name) and filters
classes and statistics only when printing (usr/src/cmd/stat/kstat/kstat.c), so
``kstat -c net`` or ``link:0:`` could read the whole system.  Only a host with more links
than fit in one command line of named selectors (file names of snapshots stop at 255
bytes) reads the ``link`` module with ``link:0:``, one command instead of many.

Counters: the 64-bit ``rbytes64``/``obytes64``/``ipackets64``/``opackets64``; on hosts that
only have the 32-bit ``rbytes``/``obytes``/``ipackets``/``opackets`` those are used (they wrap
every 4 GiB; Prometheus' rate() treats a wrap as a reset).  Errors: ``ierrors``/``oerrors``;
dropped: ``norcvbuf``/``noxmtbuf`` (no buffer).  State: ``link_state`` (sys/mac.h
link_state_t: 1 up, 0 down, -1 unknown printed unsigned as 4294967295); speed ``ifspeed``
(bit/s, 0 = unknown: an up VNIC can report 0); MTU from dladm.  MAC addresses and carrier
change counts are not in these kstats: ``mac`` is empty and carrier changes are absent.

Metrics: lanes_link_info, lanes_link_up, lanes_link_speed_bytes, lanes_link_mtu_bytes,
lanes_link_{receive,transmit}_{bytes,packets,errors,dropped}_total (labels: link).

Platforms: illumos (OmniOS, SmartOS, OpenIndiana, NexentaStor) and Oracle Solaris.

By hand: ``dladm show-link -p -o link,class,mtu,state,over``;
``dladm show-phys -p -o link,media,state,speed,duplex,device``;
``kstat -p 'link:0:/^(aggr0|ixgbe0)$/' ixgbe::mac``.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import weakref
from collections.abc import Mapping

from collectors import _link_common
from collectors._cadence import Cadence
from collectors._kstat import KStats, batched_selectors, first_uint, read_kstat_commands, run_tool
from collectors._link_collector import LinkCollector
from collectors._link_common import Link
from collectors._parse import opt_int, parseable_rows
from exporter.api import SAMPLE_READERS, Family, Host, ParseError

DEFAULT_TOPOLOGY_INTERVAL = 30.0
DEFAULT_COMMAND_TIMEOUT = 5.0

SHOW_LINK_ARGS = ("show-link", "-p", "-o", "link,class,mtu,state,over")
SHOW_PHYS_ARGS = ("show-phys", "-p", "-o", "link,media,state,speed,duplex,device")

# sys/mac.h link_state_t, printed by kstat(8) as an unsigned 32-bit value
LINK_STATES = {1: "up", 0: "down"}
# sys/mac.h link_duplex_t
DUPLEX = {0: "unknown", 1: "half", 2: "full"}


# ------------------------------------------------------------------ models


@dataclasses.dataclass(frozen=True)
class DataLink:
    """One row of ``dladm show-link -p -o link,class,mtu,state,over``."""

    name: str
    klass: str  # phys, aggr, vlan, vnic, etherstub, simnet, bridge, iptun, part, overlay, ...
    mtu: int | None
    state: str  # up, down, unknown (``?`` on old releases when the kstat was unreadable)
    over: tuple[str, ...]  # aggregation: its ports; vnic/vlan: the link below


@dataclasses.dataclass(frozen=True)
class PhysLink:
    """One row of ``dladm show-phys -p -o link,media,state,speed,duplex,device``."""

    name: str
    media: str
    state: str
    speed_mbit: int | None
    duplex: str
    device: str  # driver + instance, e.g. ixgbe0


@dataclasses.dataclass(frozen=True)
class Topology:
    links: Mapping[str, DataLink]
    phys: Mapping[str, PhysLink]

    @property
    def masters(self) -> dict[str, str]:
        """port -> aggregation, from the OVER column of the aggregations."""
        out = {}
        for link in self.links.values():
            if link.klass == "aggr":
                for port in link.over:
                    out[port] = link.name
        return out

    def drivers(self) -> list[str]:
        return sorted({split_device(p.device)[0] for p in self.phys.values() if split_device(p.device)})


# ------------------------------------------------------------------ parsers


def _name(text: str, source: str, lineno: int) -> str:
    if not text or any(c.isspace() for c in text):
        raise ParseError(source, lineno, f"bad link name {text[:40]!r}")
    return text


def parse_show_link(text: str) -> dict[str, DataLink]:
    """``dladm show-link -p -o link,class,mtu,state,over``.  OVER of an aggregation lists
    its ports separated by ``,`` in current illumos-gate (dladm.c print_link_topology) and
    by blanks in older releases and in Oracle Solaris 11.1 output: split on both; ``?``
    means unknown (seen from inside a zone)."""
    source = "dladm show-link"
    out = {}
    for lineno, (name, klass, mtu, state, over) in parseable_rows(text, source, 5):
        name = _name(name, source, lineno)
        if not klass:
            raise ParseError(source, lineno, "empty CLASS")
        ports = tuple(p for p in re.split(r"[\s,]+", over) if p and p not in ("?", "--"))
        out[name] = DataLink(name, klass, opt_int(mtu, source, lineno), state or "unknown", ports)
    return out


def parse_show_phys(text: str) -> dict[str, PhysLink]:
    """``dladm show-phys -p -o link,media,state,speed,duplex,device``; SPEED is Mb/s (0 when
    down), DUPLEX full/half/unknown (a down igb says half: real-captures I-3)."""
    source = "dladm show-phys"
    out = {}
    for lineno, (name, media, state, speed, duplex, device) in parseable_rows(text, source, 6):
        name = _name(name, source, lineno)
        out[name] = PhysLink(name, media, state or "unknown", opt_int(speed, source, lineno), duplex, device)
    return out


_DEVICE = re.compile(r"^(.*\D)(\d+)$")


def split_device(device: str) -> tuple[str, int] | None:
    """``ixgbe0`` -> (``ixgbe``, 0): driver name and instance, as dlpi_parselink() splits a
    device name (the instance is the trailing decimal digits; ``e1000g10`` -> e1000g, 10)."""
    m = _DEVICE.match(device)
    if not m:
        return None
    return m.group(1), int(m.group(2))


def _has_counters(stats: Mapping[str, str] | None) -> bool:
    return first_uint(stats, "rbytes64", "rbytes") is not None


def kstat_commands(topology: Topology) -> list[list[str]]:
    """``kstat`` argument lists of the per-scrape counter read: the ``link`` kstat of every
    datalink and the ``mac`` kstats of the drivers behind physical links (``ixgbe::mac``,
    one selector per driver).  One command."""
    drivers = [f"{drv}::mac" for drv in topology.drivers()]
    commands = batched_selectors("link", 0, list(topology.links), drivers)
    if len(commands) > 1:
        # many links (zone VNICs): one read of the whole ``link`` module beats one fork per
        # batch.  Since 2016 kstat reads exactly the link kstats; older builds (module *or*
        # name) read every kstat, which batches of named selectors did too, once per batch.
        return [["-p", "link:0:", *drivers]]
    return commands


def build_links(topology: Topology, kstats: KStats) -> dict[str, Link]:
    masters = topology.masters
    out = {}
    for name, dl in sorted(topology.links.items()):
        phys = topology.phys.get(name)
        link_ks = kstats.get(("link", 0, name))
        mac_ks = None
        driver = ""
        if phys is not None:
            dev = split_device(phys.device)
            if dev is not None:
                driver = dev[0]
                mac_ks = kstats.get((dev[0], dev[1], "mac"))
        # the link kstat when it has counters, else the port's driver kstat (aggregated
        # ports, links nothing holds open)
        ks = link_ks if _has_counters(link_ks) or not _has_counters(mac_ks) else mac_ks
        state_num = first_uint(ks, "link_state")
        if state_num is not None:
            operstate = LINK_STATES.get(state_num, "unknown")
        else:
            operstate = dl.state if dl.state in ("up", "down") else "unknown"
        ifspeed = first_uint(ks, "ifspeed")
        if ifspeed is None and phys is not None and phys.speed_mbit:
            ifspeed = phys.speed_mbit * 1_000_000
        duplex = first_uint(ks, "link_duplex")
        out[name] = Link(
            name=name,
            kind=dl.klass,
            driver=driver,
            master=masters.get(name, ""),
            operstate=operstate,
            speed_bytes=ifspeed // 8 if ifspeed else None,
            mtu=dl.mtu,
            duplex=DUPLEX.get(duplex) if duplex is not None else None,
            rx_bytes=first_uint(ks, "rbytes64", "rbytes"),
            tx_bytes=first_uint(ks, "obytes64", "obytes"),
            rx_packets=first_uint(ks, "ipackets64", "ipackets"),
            tx_packets=first_uint(ks, "opackets64", "opackets"),
            rx_errors=first_uint(ks, "ierrors"),
            tx_errors=first_uint(ks, "oerrors"),
            rx_dropped=first_uint(ks, "norcvbuf"),
            tx_dropped=first_uint(ks, "noxmtbuf"),
        )
    return out


def read_topology(host: Host, timeout: float = DEFAULT_COMMAND_TIMEOUT) -> Topology:
    links = parse_show_link(run_tool(host, "dladm", SHOW_LINK_ARGS, timeout))
    phys = parse_show_phys(run_tool(host, "dladm", SHOW_PHYS_ARGS, timeout))
    return Topology(links, phys)


def read_kstats(host: Host, topology: Topology, timeout: float = DEFAULT_COMMAND_TIMEOUT) -> KStats:
    return read_kstat_commands(host, kstat_commands(topology), timeout)


class HostTopology:
    """The datalink topology of one host on its slow cadence, shared by the link table
    (collector ``link``, declared groups, storage collectors) and the peak sampler."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.timeout = DEFAULT_COMMAND_TIMEOUT
        self.cadence: Cadence[Topology] = Cadence(self._refresh, DEFAULT_TOPOLOGY_INTERVAL)

    def _refresh(self) -> Topology:
        return read_topology(self.host, self.timeout)

    def configure(self, interval: float | None, timeout: float | None) -> None:
        if interval is not None and interval > 0:
            self.cadence.interval = interval
            self.cadence.max_age = max(3 * interval, 60.0)
        if timeout is not None and timeout > 0:
            self.timeout = timeout

    def get(self) -> tuple[Topology, float]:
        return self.cadence.get()

    def last(self) -> Topology | None:
        """Newest topology without reading (for the sampler), or None."""
        return self.cadence._value


_HOSTS: weakref.WeakKeyDictionary[Host, HostTopology] = weakref.WeakKeyDictionary()
_HOSTS_LOCK = threading.Lock()


def host_topology(host: Host) -> HostTopology:
    with _HOSTS_LOCK:
        ht = _HOSTS.get(host)
        if ht is None:
            ht = _HOSTS[host] = HostTopology(host)
        return ht


def read_links(host: Host) -> dict[str, Link]:
    """The shared link table (``_link_common.LINK_READERS["illumos"]``): cached topology,
    fresh counters."""
    ht = host_topology(host)
    topology, _ = ht.get()
    return build_links(topology, read_kstats(host, topology, ht.timeout))


def read_counters(host: Host, keys: frozenset[str] | None = None) -> dict[str, tuple[int, int]]:
    """The sampler's cheap read: the same single ``kstat -p`` as a scrape (no dladm: the
    topology is the one the scrapes last read)."""
    ht = host_topology(host)
    topology = ht.last()
    if topology is None:  # no scrape has read the topology yet: nothing is wanted either
        return {}
    kstats = read_kstats(host, topology, ht.timeout)
    out = {}
    for name, link in build_links(topology, kstats).items():
        if link.rx_bytes is not None and link.tx_bytes is not None:
            out[name] = (link.rx_bytes, link.tx_bytes)
    return out


_link_common.LINK_READERS["illumos"] = lambda host, ctx: read_links(host)
SAMPLE_READERS[(_link_common.SAMPLE_SOURCE, "illumos")] = read_counters

SOURCES = {
    "info": "From dladm show-link (CLASS) and dladm show-phys (DEVICE: driver); master is the aggregation listing the port in OVER.",
    "state": "From kstat link:0:<link>:link_state (aggregated ports: <driver>:<instance>:mac:link_state); 4294967295 is unknown, not up.",
    "admin": "Not available on illumos.",
    "speed": "From kstat link:0:<link>:ifspeed (bit/s / 8; aggregated ports: the driver mac kstat); absent when 0 (unknown).",
    "mtu": "From dladm show-link MTU.",
    "counters": "From kstat link:0:<link> 64-bit counters (aggregated ports: <driver>:<instance>:mac; 32-bit ones on hosts without *64; dropped = norcvbuf/noxmtbuf).",
    "carrier": "Not available on illumos.",
}


class LinkIllumos(LinkCollector):
    platforms = frozenset({"illumos"})
    OPTIONS = {**LinkCollector.OPTIONS, "topology_interval": "duration", "command_timeout": "duration"}
    SOURCES = SOURCES

    def __init__(self, host, ctx):
        super().__init__(host, ctx)
        self.topology = host_topology(host)
        self.topology.configure(ctx.option("topology_interval"), ctx.option("command_timeout"))

    def collect(self) -> list[Family]:
        fams = super().collect()
        _, stamp = self.topology.get()
        self.data_timestamp = stamp
        return fams
