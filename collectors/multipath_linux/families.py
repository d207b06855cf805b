"""The lanes_multipath_* and lanes_path_* series."""

from __future__ import annotations

from collections.abc import Sequence

from collectors.multipath_linux.dm import queue_if_no_path
from collectors.multipath_linux.model import ALUA_STATES, CHECKER_STATES, DM_PATH_STATES, SCSI_STATES, MapView
from exporter.api import Family, Stateset, counter, gauge, info


def path_info_family(views: Sequence[MapView]) -> Family:
    """lanes_path_info: joins a kind=multipath member to its iSCSI session, NIC and portal.
    ``netdev`` joins lanes_link_info{link}; kind/group/member join the lanes_member_* series."""
    pi = info(
        "path_info",
        "A storage path and what it runs over; value 1. netdev joins lanes_link_info{link}. From /sys/block/<path> -> "
        "/sys/class/iscsi_session (targetname, connection persistent_address:port, ifacename), /sys/class/iscsi_host "
        "(netdev, ipaddress) and /proc/net/route when the iface is not bound.",
        ("kind", "group", "member", "target", "portal", "iface", "netdev", "local_address", "transport"),
    )
    add = pi.add
    for v in views:
        for p in v.paths:
            add(("multipath", v.name, p.dev, p.target, p.portal, p.iface, p.netdev, p.local_address, p.transport or "unknown"), 1)
    return pi


def map_families(views: Sequence[MapView]) -> list[Family]:
    L = ("map",)
    mi = info(
        "multipath_map_info",
        "dm-multipath map; value 1. From /sys/block/dm-N/dm/{name,uuid} and, where available, multipathd show maps json "
        "(vend, prod, features, hwhandler, selector) or dmsetup table; source names which.",
        ("map", "wwid", "dm", "vendor", "product", "selector", "policy", "features", "hwhandler", "source"),
    )
    su = gauge("multipath_map_suspended", "1 if the dm device is suspended. From /sys/block/dm-N/dm/suspended.", L)
    q = gauge(
        "multipath_map_queue_if_no_path",
        "1 if the map queues I/O when no path is usable (I/O hangs instead of failing). From the features of multipathd show maps json or dmsetup table.",
        L,
    )
    np_ = gauge("multipath_map_paths", "Paths of the map (failed ones included). From /sys/block/dm-N/slaves.", L)
    nu = gauge("multipath_map_paths_usable", "Paths able to carry I/O now (dm active, SCSI running, ALUA port usable). From sysfs and multipathd or the dm status line.", L)
    ng = gauge("multipath_map_path_groups", "Path groups of the map. From multipathd show maps json or dmsetup status.", L)
    ag = gauge("multipath_map_active_group", "1-based index of the active path group, 0 if none. From multipathd show maps json or dmsetup status.", L)
    rb = counter("multipath_map_read_bytes_total", "Bytes read through the map (the sum the paths carried; never add both). From /proc/diskstats of dm-N.", L)
    wb = counter("multipath_map_written_bytes_total", "Bytes written through the map. From /proc/diskstats of dm-N.", L)
    pf = counter("multipath_map_path_faults_total", "Path failures multipathd counted for the map since it started. From multipathd show maps json path_faults.", L)
    for v in views:
        st = v.state
        vendor = (st.vendor if st else None) or next((p.vendor for p in v.paths if p.vendor), "")
        product = (st.product if st else None) or next((p.model for p in v.paths if p.model), "")
        mi.add(
            (
                v.name, v.wwid, v.dm, vendor, product,
                v.selector, v.policy,
                (st.features or "") if st else "", (st.hwhandler or "") if st else "",
                st.source if st else "sysfs",
            ),
            1,
        )
        lv = (v.name,)
        su.add(lv, v.suspended)
        q.add(lv, queue_if_no_path(st.features) if st else None)
        np_.add(lv, len(v.paths))
        nu.add(lv, sum(1 for p in v.paths if p.up))
        if st:
            ng.add(lv, len(st.groups))
            ag.add(lv, next((g.index for g in st.groups if g.state == "active"), 0))
            pf.add(lv, st.path_faults)
        rb.add(lv, v.read_bytes)
        wb.add(lv, v.written_bytes)
    return [mi, su, q, np_, nu, ng, ag, rb, wb, pf]


def path_statesets() -> tuple[Stateset, Stateset, Stateset, Stateset]:
    """SCSI, ALUA, dm and checker state series of paths (one set per collector)."""
    return Stateset(SCSI_STATES), Stateset(ALUA_STATES), Stateset(DM_PATH_STATES), Stateset(CHECKER_STATES)


def path_families(views: Sequence[MapView], statesets: tuple[Stateset, ...] | None = None) -> list[Family]:
    L = ("map", "path")
    scsi, alua, dms, checker = statesets or path_statesets()
    ss = gauge("multipath_path_scsi_state", "SCSI device state of the path, one series per state. From /sys/block/<path>/device/state.", (*L, "state"))
    al = gauge("multipath_path_alua_state", "ALUA access state of the path's target port, one series per state. From /sys/block/<path>/device/access_state.", (*L, "state"))
    dm = gauge("multipath_path_dm_state", "dm-multipath's own state of the path (failed = taken out of use). From multipathd show maps json dm_st or dmsetup status A/F.", (*L, "state"))
    ck = gauge("multipath_path_checker_state", "multipathd path checker state, one series per state. From multipathd show maps json chk_st.", (*L, "state"))
    pg = gauge("multipath_path_group", "1-based path group index of the path. From multipathd show maps json or dmsetup status.", L)
    pa = gauge("multipath_path_group_active", "1 if the path belongs to the active path group (only that group carries I/O). From multipathd show maps json or dmsetup status.", L)
    pr = gauge("multipath_path_priority", "Path priority (ALUA: 50 optimized, 10 non-optimized, 1 standby). From multipathd show maps json pri.", L, signed=True)
    fc = gauge("multipath_path_failures", "Times the kernel failed the path since the table was loaded (a gauge: it resets on reload). From dmsetup status fail_count.", L)
    ie = counter("multipath_path_io_errors_total", "SCSI commands of the path that ended in error (32-bit hex counter, unwrapped). From /sys/block/<path>/device/ioerr_cnt.", L)
    it = counter("multipath_path_io_timeouts_total", "SCSI commands of the path that timed out (unwrapped). From /sys/block/<path>/device/iotmo_cnt.", L)
    for v in views:
        for p in v.paths:
            lv = (v.name, p.dev)  # str: map name and sysfs device name
            scsi.add(ss, lv, p.scsi_state)
            alua.add(al, lv, p.access_state)
            dms.add(dm, lv, p.dm_state if p.dm_state in DM_PATH_STATES else None)
            checker.add(ck, lv, p.checker)
            pg.add(lv, p.group)
            pa.add(lv, p.group_active)
            pr.add(lv, p.priority)
            fc.add(lv, p.fail_count)
            ie.add(lv, p.io_errors)
            it.add(lv, p.io_timeouts)
    for sset in (scsi, alua, dms, checker):
        sset.roll()
    return [ss, al, dm, ck, pg, pa, pr, fc, ie, it]
