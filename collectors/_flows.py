"""The flow model shared by ``flows_linux`` and ``flows_illumos`` and its exposition
(SPEC §13): one storage TCP connection (a car), the NIC it leaves by and the group member
(lane) it rides.  Both platforms fill the same ``Sock``/``Flow`` so the metric names are
identical everywhere; each passes the HELP wording of its own sources."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Mapping, Sequence

from exporter.api import Family, ParseError, counter, gauge, info

#: storage port -> protocol label (SPEC §13)
STORAGE_PORTS: Mapping[int, str] = {3260: "iscsi", 4420: "nvme-tcp", 8009: "nvme-tcp", 2049: "nfs", 445: "smb"}
DEFAULT_MAX_FLOWS = 256


def configured_ports(extra: Sequence[int] | None) -> dict[int, str]:
    """The storage ports and their protocols, plus ``collectors: {flows: {ports: [...]}}``
    (checked by the config loader: 1..65535) as ``other``."""
    ports = dict(STORAGE_PORTS)
    for p in extra or ():
        ports.setdefault(int(p), "other")
    return ports
#: sampler source; key of a flow: "local remote"
SAMPLE_SOURCE = "flows"
AGGREGATE_KINDS = ("bond", "team", "aggr", "ipmp")


def _split(endpoint: str) -> tuple[str, int]:
    addr, sep, port = endpoint.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(endpoint)
    return addr.strip("[]"), int(port)


def endpoint(text: str, source: str, lineno: int) -> tuple[str, int]:
    """(address, port) of ``addr:port`` (IPv6 in brackets); ParseError when it is not one."""
    try:
        addr, port = _split(text)
        ipaddress.ip_address(addr)
    except ValueError:
        raise ParseError(source, lineno, f"not an address:port: {text!r}") from None
    if not 0 < port < 65536:
        raise ParseError(source, lineno, f"port out of range: {text!r}")
    return addr, port


def format_endpoint(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


@dataclasses.dataclass(frozen=True)
class Sock:
    local: str  # addr:port, IPv6 in brackets
    remote: str
    dev: str  # bound device, "" when not bound
    bytes_acked: int  # transmitted (and acknowledged)
    bytes_received: int
    local_addr: str = ""
    local_port: int = 0
    remote_addr: str = ""
    remote_port: int = 0

    def __post_init__(self):
        if not self.local_addr:  # built by hand (tests): split once here
            la, lp = _split(self.local)
            ra, rp = _split(self.remote)
            object.__setattr__(self, "local_addr", la)
            object.__setattr__(self, "local_port", lp)
            object.__setattr__(self, "remote_addr", ra)
            object.__setattr__(self, "remote_port", rp)


@dataclasses.dataclass(frozen=True)
class Flow:
    protocol: str
    sock: Sock
    netdev: str
    kind: str = ""
    group: str = ""
    member: str = ""


@dataclasses.dataclass(frozen=True)
class MountTransports:
    """An NFS mount and its transports' source ports (Linux mountstats)."""

    mountpoint: str
    device: str
    srcports: tuple[int | None, ...]


def protocol_of(sock: Sock, ports: Mapping[int, str]) -> str | None:
    for port in (sock.remote_port, sock.local_port):
        if port in ports:
            return ports[port]
    return None


def flow_key(sock: Sock) -> str:
    return f"{sock.local} {sock.remote}"


def busiest(socks: Sequence[tuple[str, Sock]], max_flows: int) -> tuple[list[tuple[str, Sock]], int]:
    ranked = sorted(socks, key=lambda ps: (-(ps[1].bytes_acked + ps[1].bytes_received), ps[1].local, ps[1].remote))
    return ranked[:max_flows], max(0, len(ranked) - max_flows)


def reachable(members_up: Mapping[str, int | None], used: Sequence[str], flows: int) -> int | None:
    """What a group can move with the flows it has: the members the flows ride when every
    flow's member is known, else min(flows, members up) of the fastest up members."""
    speeds = {m: s for m, s in members_up.items() if s}
    if used and all(used):
        return sum(speeds.get(m, 0) for m in set(used)) or None
    k = min(flows, len(members_up))
    top = sorted(speeds.values(), reverse=True)[:k]
    return sum(top) or None


def flow_families(
    flows: Sequence[Flow],
    dropped: int | None,
    members_up: Callable[[Flow], Mapping[str, int | None]] | None,
    sources: Mapping[str, str],
    mounts: Sequence[MountTransports] = (),
    sampler=None,
) -> list[Family]:
    """Families of SPEC §13.  ``members_up(flow)``: up members of the flow's group -> speed;
    ``sources``: HELP wording per platform, keys ``src``, ``tx``, ``rx``, ``route``."""
    src = sources["src"]
    FL = ("protocol", "local", "remote")
    fi = info("flow_info", f"A storage TCP connection (a car) and the lane it rides; value 1. {src}; {sources['route']}", (*FL, "netdev", "kind", "group", "member"))
    tx = counter("flow_transmit_bytes_total", f"Bytes sent on the connection. {src}: {sources['tx']}.", FL)
    rx = counter("flow_receive_bytes_total", f"Bytes received on the connection. {src}: {sources['rx']}.", FL)
    ptx = gauge("flow_transmit_peak_bytes_per_second", f"Highest transmit rate of the connection over any sampling interval since the previous scrape, from the background sampler ({sources['tx']}).", FL)
    prx = gauge("flow_receive_peak_bytes_per_second", f"Highest receive rate of the connection over any sampling interval since the previous scrape, from the background sampler ({sources['rx']}).", FL)
    dr = gauge("flows_dropped", f"Storage connections not exported because max_flows was reached (the busiest by bytes are kept). {src}.")
    gf = gauge("group_flows", f"Storage connections riding the group. {src}.", ("kind", "group"))
    gr = gauge("group_reachable_speed_bytes", f"What the group can move with the flows it has, in bytes/s: the speed of the members its flows ride (min(flows, members up) x member speed where the member of a flow is not known). {src}, and the link speeds.", ("kind", "group"))
    nm = gauge("nfs_mount_transports", "Transports (TCP connections; nconnect) of an NFS mount, with the group its connections ride. From /proc/self/mountstats xprt: lines.", ("mount", "export", "kind", "group"))
    wanted = []
    by_group: dict[tuple[str, str], list[Flow]] = {}
    for f in flows:
        lv = (f.protocol, f.sock.local, f.sock.remote)
        fi.add((*lv, f.netdev, f.kind, f.group, f.member), 1)
        tx.add(lv, f.sock.bytes_acked)
        rx.add(lv, f.sock.bytes_received)
        key = flow_key(f.sock)
        wanted.append(key)
        if sampler is not None:
            peak = sampler.peak(SAMPLE_SOURCE, key)
            if peak is not None:
                prx.add(lv, peak[0])
                ptx.add(lv, peak[1])
        if f.group:
            by_group.setdefault((f.kind, f.group), []).append(f)
    dr.add((), dropped)  # None: no socket source at all (a snapshot recorded without it)
    for gk, gflows in sorted(by_group.items()):
        gf.add(gk, len(gflows))
        if members_up is not None:
            gr.add(gk, reachable(members_up(gflows[0]), [f.member for f in gflows], len(gflows)))
    by_ports = {(f.sock.local_port, f.sock.remote_port): f for f in flows}
    for m in mounts:
        groups = {(f.kind, f.group) for p in m.srcports if (f := by_ports.get((p, 2049)))}
        kind, group = sorted(groups)[0] if len(groups) == 1 else ("", "")
        nm.add((m.mountpoint, m.device, kind, group), len(m.srcports))
    if sampler is not None:
        sampler.want(SAMPLE_SOURCE, wanted, replace=True)
    return [fi, tx, rx, ptx, prx, dr, gf, gr, nm]
