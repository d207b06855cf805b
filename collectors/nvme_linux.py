"""Collector ``nvme`` (Linux): NVMe native multipath (NVMe-oF, e.g. NVMe/TCP) paths,
their ANA state, bytes and the NIC each one runs over (SPEC §6.2 kind="nvme", §6.4).

Sources (all sysfs/procfs, no root, no exec, never opens a device):
  /sys/class/nvme-subsystem/nvme-subsysS/{subsysnqn,model,serial,firmware_rev,iopolicy}
      and its controller symlinks ``nvmeC`` (drivers/nvme/host/core.c nvme_init_subsystem
      links every controller into its subsystem; multipath.c nvme_subsys_iopolicy_show).
  /sys/class/nvme/nvmeC/{state,transport,address,cntlid}  (drivers/nvme/host/sysfs.c
      nvme_sysfs_show_state/_transport/_address; fabrics.c nvmf_get_address prints
      ``traddr=,trsvcid=,host_traddr=,host_iface=``; tcp.c nvme_tcp_get_address appends
      ``src_addr=`` only while the admin queue is live).
  /sys/class/nvme/nvmeC/nvmeScCnN/{nsid,ana_state,numa_nodes,queue_depth}: the hidden
      per-path disk (multipath.c ana_state_show, numa_nodes_show (only under iopolicy
      numa), queue_depth_show (only under queue-depth); sysfs.c nvme_ns_attrs).
  /proc/diskstats rows of the hidden path disks for per-path bytes: block/genhd.c
      diskstats_show walks every disk of block_class (disk_seqf_start), hidden ones
      included; only /proc/partitions leaves them out (GENHD_FL_SUPPRESS_PARTITION_INFO).
      The head nvmeSnN is never a member: it counts nothing before ~6.3 and the sum of
      its paths after (nvme_mpath_start_request), so adding it would double-count.
  Path -> NIC: ``host_iface=`` when the connection was bound to an interface; else the
      local address (``src_addr=``, else ``host_traddr=``) matched against
      /proc/net/if_inet6 (IPv6) or the connected routes of /proc/net/route (IPv4); else
      a longest-prefix lookup of ``traddr`` in /proc/net/route or /proc/net/ipv6_route
      (policy routing is not followed).  Speed and counters of the NIC come from the
      shared link table.

Metrics: lanes_nvme_subsystem_info, lanes_nvme_controller_info (the path -> NIC ->
portal map), lanes_nvme_controller_state (state set), lanes_nvme_path_info (joins a
group member to its device, controller and NIC), lanes_nvme_path_ana_state (state set),
lanes_nvme_path_current (numa), lanes_nvme_path_queue_depth (queue-depth), and the
group model (kind="nvme": group = ``<subsysnqn>/ns<nsid>``, member = controller path
``<traddr>:<trsvcid>`` plus ``%<host_iface>`` or ``@<host_traddr>`` when set).

Platforms: Linux.  Transports: tcp, rdma, fc by default (option ``transports``); local
pcie controllers are not network paths.

By hand: ``nvme list-subsys``; ``grep . /sys/class/nvme/nvme*/{state,transport,address}``;
``grep . /sys/class/nvme/nvme*/nvme*c*n*/ana_state``; ``grep 'nvme.c' /proc/diskstats``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping

from collectors import _facts
from collectors._link_common import Link
from collectors._routes import RouteTable as NetView
from collectors._routes import best_route, parse_if_inet6, parse_ipv6_route, parse_proc_net_route, read_route_table
from exporter.api import Collected, Collector, Family, Group, Host, Member, ParseError, add_stateset, expected_members, gauge, info

__all__ = ["NetView", "parse_if_inet6", "parse_ipv6_route", "parse_proc_net_route"]

SUBSYS_CLASS = "/sys/class/nvme-subsystem"
CTRL_CLASS = "/sys/class/nvme"
DEFAULT_TRANSPORTS = ("tcp", "rdma", "fc")

# core.c/sysfs.c nvme_sysfs_show_state state_name[]; "unknown state" for anything else
CTRL_STATES = ("new", "live", "resetting", "connecting", "deleting", "deleting (no IO)", "dead", "unknown")
# multipath.c nvme_ana_state_names[]; "invalid state" (0) is shown as unknown
ANA_STATES = ("optimized", "non-optimized", "inaccessible", "persistent-loss", "change", "unknown")
ANA_USABLE = frozenset({"optimized", "non-optimized"})  # multipath.c __nvme_find_path
# iopolicies that spread I/O over several paths at once (multipath.c nvme_round_robin_path,
# nvme_queue_depth_path, and the weighted "adaptive" policy where present).  "numa" keeps
# one current path per NUMA node (head->current_path[node], re-chosen only when it stops
# being optimized), so on a one-socket host every byte goes down one path: that is
# failover by design, not a broken load balancer, and LanesGroupFailoverOnly must not
# fire for it.  Unknown future policies are reported as failover until known.
LOAD_POLICIES = frozenset({"round-robin", "queue-depth", "adaptive"})

_PATH_DISK = re.compile(r"^nvme(\d+)c(\d+)n(\d+)$")
_CTRL = re.compile(r"^nvme\d+$")
_NODELIST = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")


# ------------------------------------------------------------------ models


@dataclasses.dataclass(frozen=True)
class Address:
    """The controller's ``address`` attribute as key=value pairs."""

    traddr: str | None = None
    trsvcid: str | None = None
    host_traddr: str | None = None
    host_iface: str | None = None
    src_addr: str | None = None

    @property
    def local_address(self) -> str | None:
        return self.src_addr or self.host_traddr


@dataclasses.dataclass(frozen=True)
class Controller:
    name: str  # nvmeC (kernel instance: changes when the controller is re-created)
    transport: str
    state: str
    address: Address
    cntlid: str
    member: str  # stable path name within the subsystem (see member_name)
    netdev: str = ""
    local_address: str = ""
    netdev_from: str = ""  # host_iface | src_addr | host_traddr | route | ""


@dataclasses.dataclass(frozen=True)
class Path:
    device: str  # hidden path disk nvmeScCnN
    controller: Controller
    ana_state: str | None  # None: controller without ANA (attribute not visible)
    numa_nodes: frozenset[int] | None  # None: not under iopolicy numa
    queue_depth: int | None

    @property
    def up(self) -> bool:
        """Usable for I/O as multipath.c sees it: controller live and ANA optimized or
        non-optimized (nvme_path_is_disabled, __nvme_find_path)."""
        if self.controller.state != "live":
            return False
        return self.ana_state is None or self.ana_state in ANA_USABLE


@dataclasses.dataclass(frozen=True)
class Namespace:
    head: str  # nvmeSnN
    nsid: str
    group: str  # <subsysnqn>/ns<nsid>
    paths: tuple[Path, ...]


@dataclasses.dataclass(frozen=True)
class Subsystem:
    name: str  # nvme-subsysS
    nqn: str
    model: str
    serial: str
    firmware_rev: str
    iopolicy: str
    controllers: tuple[Controller, ...]
    namespaces: tuple[Namespace, ...]


# ------------------------------------------------------------------ pure parsers


def parse_address(text: str, source: str = "address") -> Address:
    """``traddr=192.168.10.20,trsvcid=4420,src_addr=192.168.10.11``: pairs separated by
    commas (kernel, nvme-cli 2.x) or blanks (nvme-cli 1.x reprints; real-captures L-10).
    FC has ``traddr=nn-0x…:pn-0x…`` and no trsvcid.  Unknown keys are ignored."""
    values: dict[str, str] = {}
    for token in re.split(r"[,\s]+", text.strip()):
        if not token:
            continue
        key, eq, value = token.partition("=")
        if not eq or not key:
            raise ParseError(source, None, f"{token[:40]!r} is not key=value")
        values[key] = value
    return Address(
        traddr=values.get("traddr") or None,
        trsvcid=values.get("trsvcid") or None,
        host_traddr=values.get("host_traddr") or None,
        host_iface=values.get("host_iface") or None,
        src_addr=values.get("src_addr") or None,
    )


def parse_numa_nodes(text: str, source: str = "numa_nodes") -> frozenset[int]:
    """numa_nodes is a ``%*pbl`` node list: ``0``, ``0-1,3`` or empty (not current for
    any node)."""
    text = text.strip()
    if not text:
        return frozenset()
    if not _NODELIST.match(text):
        raise ParseError(source, None, f"{text[:40]!r} is not a node list")
    nodes: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        a, b = int(lo), int(hi or lo)
        if b < a or b - a > 4096:
            raise ParseError(source, None, f"bad range {part!r}")
        nodes.update(range(a, b + 1))
    return frozenset(nodes)


# ------------------------------------------------------------------ mapping helpers


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None  # FC WWN pairs, host names: not an IP


def resolve_netdev(address: Address, net: NetView) -> tuple[str, str]:
    """(netdev, how) for a fabrics controller; ("", "") when nothing says."""
    if address.host_iface:
        return address.host_iface, "host_iface"
    for key in ("src_addr", "host_traddr"):
        local = _ip(getattr(address, key))
        if isinstance(local, ipaddress.IPv6Address):
            for a, dev in net.addrs6:
                if a == local:
                    return dev, key
        elif isinstance(local, ipaddress.IPv4Address):
            dev = best_route(net.routes4, local, connected_only=True)
            if dev:
                return dev, key
    remote = _ip(address.traddr)
    if isinstance(remote, ipaddress.IPv4Address):
        dev = best_route(net.routes4, remote, connected_only=False)
    elif isinstance(remote, ipaddress.IPv6Address):
        dev = best_route(net.routes6, remote, connected_only=False)
    else:
        dev = ""
    return (dev, "route") if dev else ("", "")


def member_name(address: Address, controller: str) -> str:
    """A path's name that survives reconnects and controller renumbering: the target port
    plus the configured local binding.  ``src_addr`` is left out on purpose: the kernel
    prints it only while the queue is live (tcp.c), so a failing path would be renamed."""
    if not address.traddr:
        return controller
    ip = _ip(address.traddr)
    host = f"[{address.traddr}]" if isinstance(ip, ipaddress.IPv6Address) else address.traddr
    name = f"{host}:{address.trsvcid}" if address.trsvcid else host
    if address.host_iface:
        name += f"%{address.host_iface}"
    elif address.host_traddr:
        name += f"@{address.host_traddr}"
    return name


# ------------------------------------------------------------------ readers


def _text(host: Host, path: str) -> str | None:
    v = host.read_optional(path)
    return None if v is None else v.strip()


def read_controller(host: Host, name: str, net_cb, transports: frozenset[str], memo: dict | None = None) -> Controller | None:
    base = f"{CTRL_CLASS}/{name}"
    transport = _text(host, f"{base}/transport")
    state = _text(host, f"{base}/state")
    if transport is None or state is None:  # vanished mid-scrape
        return None
    if transport not in transports:
        return Controller(name, transport, state, Address(), "", name)
    raw = host.read_optional(f"{base}/address")
    if transport == "pcie":  # pci.c nvme_pci_get_address: the PCI function, not pairs
        address = Address(traddr=(raw or "").strip() or None)
    else:
        address = parse_address(raw, f"{base}/address") if raw else Address()
    netdev, how = net_cb(address)
    local = address.local_address or ""
    cntlid = _text(host, f"{base}/cntlid") or ""
    if memo is not None:
        # tcp.c prints src_addr only while the admin queue is live: a failing path would
        # lose its NIC (and its speed) exactly when it matters.  Keep what this
        # controller lifetime (name, cntlid, target port) showed last.
        key = (name, cntlid, address.traddr, address.trsvcid, address.host_iface, address.host_traddr)
        if netdev:
            memo[key] = (netdev, how, local)
        elif key in memo:
            netdev, how, local = memo[key]
    return Controller(
        name=name,
        transport=transport,
        state=state,
        address=address,
        cntlid=cntlid,
        member=member_name(address, name),
        netdev=netdev,
        local_address=local,
        netdev_from=how,
    )


def read_path(host: Host, ctrl: Controller, device: str) -> tuple[str, Path] | None:
    base = f"{CTRL_CLASS}/{ctrl.name}/{device}"
    nsid = _text(host, f"{base}/nsid")
    ana = _text(host, f"{base}/ana_state")
    numa = host.read_optional(f"{base}/numa_nodes")
    qd = _text(host, f"{base}/queue_depth")
    if nsid is None and ana is None and not host.exists(base):
        return None  # vanished
    try:
        queue_depth = int(qd) if qd else None
    except ValueError:
        raise ParseError(f"{base}/queue_depth", None, f"{qd[:20]!r} is not a number") from None
    # numa_nodes and queue_depth print nothing (0 bytes) when their policy is not active
    numa_nodes = parse_numa_nodes(numa, f"{base}/numa_nodes") if numa is not None and numa != "" else None
    return nsid or "", Path(device, ctrl, ana, numa_nodes, queue_depth)


def read_subsystem(host: Host, name: str, transports: frozenset[str], net_cb, memo: dict | None = None) -> Subsystem | None:
    base = f"{SUBSYS_CLASS}/{name}"
    nqn = _text(host, f"{base}/subsysnqn")
    if nqn is None:
        return None
    ctrl_names = [e for e in host.list_optional(base) if _CTRL.match(e)]
    controllers = []
    for c in ctrl_names:
        ctrl = read_controller(host, c, net_cb, transports, memo)
        if ctrl is not None:
            controllers.append(ctrl)
    # member names must be unique within the subsystem: two controllers to one port
    # without a local binding (nvme connect --duplicate-connect) keep their kernel name
    counts: dict[str, int] = {}
    for c in controllers:
        counts[c.member] = counts.get(c.member, 0) + 1
    controllers = [dataclasses.replace(c, member=f"{c.member}#{c.name}") if counts[c.member] > 1 else c for c in controllers]
    heads: dict[str, list[tuple[str, Path]]] = {}
    for ctrl in controllers:
        if ctrl.transport not in transports:
            continue
        for entry in host.list_optional(f"{CTRL_CLASS}/{ctrl.name}"):
            m = _PATH_DISK.match(entry)
            if not m:
                continue
            got = read_path(host, ctrl, entry)
            if got is not None:
                heads.setdefault(f"nvme{m.group(1)}n{m.group(3)}", []).append(got)
    namespaces = []
    for head, paths in sorted(heads.items()):
        nsid = next((n for n, _ in paths if n), "") or _text(host, f"{base}/{head}/nsid") or ""
        group = f"{nqn}/ns{nsid}" if nsid else f"{nqn}/{head}"
        namespaces.append(Namespace(head, nsid, group, tuple(sorted((p for _, p in paths), key=lambda p: p.controller.member))))
    return Subsystem(
        name=name,
        nqn=nqn,
        model=_text(host, f"{base}/model") or "",
        serial=_text(host, f"{base}/serial") or "",
        firmware_rev=_text(host, f"{base}/firmware_rev") or "",
        iopolicy=_text(host, f"{base}/iopolicy") or "",
        controllers=tuple(sorted(controllers, key=lambda c: c.member)),
        namespaces=tuple(namespaces),
    )


def read_subsystems(
    host: Host,
    transports: Iterable[str] = DEFAULT_TRANSPORTS,
    memo: dict | None = None,
    routes: Callable[[], NetView] | None = None,
) -> list[Subsystem]:
    """Every subsystem with at least one controller of ``transports``.  ``memo`` (kept by
    the collector) remembers each controller's NIC across scrapes; ``routes`` gives the
    routing tables (the scrape's shared ones), read only when a controller needs them."""
    names = host.list_optional(SUBSYS_CLASS)
    if not names:
        return []
    tset = frozenset(transports)
    net: list[NetView] = []

    def net_cb(address: Address) -> tuple[str, str]:
        if not address.host_iface and not net:  # read the routing files only when needed
            net.append(routes() if routes is not None else read_route_table(host))
        return resolve_netdev(address, net[0] if net else NetView())

    out = []
    for name in names:
        sub = read_subsystem(host, name, tset, net_cb, memo)
        if sub is not None and any(c.transport in tset for c in sub.controllers):
            out.append(sub)
    return out


# ------------------------------------------------------------------ groups


def best_ana(states: Iterable[str | None]) -> str | None:
    """The ANA state the host means to use (NVMe base spec 2.0 §8.1.3, Asymmetric Namespace
    Access; drivers/nvme/host/multipath.c __nvme_find_path takes optimized paths first and
    non-optimized ones only when no optimized path is left): ``optimized`` if any path is,
    else ``non-optimized`` if any path is; None without ANA (every usable path is equal)."""
    have = set(states)
    for state in ("optimized", "non-optimized"):
        if state in have:
            return state
    return None


def to_groups(subsystems: Iterable[Subsystem], links: Mapping[str, Link], disks: Mapping, config=None) -> list[Group]:
    """kind="nvme": group = a namespace of an NVMe subsystem reached over native
    multipath, named ``<subsysnqn>/ns<nsid>`` (stable across reboots, unlike nvmeSnN);
    member = one controller path (``member_name``), up as ``Path.up`` says.

    policy = the subsystem's iopolicy; balancing ``load`` for round-robin, queue-depth
    and adaptive, ``failover`` for numa (one current path per NUMA node: see
    LOAD_POLICIES).  Bytes are those of the hidden path disk in /proc/diskstats (read =
    received, written = transmitted), speed is the NIC's.
    ``expect: {nvme: {<group or subsysnqn>: N}}`` sets the paths a namespace should have.
    """
    out = []
    for s in subsystems:
        for ns in s.namespaces:
            members = []
            best = best_ana(p.ana_state for p in ns.paths)
            for p in ns.paths:
                c = p.controller
                d = disks.get(p.device)
                link = links.get(c.netdev) if c.netdev else None
                members.append(
                    Member(
                        name=c.member,
                        up=p.up,
                        rx_bytes=d.read_bytes if d else None,
                        tx_bytes=d.write_bytes if d else None,
                        speed_bytes=link.speed_bytes if link else None,
                        sample=("disk", p.device),
                        preferred=None if best is None else p.ana_state == best,
                    )
                )
            expected = max(expected_members(config, "nvme", ns.group), expected_members(config, "nvme", s.nqn))
            out.append(
                Group(
                    kind="nvme",
                    name=ns.group,
                    policy=s.iopolicy or "unknown",
                    balancing="load" if s.iopolicy in LOAD_POLICIES else "failover",
                    members=tuple(members),
                    expected=expected,
                )
            )
    return out


# ------------------------------------------------------------------ collector

SRC_SUB = f"From {SUBSYS_CLASS}/<subsys>/{{subsysnqn,model,serial,firmware_rev,iopolicy}}."
SRC_CTRL_INFO = (
    f"From {CTRL_CLASS}/<ctrl>/{{transport,address,cntlid}}; netdev from host_iface= in address, else its src_addr=/host_traddr= "
    "found in /proc/net/if_inet6 or the connected routes of /proc/net/route, else a route lookup of traddr in /proc/net/route or /proc/net/ipv6_route."
)
SRC_STATE = f"From {CTRL_CLASS}/<ctrl>/state."
SRC_PATH = f"From {CTRL_CLASS}/<ctrl>/<path disk nvmeScCnN>/nsid and the controller's address."
SRC_ANA = f"From {CTRL_CLASS}/<ctrl>/<path disk nvmeScCnN>/ana_state."
SRC_NUMA = f"From {CTRL_CLASS}/<ctrl>/<path disk nvmeScCnN>/numa_nodes."
SRC_QD = f"From {CTRL_CLASS}/<ctrl>/<path disk nvmeScCnN>/queue_depth."


def nvme_families(subsystems: Iterable[Subsystem], links: Mapping[str, Link]) -> list[Family]:
    si = info("nvme_subsystem_info", f"NVMe subsystem; value 1. {SRC_SUB}", ("nqn", "subsystem", "model", "serial", "firmware_rev", "iopolicy"))
    ci = info(
        "nvme_controller_info",
        f"One controller (path) of an NVMe subsystem and the NIC it runs over; value 1. netdev_from says how the NIC was found. {SRC_CTRL_INFO}",
        ("nqn", "path", "controller", "transport", "traddr", "trsvcid", "host_traddr", "host_iface", "local_address", "netdev", "netdev_from", "cntlid"),
    )
    cs = gauge("nvme_controller_state", f"Controller state, one 0/1 series per state. {SRC_STATE}", ("nqn", "path", "state"))
    pi = info(
        "nvme_path_info",
        f"Joins a kind=nvme group member to its path disk, head, controller and NIC (netdev joins lanes_link_info{{link}}); value 1. {SRC_PATH}",
        ("kind", "group", "member", "nqn", "nsid", "head", "device", "controller", "netdev", "portal", "local_address"),
    )
    ana = gauge("nvme_path_ana_state", f"ANA state of the path, one 0/1 series per state (kernel 'invalid state' is unknown). {SRC_ANA}", ("group", "member", "state"))
    cur = gauge("nvme_path_current", f"1 if the path is the current path of at least one NUMA node (iopolicy numa only). {SRC_NUMA}", ("group", "member"))
    qd = gauge("nvme_path_queue_depth", f"Requests active on the path's controller (iopolicy queue-depth only). {SRC_QD}", ("group", "member"))
    for s in subsystems:
        si.add((s.nqn, s.name, s.model, s.serial, s.firmware_rev, s.iopolicy), 1)
        for c in s.controllers:
            a = c.address
            ci.add((s.nqn, c.member, c.name, c.transport, a.traddr or "", a.trsvcid or "", a.host_traddr or "", a.host_iface or "",
                    c.local_address, c.netdev, c.netdev_from, c.cntlid), 1)
            add_stateset(cs, (s.nqn, c.member), CTRL_STATES, c.state)
        for ns in s.namespaces:
            for p in ns.paths:
                c = p.controller
                portal = c.member.split("%", 1)[0].split("@", 1)[0].split("#", 1)[0]
                pi.add(("nvme", ns.group, c.member, s.nqn, ns.nsid, ns.head, p.device, c.name, c.netdev, portal, c.local_address), 1)
                if p.ana_state is not None:
                    add_stateset(ana, (ns.group, c.member), ANA_STATES, p.ana_state)
                if p.numa_nodes is not None:
                    cur.add((ns.group, c.member), bool(p.numa_nodes))
                qd.add((ns.group, c.member), p.queue_depth)
    return [si, ci, cs, pi, ana, cur, qd]


class NvmeLinux(Collector):
    name = "nvme"
    platforms = frozenset({"linux"})
    OPTIONS = {"transports": "list"}
    description = "NVMe native multipath: subsystems, iopolicy, controller state, per-path ANA state, bytes and NIC"

    def __init__(self, host, ctx):
        super().__init__(host, ctx)
        self.transports = tuple(ctx.option("transports") or DEFAULT_TRANSPORTS)
        self.netdev_memo: dict = {}

    def collect(self) -> Collected | list[Family]:
        if len(self.netdev_memo) > 4096:  # controllers come and go over months: stay bounded
            self.netdev_memo.clear()
        subsystems = read_subsystems(self.host, self.transports, self.netdev_memo, lambda: _facts.routes(self.host, self.ctx))
        if not subsystems:
            return []
        links = _facts.links(self.host, self.ctx)
        disks = _facts.diskstats(self.host, self.ctx)
        return Collected(nvme_families(subsystems, links), to_groups(subsystems, links, disks, self.ctx.config))
