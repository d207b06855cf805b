"""dm-multipath model: the states a path and a map live in, what sysfs, multipathd and the
dm status line say about them, and the joined views the series and groups are built from."""

from __future__ import annotations

import re

from exporter.api import record

# drivers/scsi/scsi_sysfs.c sdev_states[]: the ones a path lives in; created, quiesce,
# cancel, deleted and created-blocked are short transitions and count as unknown (the
# state series is current-state-only, SPEC §9, but the label values stay a small set)
SCSI_STATES = ("running", "blocked", "transport-offline", "offline", "unknown")
# drivers/scsi/scsi_sysfs.c sdev_show_access_state (scsi_access_state_name)
ALUA_STATES = ("active/optimized", "active/non-optimized", "standby", "unavailable", "lba-dependent", "offline", "transitioning", "unknown")
DM_PATH_STATES = ("active", "failed")
# libmultipath/checkers.c checker_state_names[]
CHECKER_STATES = ("ready", "faulty", "shaky", "ghost", "i/o pending", "i/o timeout", "delayed", "disconnected", "undef", "unknown")
WRAP32 = 1 << 32


# ------------------------------------------------------------------ models


@record
class SysfsPath:
    dev: str  # sdc
    devt: str | None  # 8:32
    scsi_state: str | None
    access_state: str | None
    ioerr_cnt: int | None
    iotmo_cnt: int | None
    vendor: str | None = None
    model: str | None = None
    transport: str = ""


def transport_of(link: str) -> str:
    """The transport a path device hangs off, from its /sys/block/<dev> link target:
    ``.../hostH/sessionN/target...`` is iSCSI (scsi_transport_iscsi.c), ``.../rport-H:C-N/``
    Fibre Channel (scsi_transport_fc.c), ``.../end_device-...`` SAS, ``nvme`` native NVMe."""
    if re.search(r"/session\d+/", link):
        return "iscsi"
    if "/rport-" in link:
        return "fc"
    if "/end_device-" in link:
        return "sas"
    if "/nvme" in link:
        return "nvme"
    return "scsi" if "/target" in link else ""


@record
class SysfsMap:
    dm: str  # dm-2
    name: str  # alias or WWID
    wwid: str
    devt: str | None
    suspended: bool | None
    paths: tuple[SysfsPath, ...]


@record
class PathState:
    """dm-level view of one path (multipathd or dm status line)."""

    dev: str | None  # sdX (multipathd) or None (dm status: only dev_t)
    devt: str | None
    dm_state: str | None  # active | failed
    checker: str | None
    priority: int | None
    fail_count: int | None
    host_adapter: str | None  # iSCSI: local address of the session


@record
class PathGroup:
    index: int  # 1-based
    state: str  # active | enabled | disabled
    selector: str | None
    priority: int | None
    paths: tuple[PathState, ...]


@record
class MapState:
    """dm-level view of one map."""

    name: str
    dm: str | None
    wwid: str | None
    features: str | None
    hwhandler: str | None
    vendor: str | None
    product: str | None
    path_faults: int | None
    groups: tuple[PathGroup, ...]
    source: str  # multipathd | dm




@record
class PathView:
    """One path with everything known about it, input to the group model."""

    map: str
    dev: str
    scsi_state: str | None
    access_state: str | None
    dm_state: str | None
    checker: str | None
    group: int | None
    group_active: bool | None
    priority: int | None
    fail_count: int | None
    io_errors: int | None
    io_timeouts: int | None
    read_bytes: int | None
    written_bytes: int | None
    vendor: str | None = None
    model: str | None = None
    target: str = ""
    portal: str = ""
    iface: str = ""
    netdev: str = ""
    local_address: str = ""
    transport: str = ""

    @property
    def up(self) -> bool:
        """Able to carry I/O now: dm says active (where known) and the SCSI device runs and
        its ALUA port is not unavailable/offline/transitioning."""
        if self.dm_state == "failed":
            return False
        # an NVMe namespace under dm-multipath (nvme_core.multipath=N) shows its
        # controller's state there: "live" (drivers/nvme/host/sysfs.c nvme_sysfs_show_state)
        if self.scsi_state is not None and self.scsi_state not in ("running", "live"):
            return False
        if self.access_state in ("unavailable", "offline", "transitioning"):
            return False
        return True


@record
class MapView:
    name: str
    wwid: str
    dm: str
    suspended: bool | None
    state: MapState | None
    selector: str
    policy: str
    read_bytes: int | None
    written_bytes: int | None
    paths: tuple[PathView, ...]
