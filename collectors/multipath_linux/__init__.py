"""Collector ``multipath`` (Linux dm-multipath): maps, their paths, and the NIC each path uses.

Sources, in layers:
  sysfs (always; no root)
    /sys/block/dm-N/dm/{uuid,name,suspended}, /sys/block/dm-N/slaves/   drivers/md/dm-sysfs.c;
        a map is a dm device whose uuid starts with ``mpath-`` (kpartx partitions are
        ``partN-mpath-``, LVM ``LVM-``: both left out)
    /sys/block/sdX/device/{state,access_state,ioerr_cnt,iotmo_cnt}        drivers/scsi/scsi_sysfs.c
        (the counters are ``0x%x`` of 32-bit atomics: unwrapped here)
    /proc/diskstats                                                        bytes of every path and map
  multipathd (optional; its unix socket, no exec; ``list|show`` is allowed for non-root)
    ``show maps json`` (libmultipath/print.c): dm state of each path, checker state, path
    groups and the active one, selector, features (queue_if_no_path), priorities.
    Socket: ``/run/multipathd.socket`` first, then the abstract ``@/org/kernel/linux/storage/
    multipathd`` (libmpathcmd/mpath_cmd.c mpath_connect__, Makefile.inc); framing: a native
    size_t length then the NUL-terminated text, both ways (mpath_cmd.c mpath_send_cmd,
    mpath_recv_reply_len; MAX_REPLY_LEN 32 MiB in mpath_cmd.h).  A reply ``timeout`` means
    the daemon could not take its lock within uxsock_timeout (multipathd/uxlsnr.c): the
    collector fails for that scrape, after asking ``show daemon`` (unlocked) whether the daemon
    is alive, so the error says busy or dead.
  dm status/table line (root-only fallback when multipathd does not answer)
    ``dmsetup status --target multipath`` and ``dmsetup table --target multipath``
    (grammar: drivers/md/dm-mpath.c multipath_status; multipath-tools libmultipath/dmparser.c)
  iSCSI sessions behind each path (collectors/iscsi_linux.py) for target, portal, iface, NIC.

The block devices themselves are never opened (a map with queue_if_no_path and no path
blocks any opener in D state).

Metrics: lanes_multipath_map_info, _map_suspended, _map_queue_if_no_path, _map_paths,
_map_paths_usable, _map_path_groups, _map_active_group, _map_read_bytes_total,
_map_written_bytes_total, _map_path_faults_total; per path _path_scsi_state, _path_alua_state,
_path_dm_state, _path_checker_state, _path_group, _path_group_active, _path_priority,
_path_failures, _path_io_errors_total, _path_io_timeouts_total; lanes_path_info (path -> iSCSI
session -> NIC and portal); the group model kind="multipath" (group = map, member = sdX; path
bytes are the members' receive/transmit bytes, map bytes are separate: never summed together).

Platform: Linux.  By hand: ``multipathd show maps json``; ``dmsetup status --target multipath``;
``grep . /sys/block/dm-*/dm/{name,uuid} /sys/block/sd*/device/state``; ``cat /proc/diskstats``.
"""

from __future__ import annotations

import dataclasses

from collectors import _facts, _path_roles
from collectors._iscsi_linux import SessionReader, disk_session_map
from collectors.multipath_linux.dm import grouping_policy, parse_dm_status, parse_dm_table, queue_if_no_path
from collectors.multipath_linux.families import map_families, path_families, path_info_family, path_statesets
from collectors.multipath_linux.groups import path_roles, to_groups
from collectors.multipath_linux.model import MapState, MapView, PathGroup, PathState, PathView, transport_of
from collectors.multipath_linux.multipathd import SOCKETS, pack_request, parse_multipathd_json, unpack_reply
from collectors.multipath_linux.sysfs import Unwrap32, parse_hex_counter, read_sysfs_maps
from exporter.api import Collected, Collector, CommandNotFound, CommandTimeout, Family, HostError, ParseError

#: the package's layers: model (states, sysfs/multipathd/dm values, the joined views),
#: sysfs, multipathd, dm (the three sources), groups (kind="multipath"), families
__all__ = [
    "MultipathLinux",
    "Unwrap32",
    "grouping_policy",
    "pack_request",
    "parse_dm_status",
    "parse_dm_table",
    "parse_hex_counter",
    "parse_multipathd_json",
    "queue_if_no_path",
    "to_groups",
    "transport_of",
    "unpack_reply",
]


class MultipathLinux(Collector):
    name = "multipath"
    platforms = frozenset({"linux"})
    OPTIONS = {"socket": "str", "socket_timeout": "duration", "dmsetup": "bool"}
    description = "dm-multipath maps and paths from sysfs, multipathd (socket) or the dm status line"

    def __init__(self, host, ctx):
        super().__init__(host, ctx)
        self.unwrap = Unwrap32()
        self.sessions = SessionReader()
        self.identity: dict = {}
        self.statesets = path_statesets()
        _path_roles.enable(host)

    # -- dm-level sources

    def _timeouts(self) -> tuple[float, float]:
        total = float(self.ctx.option("timeout", 8.0))
        req = self.ctx.option("socket_timeout")
        req = float(req) if req else min(5.0, 0.6 * total)  # a little above uxsock_timeout (4 s)
        return req, min(1.0, 0.2 * total)

    def _multipathd(self, command: str, timeout: float) -> str:
        sock = self.ctx.option("socket")
        r = self.host.unix_request(
            ["multipathd", *command.split()],
            [sock] if sock else list(SOCKETS),
            pack_request(command),
            timeout=timeout,
            unpack=unpack_reply,
        )
        if not r.ok:
            raise HostError(f"multipathd {command}: exit status {r.returncode}: {r.stderr.strip()[:120]}")
        return r.stdout

    def _daemon_state(self, timeout: float) -> str:
        """``show daemon`` is registered unlocked (multipathd/callbacks.c): it answers while
        the daemon's lock is held, so it tells a busy daemon from a dead one."""
        try:
            return "busy: " + self._multipathd("show daemon", timeout).strip()[:80]
        except (HostError, ParseError) as e:
            return f"not answering ({e})"

    def read_dm_state(self) -> dict[str, MapState]:
        """Maps by dm name (dm-N) or by map name; {} when neither source is available."""
        req, probe = self._timeouts()
        try:
            text = self._multipathd("show maps json", req)
        except CommandNotFound:
            return self._dmsetup()  # multipathd not running: not a failure
        except CommandTimeout as e:
            raise HostError(f"{e}; daemon {self._daemon_state(probe)}") from None
        try:
            maps = parse_multipathd_json(text)
        except ParseError as e:
            if text.strip() == "timeout":
                raise HostError(f"{e}; daemon {self._daemon_state(probe)}") from None
            raise
        return {m.dm or m.name: m for m in maps} | {m.name: m for m in maps}

    def _dmsetup(self) -> dict[str, MapState]:
        if not self.ctx.option("dmsetup", True):
            return {}
        req = self._timeouts()[0] / 2  # two commands inside the socket's share of the timeout
        try:
            status = self.host.run("dmsetup", ["status", "--target", "multipath"], timeout=req)
        except CommandNotFound:
            return {}
        if not status.ok:
            return {}  # not root (DM ioctls need CAP_SYS_ADMIN, dm-ioctl.c ctl_ioctl)
        maps = parse_dm_status(status.stdout)
        try:
            table = self.host.run("dmsetup", ["table", "--target", "multipath"], timeout=req)
        except CommandNotFound:
            table = None
        tables = parse_dm_table(table.stdout) if table is not None and table.ok else {}
        out = {}
        for name, m in maps.items():
            feats, hw, sels = tables.get(name, (None, None, ()))
            pgs = tuple(dataclasses.replace(g, selector=sels[i] if i < len(sels) else None) for i, g in enumerate(m.groups))
            out[name] = dataclasses.replace(m, features=feats, hwhandler=hw, groups=pgs)
        return out

    # -- assembling

    def collect(self) -> Collected | list[Family]:
        try:
            collected, roles = self._collect()
        except BaseException:
            _path_roles.publish_failed(self.host, self.ctx)
            raise
        # the iSCSI sessions' preference and balancing come from these maps (SPEC §12)
        _path_roles.publish(self.host, self.ctx, roles)
        return collected

    def _collect(self) -> tuple[Collected | list[Family], dict[str, tuple[bool, str]]]:
        smaps = read_sysfs_maps(self.host, self.identity, _facts.sys_block(self.host, self.ctx))
        if not smaps:
            return [], {}
        dm = self.read_dm_state()
        disks = _facts.diskstats(self.host, self.ctx)
        sessions = disk_session_map(_facts.iscsi_sessions(self.host, self.ctx, self.sessions))
        links = _facts.links(self.host, self.ctx)
        views = []
        keys = set()
        for sm in sorted(smaps, key=lambda m: m.name):
            state = dm.get(sm.dm) or dm.get(sm.name)
            by_dev: dict[str, tuple[PathGroup, PathState]] = {}
            for g in state.groups if state else ():
                for p in g.paths:
                    by_dev[p.dev or p.devt or ""] = (g, p)
            paths = []
            for sp in sm.paths:
                g, p = by_dev.get(sp.dev) or by_dev.get(sp.devt or "") or (None, None)
                ds = disks.get(sp.dev)
                sess = sessions.get(sp.dev)
                kerr, ktmo = (sp.dev, sp.devt, "err"), (sp.dev, sp.devt, "tmo")
                keys.add(kerr)
                keys.add(ktmo)
                ident = sess.identity if sess else None
                paths.append(
                    PathView(
                        map=sm.name,
                        dev=sp.dev,
                        scsi_state=sp.scsi_state,
                        access_state=sp.access_state,
                        dm_state=p.dm_state if p else None,
                        checker=p.checker if p else None,
                        group=g.index if g else None,
                        group_active=(g.state == "active") if g else None,
                        priority=p.priority if p else None,
                        fail_count=p.fail_count if p else None,
                        io_errors=self.unwrap(kerr, sp.ioerr_cnt),
                        io_timeouts=self.unwrap(ktmo, sp.iotmo_cnt),
                        read_bytes=ds.read_bytes if ds else None,
                        written_bytes=ds.write_bytes if ds else None,
                        vendor=sp.vendor,
                        model=sp.model,
                        target=ident.target if ident else "",
                        portal=ident.portal if ident else "",
                        iface=ident.iface if ident else "",
                        netdev=(sess.netdev or "") if sess else "",
                        local_address=(ident.local_address if ident and ident.local_address else (p.host_adapter or "") if p and sess else ""),
                        transport="iscsi" if sess else sp.transport,
                    )
                )
            selector = ""
            if state:
                active = [g for g in state.groups if g.state == "active"]
                sel = (active or list(state.groups) or [None])[0]
                selector = (sel.selector or "") if sel else ""
            md = disks.get(sm.dm)
            views.append(
                MapView(
                    name=sm.name,
                    wwid=sm.wwid,
                    dm=sm.dm,
                    suspended=sm.suspended,
                    state=state,
                    selector=selector,
                    policy=grouping_policy(state.groups) if state else "unknown",
                    read_bytes=md.read_bytes if md else None,
                    written_bytes=md.write_bytes if md else None,
                    paths=tuple(paths),
                )
            )
        self.unwrap.keep(keys)
        fams = map_families(views) + path_families(views, self.statesets)
        fams.append(path_info_family(views))
        groups = to_groups(views, links, self.ctx.config)
        return Collected(fams, groups), path_roles(groups)
