"""Findings (SPEC §13): setups that can never be faster than one lane, judged from what the
collectors of one scrape exported, and explained by ``--doctor``.

Each check reads the families of the scrape (never a host file of its own), so the
findings of ``/metrics`` and of the doctor are the same, on a live host and on a snapshot:

* ``iscsi_single_session_over_aggregate``: an iSCSI target reached by one session whose
  NIC is a bond/team/aggr/IPMP group of >= 2 members (``lanes_iscsi_session_info``); seen
  from the target side too: an initiator address with one iSCSI connection to this host's
  port 3260 over such a group (``lanes_flow_info``, LIO or COMSTAR), or an initiator with
  one session to a FreeBSD ctld target whose portal NIC is a lagg (``lanes_ctl_session_info``).
* ``nvme_single_controller_over_aggregate``: the same for an NVMe/TCP subsystem with one
  controller (``lanes_nvme_controller_info``).
* ``nfs_single_transport_over_aggregate``: an NFS mount with one transport (no
  ``nconnect``) riding such a group (``lanes_nfs_mount_transports``).
* ``flows_on_one_member``: every storage flow of a load-balancing group hashed onto one
  member while others are up (``lanes_flow_info``).
* ``paths_share_one_nic``: every path of a multipath/NVMe map leaves by one NIC
  (``lanes_path_info``, ``lanes_nvme_path_info``).
* ``mpio_failover_only``: a dm-multipath map that uses one path at a time (path grouping
  policy ``failover``) although all its paths are preferred (ALUA active/optimized, or no
  ALUA at all) (``lanes_multipath_map_info``, ``lanes_multipath_path_alua_state``).
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from exporter.metrics import Family, gauge

AGGREGATE_KINDS = ("bond", "team", "aggr", "ipmp", "lagg")
LABELS = ("check", "severity", "kind", "group", "subject")


@dataclasses.dataclass(frozen=True)
class Finding:
    check: str
    severity: str  # warning | info
    kind: str
    group: str
    subject: str
    text: str  # plain words with the numbers
    evidence: tuple[str, ...]  # files and commands the numbers come from
    fix: str  # for this platform

    def labels(self) -> tuple[str, ...]:
        return (self.check, self.severity, self.kind, self.group, self.subject)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self) | {"evidence": list(self.evidence)}


#: the families the checks read; the rest of a scrape (counters of every NIC and path) is
#: never turned into label dicts, which matters on hosts with thousands of paths
USED = frozenset({
    "lanes_bond_info", "lanes_ctl_session_info", "lanes_flow_info", "lanes_group_info", "lanes_iscsi_session_info",
    "lanes_link_info", "lanes_member_preferred", "lanes_member_speed_bytes", "lanes_member_up",
    "lanes_multipath_map_info", "lanes_multipath_path_alua_state", "lanes_nfs_mount_transports",
    "lanes_nvme_controller_info", "lanes_nvme_path_info", "lanes_path_info",
})


class Labels:
    """One sample's labels by name, read like a dict (``lb["kind"]``, ``lb.get("netdev")``)
    without a dict per sample: a 4,000-path host has about 40,000 samples in ``USED``,
    and dicts of them were 12 MB of the scrape's peak memory."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: dict[str, int], values: tuple[str, ...]):
        self._index = index
        self._values = values

    def __getitem__(self, key: str) -> str:
        return self._values[self._index[key]]

    def get(self, key: str, default=None):
        i = self._index.get(key)
        return default if i is None else self._values[i]

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def __repr__(self) -> str:
        return repr({k: self._values[i] for k, i in self._index.items()})


def _rows(families: Iterable[Family]) -> dict[str, list[tuple[Labels, float]]]:
    out: dict[str, list[tuple[Labels, float]]] = defaultdict(list)
    for fam in families:
        if fam.name not in USED:
            continue
        index = {k: i for i, k in enumerate(fam.labels)}
        out[fam.name].extend([(Labels(index, lv), v) for lv, v in zip(fam.lvs, fam.values)])
    return out


def gbits(bytes_per_s: float | None) -> str:
    if not bytes_per_s:
        return "unknown speed"
    g = bytes_per_s * 8 / 1e9
    return f"{g:g} Gbit/s" if g >= 1 else f"{bytes_per_s * 8 / 1e6:g} Mbit/s"


class _Model:
    """The parts of one scrape the checks need."""

    def __init__(self, families: Iterable[Family]):
        r = _rows(families)
        self.r = r
        self.groups: dict[tuple[str, str], Labels] = {(lb["kind"], lb["group"]): lb for lb, _ in r["lanes_group_info"]}
        #: (kind, group) -> member -> lanes_member_up; the same for the speeds
        self.members: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        for lb, v in r["lanes_member_up"]:
            self.members[(lb["kind"], lb["group"])][lb["member"]] = v
        self.speeds: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        for lb, v in r["lanes_member_speed_bytes"]:
            self.speeds[(lb["kind"], lb["group"])][lb["member"]] = v
        self.link_kind = {lb["link"]: lb.get("kind", "") for lb, _ in r["lanes_link_info"]}
        self.hash_policy = {lb["bond"]: lb.get("xmit_hash_policy", "") for lb, _ in r["lanes_bond_info"]}

    def aggregate(self, netdev: str) -> tuple[str, str] | None:
        """(kind, group) of the aggregate a NIC is, following a VLAN (bond0.100) down."""
        for name in (netdev, netdev.rsplit(".", 1)[0] if "." in netdev else None):
            if not name:
                continue
            for kind in AGGREGATE_KINDS:
                if (kind, name) in self.groups and len(self.members.get((kind, name), {})) >= 2:
                    return kind, name
        return None

    def lane_speed(self, key: tuple[str, str]) -> float | None:
        speeds = [v for v in self.speeds.get(key, {}).values() if v]
        return max(speeds) if speeds else None

    def shape(self, key: tuple[str, str]) -> str:
        n = len(self.members.get(key, {}))
        return f"{n} × {gbits(self.lane_speed(key))}"


def _fix(platform: str, what: str, **kw) -> str:
    linux = {
        "iscsi": (
            "Give each NIC its own open-iscsi iface and log in once per iface, then let dm-multipath spread I/O "
            "(path_grouping_policy multibus, or group_by_prio with ALUA): "
            "iscsiadm -m iface -I iface-<nic> --op=new; iscsiadm -m iface -I iface-<nic> --op=update -n iface.net_ifacename -v <nic>; "
            "iscsiadm -m node -T {subject} -I iface-<nic> --login. Take the NICs out of {group} (or give the storage VLAN one address per member) so each session has its own lane."
        ),
        "iscsi_target": (
            "Have the initiator {subject} log in once per target portal over separate NICs and run MPIO; on this target give each NIC "
            "its own portal address (LIO: one portal per NIC in the target's TPG) instead of one address on {group}."
        ),
        "nvme": "Connect once per NIC with nvme connect --host-iface=<nic> (one controller per lane) and use native multipath with iopolicy round-robin or queue-depth.",
        "nfs": "Mount with nconnect=4 (Linux 5.3+; e.g. mount -o remount is not enough: unmount and mount with -o nconnect=4) and set {group}'s xmit_hash_policy to layer3+4 so the connections spread.",
        "hash_l4": (
            "{group} already hashes on ports (layer3+4), and these {flows} flows still land on one member: a few flows hash "
            "unevenly (consecutive source ports share a member, layer3+4 drops the lowest bit). Give the workload more flows "
            "(one iSCSI session per NIC with MPIO, NFS nconnect) or take the storage traffic off the bond onto one NIC per path."
        ),
        "hash": "Hash on ports as well: xmit_hash_policy=layer3+4 (/sys/class/net/{group}/bonding/xmit_hash_policy, or BONDING_OPTS / nmcli connection modify {group} bond.options \"mode=802.3ad,xmit_hash_policy=layer3+4\"), and use L3+L4 hashing on the switch too.",
        "routes": (
            "The kernel's routes send every storage connection of {group} out of {member}: give each NIC its own source address and "
            "bind one iSCSI session per NIC (iscsiadm iface with iface.net_ifacename), or add a policy rule per source address "
            "(ip rule add from <address of the NIC> table <n>; ip route add <portal network> dev <NIC> table <n>)."
        ),
        "paths": "Bind each iSCSI session to its own NIC (iscsiadm iface with iface.net_ifacename, one per NIC) or put each portal in its own subnet so the kernel routes the paths over different NICs.",
        "failover": "Use path_grouping_policy multibus (all paths equal) or group_by_prio (ALUA) for this map in /etc/multipath.conf, then multipathd reconfigure.",
    }
    illumos = {
        "iscsi": (
            "Do not run iSCSI over an aggregation or IPMP group: give each NIC its own IP interface, enable MPxIO (stmsboot -D iscsi -e), "
            "add one discovery address per target portal and/or iscsiadm modify initiator-node --configured-sessions 2 so {subject} gets one session per lane."
        ),
        "iscsi_target": (
            "Give each NIC its own address and create one COMSTAR target portal group per NIC (itadm create-tpg tpg-a <addr-a>; itadm modify-target -t tpg-a,tpg-b <target>), "
            "so initiator {subject} logs in once per portal and MPIO spreads the I/O."
        ),
        "nvme": "Connect once per NIC and use multipathing.",
        "nfs": "Use NFS session trunking or several client addresses; an aggregation gives one TCP connection one port.",
        "hash": "Use L4 hashing: dladm modify-aggr -P L3,L4 {group}, and L3+L4 hashing on the switch.",
        "hash_l4": "{group} already hashes on L4; {flows} flows are too few to spread: use one IP interface per NIC with MPxIO, or more connections.",
        "routes": "Every storage connection of {group} leaves by {member}: give each NIC its own IP interface and address and log in once per address (MPxIO).",
        "paths": "Give each path its own NIC (one IP interface per NIC, one target portal per subnet).",
        "failover": "Set the MPxIO load-balance policy to round-robin (mpathadm modify mpath-support -b round-robin libmpscsi_vhci.so).",
    }
    # FreeBSD: ctl.conf(5) portal-group "listen" addresses, lagg(4) "lagghash l2,l3,l4"
    freebsd = {
        **linux,
        "iscsi_target": (
            "Give each NIC its own address and portal: in /etc/ctl.conf list one listen address per NIC in the portal-group "
            "(or one portal-group per NIC) instead of one address on {group}, then service ctld reload, "
            "so initiator {subject} logs in once per portal and its MPIO (e.g. VMware port binding with the round-robin PSP) spreads the I/O."
        ),
        "hash": "Hash on ports as well: ifconfig {group} lagghash l3,l4 (and ifconfig_{group} in /etc/rc.conf), and L3+L4 hashing on the switch.",
    }
    table = {"illumos": illumos, "freebsd": freebsd}.get(platform, linux)
    return table[what].format(**kw)


def evaluate(families: Iterable[Family], platform: str = "linux") -> list[Finding]:
    m = _Model(families)
    out: list[Finding] = []
    illumos = platform == "illumos"
    out += _iscsi_initiator(m, platform, illumos)
    out += _target_side(m, platform, illumos)
    out += _ctl_target_side(m, platform)
    out += _nvme(m, platform)
    out += _nfs(m, platform)
    out += _flows_on_one_member(m, platform)
    out += _paths_share_one_nic(m, platform, illumos)
    out += _failover_only(m, platform, illumos)
    uniq = {f.labels(): f for f in out}
    return [uniq[k] for k in sorted(uniq)]


def _iscsi_initiator(m: _Model, platform: str, illumos: bool) -> list[Finding]:
    sessions: dict[str, list[Labels]] = defaultdict(list)
    for lb, _ in m.r["lanes_iscsi_session_info"]:
        sessions[lb["target"]].append(lb)
    out = []
    for target, ss in sorted(sessions.items()):
        ids = {s.get("session") or s.get("member") or s.get("portal") for s in ss}
        if len(ids) != 1:
            continue
        s = ss[0]
        agg = m.aggregate(s.get("netdev", ""))
        if agg is None:
            continue
        speed = gbits(m.lane_speed(agg))
        evidence = (
            ("kstat -p iscsi:::, iscsiadm list target -v" if illumos else f"/sys/class/iscsi_session/{s.get('session', '*')}/targetname, /sys/class/iscsi_connection/*/persistent_address"),
            (f"dladm show-aggr -x {agg[1]} / ipmpstat -i" if illumos else f"/sys/class/net/{agg[1]}/bonding/slaves, /sys/class/net/<member>/speed"),
        )
        out.append(
            Finding(
                "iscsi_single_session_over_aggregate", "warning", agg[0], agg[1], target,
                f"1 iSCSI session to {target} (portal {s.get('portal', '?')}) over {agg[1]}, {m.shape(agg)}: this session can never exceed {speed}.",
                evidence, _fix(platform, "iscsi", subject=target, group=agg[1]),
            )
        )
    return out


def _flows(m: _Model) -> list[Labels]:
    return [lb for lb, _ in m.r["lanes_flow_info"]]


def _port(endpoint: str) -> int:
    return int(endpoint.rpartition(":")[2] or 0)


def _addr(endpoint: str) -> str:
    return endpoint.rpartition(":")[0].strip("[]")


def _target_side(m: _Model, platform: str, illumos: bool) -> list[Finding]:
    by_initiator: dict[str, list[Labels]] = defaultdict(list)
    for f in _flows(m):
        if f["protocol"] == "iscsi" and _port(f["local"]) == 3260:
            by_initiator[_addr(f["remote"])].append(f)
    out = []
    for ini, fl in sorted(by_initiator.items()):
        if len(fl) != 1:
            continue
        f = fl[0]
        agg = (f["kind"], f["group"]) if f["kind"] in AGGREGATE_KINDS else m.aggregate(f["netdev"])
        if agg is None or len(m.members.get(agg, {})) < 2:
            continue
        out.append(
            Finding(
                "iscsi_single_session_over_aggregate", "warning", agg[0], agg[1], f"initiator {ini}",
                f"Initiator {ini} reaches this target with 1 iSCSI connection ({f['remote']} -> {f['local']}) over {agg[1]}, {m.shape(agg)}: "
                f"its I/O can never exceed {gbits(m.lane_speed(agg))}.",
                (
                    ("connstat -P -e -o laddr,lport,raddr,rport,inbytes,outbytes", "ipadm show-addr -p -o addrobj,addr", "dladm show-link -p -o link,class,mtu,state,over")
                    if illumos
                    else ("sock_diag (ss -tin sport = :3260)", f"the route to {ini} (ip route get {ini} from {_addr(f['local'])})")
                ),
                _fix(platform, "iscsi_target", subject=ini, group=agg[1]),
            )
        )
    return out


def _ctl_target_side(m: _Model, platform: str) -> list[Finding]:
    """FreeBSD ctld: an initiator with one session to a target, arriving on a lagg (the
    session's netdev is the interface whose network holds the initiator's address)."""
    sessions: dict[tuple[str, str], list[Labels]] = defaultdict(list)
    for lb, _ in m.r["lanes_ctl_session_info"]:
        sessions[(lb["target"], lb["initiator"])].append(lb)
    out = []
    for (target, ini), ss in sorted(sessions.items()):
        if len(ss) != 1 or not ss[0].get("netdev"):
            continue
        agg = m.aggregate(ss[0]["netdev"])
        if agg is None:
            continue
        s = ss[0]
        out.append(
            Finding(
                "iscsi_single_session_over_aggregate", "warning", agg[0], agg[1], f"initiator {ini}",
                f"Initiator {ini} reaches target {target} with 1 iSCSI session (from {s.get('initiator_address', '')}) over {agg[1]}, "
                f"{m.shape(agg)}: its I/O can never exceed {gbits(m.lane_speed(agg))}.",
                ("ctladm islist -v", "ifconfig -a", f"ifconfig -v {agg[1]}"),
                _fix(platform, "iscsi_target", subject=ini, group=agg[1]),
            )
        )
    return out


def _nvme(m: _Model, platform: str) -> list[Finding]:
    ctrls: dict[str, list[Labels]] = defaultdict(list)
    for lb, _ in m.r["lanes_nvme_controller_info"]:
        if lb.get("transport") == "tcp":
            ctrls[lb["nqn"]].append(lb)
    out = []
    for nqn, cs in sorted(ctrls.items()):
        if len(cs) != 1:
            continue
        agg = m.aggregate(cs[0].get("netdev", ""))
        if agg is None:
            continue
        out.append(
            Finding(
                "nvme_single_controller_over_aggregate", "warning", agg[0], agg[1], nqn,
                f"1 NVMe/TCP controller ({cs[0].get('controller')}) to {nqn} over {agg[1]}, {m.shape(agg)}: this connection can never exceed {gbits(m.lane_speed(agg))}.",
                (f"/sys/class/nvme/{cs[0].get('controller')}/address", f"/sys/class/net/{agg[1]}/bonding/slaves"),
                _fix(platform, "nvme"),
            )
        )
    return out


def _nfs(m: _Model, platform: str) -> list[Finding]:
    out = []
    for lb, v in m.r["lanes_nfs_mount_transports"]:
        agg = (lb["kind"], lb["group"])
        if v != 1 or lb["kind"] not in AGGREGATE_KINDS or len(m.members.get(agg, {})) < 2:
            continue
        out.append(
            Finding(
                "nfs_single_transport_over_aggregate", "warning", agg[0], agg[1], lb["mount"],
                f"NFS mount {lb['mount']} ({lb['export']}) has 1 transport over {agg[1]}, {m.shape(agg)}: it can never exceed {gbits(m.lane_speed(agg))}.",
                ("/proc/self/mountstats (xprt: lines, opts: nconnect=)", "sock_diag (the connection's source port)"),
                _fix(platform, "nfs", group=agg[1]),
            )
        )
    return out


def _flows_on_one_member(m: _Model, platform: str) -> list[Finding]:
    by_group: dict[tuple[str, str], list[Labels]] = defaultdict(list)
    for f in _flows(m):
        if f["group"]:
            by_group[(f["kind"], f["group"])].append(f)
    out = []
    for key, fl in sorted(by_group.items()):
        info = m.groups.get(key)
        if info is None or info.get("balancing") != "load" or len(fl) < 2:
            continue
        used = {f["member"] for f in fl}
        if len(used) != 1 or "" in used:
            continue
        up = [n for n, v in m.members.get(key, {}).items() if v == 1]
        if len(up) < 2:
            continue
        member = used.pop()
        out.append(
            Finding(
                "flows_on_one_member", "warning", key[0], key[1], member,
                f"All {len(fl)} storage flows over {key[1]} ({info.get('policy', '')}) leave by {member}; {len(up) - 1} other member(s) up carry none: "
                f"together they can never exceed {gbits(m.lane_speed(key))}.",
                (
                    ("sock_diag (ss -tin)", "the route of each connection (ip route get DST from SRC)", f"groups: {key[1]} in the lanes config")
                    if key[0] == "declared"
                    else ("sock_diag (ss -tin)", f"/sys/class/net/{key[1]}/bonding/xmit_hash_policy, /sys/class/net/{key[1]}/bonding/slaves")
                ),
                _fix(platform, _spread_fix(m, key), group=key[1], flows=len(fl), member=member),
            )
        )
    return out


def _spread_fix(m: _Model, key: tuple[str, str]) -> str:
    if key[0] == "declared":
        return "routes"  # no hash: the routes (or the iSCSI ifaces) pick the NIC
    return "hash_l4" if m.hash_policy.get(key[1]) in ("layer3+4", "encap3+4") else "hash"


def _paths_share_one_nic(m: _Model, platform: str, illumos: bool) -> list[Finding]:
    nics: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for name in ("lanes_path_info", "lanes_nvme_path_info"):
        for lb, _ in m.r[name]:
            if lb.get("netdev"):
                nics[(lb["kind"], lb["group"])][lb["member"]] = lb["netdev"]
    out = []
    for key, paths in sorted(nics.items()):
        used = set(paths.values())
        if len(paths) < 2 or len(used) != 1:
            continue
        nic = used.pop()
        out.append(
            Finding(
                "paths_share_one_nic", "warning", key[0], key[1], nic,
                f"{'Both' if len(paths) == 2 else f'All {len(paths)}'} paths of {key[1]} leave by {nic}: the map has {len(paths)} paths but one lane "
                f"({gbits(m.lane_speed(key))} at most), and losing {nic} loses every path.",
                ("/sys/class/iscsi_session/*/device, /sys/class/iscsi_connection/*/address", "ip route get <portal> from <local address>"),
                _fix(platform, "paths"),
            )
        )
    return out


def _failover_only(m: _Model, platform: str, illumos: bool) -> list[Finding]:
    alua: dict[str, dict[str, str]] = defaultdict(dict)
    for lb, v in m.r["lanes_multipath_path_alua_state"]:
        if v == 1:
            alua[lb["map"]][lb["path"]] = lb["state"]
    preferred: dict[tuple[str, str], list[float]] = defaultdict(list)
    for lb, v in m.r.get("lanes_member_preferred", []):
        preferred[(lb["kind"], lb["group"])].append(v)
    out = []
    seen = set()
    for lb, _ in m.r["lanes_multipath_map_info"]:
        name = lb["map"]
        if lb.get("policy") != "failover" or name in seen:
            continue
        seen.add(name)
        key = ("multipath", name)
        paths = m.members.get(key, {})
        if len(paths) < 2:
            continue
        if key in preferred:
            all_preferred = all(v == 1 for v in preferred[key])
        else:
            states = alua.get(name, {})
            all_preferred = not states or all(s == "active/optimized" for s in states.values())
        if not all_preferred:
            continue
        out.append(
            Finding(
                "mpio_failover_only", "info", "multipath", name, name,
                f"Map {name} has {len(paths)} paths, all preferred, but path_grouping_policy failover uses one at a time: "
                f"it moves at most one path's speed ({gbits(m.lane_speed(key))}).",
                ("multipathd show maps json (path_grouping_policy)", f"/sys/block/<path>/device/access_state ({', '.join(sorted(set(alua.get(name, {}).values()))) or 'no ALUA'})"),
                _fix(platform, "failover"),
            )
        )
    return out


def family(findings: Sequence[Finding]) -> Family:
    fam = gauge("finding", "A setup that can never be faster than one lane (SPEC §13); value 1. Run lanes_exporter --doctor for the explanation, the numbers, the evidence and the fix.", LABELS)
    for f in findings:
        fam.add(f.labels(), 1)
    return fam


# ------------------------------------------------------------------ the doctor's output


def render_text(findings: Sequence[Finding], failed: Mapping[str, str], source: str) -> str:
    lines = [f"lanes doctor: {source}"]
    if failed:
        for name, why in sorted(failed.items()):
            lines.append(f"collector {name} failed: {why}")
    if not findings:
        lines.append("No findings: nothing here is limited to one lane by its setup.")
        return "\n".join(lines) + "\n"
    lines.append(f"{len(findings)} finding(s):")
    for i, f in enumerate(findings, 1):
        lines += [
            "",
            f"{i}. [{f.severity}] {f.check} ({f.kind} {f.group}: {f.subject})",
            f"   {f.text}",
            f"   evidence: {'; '.join(f.evidence)}",
            f"   fix: {f.fix}",
        ]
    return "\n".join(lines) + "\n"


def render_json(findings: Sequence[Finding], failed: Mapping[str, str], source: str) -> str:
    doc = {"source": source, "collectors_failed": dict(sorted(failed.items())), "findings": [f.as_dict() for f in findings]}
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"
