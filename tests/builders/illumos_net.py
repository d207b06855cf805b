"""Builds the hand-made illumos network scenarios (the folders are committed; a test rebuilds them).

python -m tests.builders <name>  # then:
pytest tests/test_scenarios.py --update-golden -k illumos-net

Formats (no real ``-p``/``-P`` capture exists yet, research/real-captures.md Part S; these
follow the illumos-gate code paths):

* ``dladm ... -p -o``: fields joined by ``:``, a ``:`` or ``\\`` inside a field escaped with
  ``\\`` (libofmt), empty fields empty.  show-link OVER of an aggregation is ``,``-joined
  (dladm.c print_link_topology); aggregated ports read STATE ``unknown`` in show-link
  because their ``link`` kstat is unreadable (get_linkstate falls back to "unknown").
  show-aggr -x: aggregation row with empty PORT/PORTSTATE, LINK repeated on port rows
  (print_xaggr_cb), SPEED ``%uMb``, MAC as ``_link_ntoa`` prints it (no leading zeros).
  show-aggr -L: LINK only on the first port row (print_lacp_cb).
* ``ipmpstat -P``: same escaping; INTERFACES ``active (inactive) [unusable]``; FDT ``%.2fs``;
  IPv6 addresses escaped (``fe80\\:\\:1``); ``-t`` prints only the address family that
  probes (targinfo_output_cbfunc).
* ``kstat -p``: ``module:instance:name:stat<TAB>value``, kstats sorted by module, instance,
  name and statistics by name (case-insensitive, kstat.c), with ``class``, ``crtime`` and
  ``snaptime`` added; a port inside an aggregation has a header-only ``link`` kstat; 32-bit
  counters are the 64-bit ones modulo 2^32 (dls_stat.c); link_state unknown prints as
  4294967295; an up VNIC reports link_duplex 0 (real-captures I-1).
"""

from __future__ import annotations

import os

from collectors.aggr_illumos import EXTENDED_ARGS, LACP_ARGS, SUMMARY_ARGS
from collectors.ipmp_illumos import GROUP_ARGS, IF_ARGS, TARGET_ARGS, batched_selectors
from collectors.link_illumos import SHOW_LINK_ARGS, SHOW_PHYS_ARGS, Topology, kstat_commands, parse_show_link, parse_show_phys

from .sysfs import clear, command, snapshot_yml

UNKNOWN = 4294967295  # LINK_STATE_UNKNOWN (-1) printed as uint32


def link_stats(rbytes: int, ipackets: int, obytes: int, opackets: int, *, speed: int, state: int = 1, duplex: int = 2,
               ierrors: int = 0, oerrors: int = 0, norcvbuf: int = 0, noxmtbuf: int = 0, zone: str = "global") -> dict:
    """The statistics of dls_stat.c (link:0:<link>); 32-bit ones are the 64-bit ones mod 2^32."""
    m = 1 << 32
    return {
        "brdcstrcv": 1207, "brdcstxmt": 311, "collisions": 0, "ierrors": ierrors, "ifspeed": speed,
        "ipackets": ipackets % m, "ipackets64": ipackets, "link_duplex": duplex, "link_state": state,
        "multircv": 5120, "multixmt": 903, "norcvbuf": norcvbuf, "noxmtbuf": noxmtbuf,
        "obytes": obytes % m, "obytes64": obytes, "oerrors": oerrors, "opackets": opackets % m, "opackets64": opackets,
        "rbytes": rbytes % m, "rbytes64": rbytes, "unknowns": 3, "zonename": zone,
    }


def mac_stats(*args, **kw) -> dict:
    """A driver mac kstat (mac_stat.c + mac_ether.c): the same generic names plus link_up
    and some Ethernet statistics (no zonename)."""
    st = link_stats(*args, **kw)
    del st["zonename"]
    st.update({"link_up": 1 if st["link_state"] == 1 else 0, "align_errors": 0, "fcs_errors": 0, "link_autoneg": 1})
    return st


def kstat_text(blocks: list[tuple[str, int, str, dict | None]]) -> str:
    """kstat -p output; stats None = header-only (kstat_read failed)."""
    out = []
    for n, (mod, inst, name, stats) in enumerate(sorted(blocks, key=lambda b: (b[0].lower(), b[1], b[2].lower()))):
        st = dict(stats or {})
        st["class"] = "net"
        st["crtime"] = f"{41.337159245 + n:.9f}"
        st["snaptime"] = f"{8731552.402771188 + n / 1000:.9f}"
        for k in sorted(st, key=str.lower):
            out.append(f"{mod}:{inst}:{name}:{k}\t{st[k]}")
    return "\n".join(out) + "\n"


def no_storage(d: str) -> None:
    """This story is about the network: the host runs no iSCSI initiator, so the initiator
    kstats the iscsi collector asks for (collectors/iscsi_illumos.py KSTAT_SELECTORS) do not
    exist and kstat(8) exits 1 with no output (kstat.c main returns g_matched).  mpathadm,
    iscsiadm, stmfadm and itadm are not recorded: replayed as not installed."""
    command(d, "kstat", ["-p", "iscsi:*:/^iscsi_(hba|sess|sess_io)_[0-9_]+$/"], "", rc=1)


NOT_RUNNING = "ipmpstat: cannot contact in.mpathd(1M) -- is IPMP in use?\n"


def network(d: str, show_link: str, show_phys: str, blocks: list[tuple[str, int, str, dict | None]], *, aggr: bool = False, ipmp: bool = False) -> None:
    """Record what the link collector reads (dladm show-link/show-phys and the kstat
    read built from them) and, unless ``aggr``/``ipmp`` say the scenario records its own,
    a host without aggregations and without in.mpathd.  For other scenario builders
    (illumos storage hosts need the link table too), e.g.::

        network(d, "e1000g0:phys:1500:up:\\n", "e1000g0:Ethernet:up:1000:full:e1000g0\\n",
                [("link", 0, "e1000g0", link_stats(1, 2, 3, 4, speed=10**9)),
                 ("e1000g", 0, "mac", mac_stats(1, 2, 3, 4, speed=10**9))])
    """
    command(d, "dladm", SHOW_LINK_ARGS, show_link)
    command(d, "dladm", SHOW_PHYS_ARGS, show_phys)
    topo = Topology(parse_show_link(show_link), parse_show_phys(show_phys))
    wanted = {name for name in topo.links} | set(topo.drivers())
    for args in kstat_commands(topo):
        mine = [b for b in blocks if (b[0] == "link" and b[2] in wanted) or (b[0] in wanted and b[2] == "mac")]
        command(d, "kstat", args, kstat_text(mine))
    if not aggr:
        command(d, "dladm", SUMMARY_ARGS, "")
    if not ipmp:
        command(d, "ipmpstat", GROUP_ARGS, "", err=NOT_RUNNING, rc=1)


def storage_head_aggr(out: str) -> None:
    """aggr0 (LACP active, 2x10G) where ixgbe1 has link but is not collecting: the switch
    side is not set up for LACP (defaulted), so only ixgbe0 carries the iSCSI VNIC."""
    d = os.path.join(out, "illumos-net-aggr-lacp-not-collecting")
    clear(d)
    snapshot_yml(
        d,
        "illumos",
        "hand-made from the illumos-gate formats (dladm.c show-link/show-phys/show-aggr -x/-L "
        "in -p mode, kstat.c -p, dls_stat.c and mac_stat.c statistic names): an OmniOS storage "
        "head with aggr0 (LACP active, ixgbe0+ixgbe1) whose port ixgbe1 has link but is not "
        "collecting/distributing (partner defaulted), an iSCSI VNIC over aggr0 and a management "
        "NIC; in.mpathd is not running (no IPMP); no iSCSI initiator kstats, no MPxIO or COMSTAR tools recorded.",
        hostname="tank-a",
    )
    show_link = (
        "aggr0:aggr:9000:up:ixgbe0,ixgbe1\n"
        "e1000g0:phys:1500:up:\n"
        "ixgbe0:phys:9000:unknown:\n"
        "ixgbe1:phys:9000:unknown:\n"
        "stor0:vnic:9000:up:aggr0\n"
    )
    show_phys = (
        "e1000g0:Ethernet:up:1000:full:e1000g0\n"
        "ixgbe0:Ethernet:up:10000:full:ixgbe0\n"
        "ixgbe1:Ethernet:up:10000:full:ixgbe1\n"
    )
    ix0 = (4_812_345_678_901, 3_301_234_567, 5_120_987_654_321, 3_502_345_678)
    ix1 = (1_204_416, 9_412, 88_210, 1_377)  # LACPDUs and little else
    blocks = [
        ("link", 0, "aggr0", link_stats(ix0[0] + ix1[0], ix0[1] + ix1[1], ix0[2] + ix1[2], ix0[3] + ix1[3], speed=10_000_000_000)),
        ("link", 0, "e1000g0", link_stats(81_234_567, 402_211, 120_456_789, 388_120, speed=1_000_000_000)),
        ("link", 0, "ixgbe0", None),
        ("link", 0, "ixgbe1", None),
        ("link", 0, "stor0", link_stats(4_801_000_000_000, 3_300_000_000, 5_119_000_000_000, 3_500_000_000, speed=10_000_000_000, duplex=0)),
        ("e1000g", 0, "mac", mac_stats(81_234_567, 402_211, 120_456_789, 388_120, speed=1_000_000_000)),
        ("ixgbe", 0, "mac", mac_stats(*ix0, speed=10_000_000_000, norcvbuf=12)),
        ("ixgbe", 1, "mac", mac_stats(*ix1, speed=10_000_000_000)),
    ]
    network(d, show_link, show_phys, blocks, aggr=True)
    command(d, "dladm", SUMMARY_ARGS, "aggr0:L3,L4:auto:active:short\n")
    command(
        d,
        "dladm",
        EXTENDED_ARGS,
        "aggr0::10000Mb:full:up:0\\:1b\\:21\\:aa\\:bb\\:10:\n"
        "aggr0:ixgbe0:10000Mb:full:up:0\\:1b\\:21\\:aa\\:bb\\:10:attached\n"
        "aggr0:ixgbe1:10000Mb:full:up:0\\:1b\\:21\\:aa\\:bb\\:11:attached\n",
    )
    command(d, "dladm", LACP_ARGS, "aggr0:ixgbe0:yes:yes:yes:yes:no:no\n:ixgbe1:yes:no:no:no:yes:no\n")
    no_storage(d)


def ipmp_degraded(out: str) -> None:
    """ipmp0 (active-active over ixgbe2+ixgbe3) degraded: ixgbe3 lost its link; ipmp1
    (igb0 active, igb1 standby) is ok.  Also a VNIC (duplex 0, ifspeed 0), a tunnel with
    unknown link state and an unplumbed port (header-only link kstat)."""
    d = os.path.join(out, "illumos-net-ipmp-degraded")
    clear(d)
    snapshot_yml(
        d,
        "illumos",
        "hand-made from the illumos-gate formats (ipmpstat.c -P -g/-i/-t, dladm.c -p, kstat.c -p, "
        "ipmp.c/dls_stat.c/mac_stat.c statistic names): ipmp0 degraded (ixgbe3 link down, "
        "probe failed), ipmp1 ok with a standby interface and IPv6 probe targets; a VNIC with "
        "duplex 0 and ifspeed 0, an IP tunnel with link_state unknown, an unplumbed port, no "
        "aggregations; no iSCSI initiator kstats, no MPxIO or COMSTAR tools recorded.",
        hostname="tank-b",
    )
    show_link = (
        "igb0:phys:1500:up:\n"
        "igb1:phys:1500:up:\n"
        "iptun0:iptun:1480:unknown:\n"
        "ixgbe2:phys:9000:up:\n"
        "ixgbe3:phys:9000:down:\n"
        "ixgbe4:phys:9000:unknown:\n"
        "vnic0:vnic:1500:up:igb0\n"
    )
    show_phys = (
        "igb0:Ethernet:up:1000:full:igb0\n"
        "igb1:Ethernet:up:1000:full:igb1\n"
        "ixgbe2:Ethernet:up:10000:full:ixgbe2\n"
        "ixgbe3:Ethernet:down:0:unknown:ixgbe3\n"
        "ixgbe4:Ethernet:down:0:unknown:ixgbe4\n"
    )
    igb0 = (912_345_678, 1_234_567, 456_789_012, 987_654)
    igb1 = (65_536, 1_024, 4_096, 64)
    ix2 = (7_700_000_000_123, 5_100_000_001, 6_600_000_000_456, 4_400_000_002)
    ix3 = (7_650_000_000_789, 5_050_000_003, 6_550_000_000_012, 4_350_000_004)
    blocks = [
        ("link", 0, "igb0", link_stats(*igb0, speed=1_000_000_000)),
        ("link", 0, "igb1", link_stats(*igb1, speed=1_000_000_000)),
        ("link", 0, "iptun0", link_stats(10_240, 80, 20_480, 160, speed=0, state=UNKNOWN, duplex=0)),
        ("link", 0, "ixgbe2", link_stats(*ix2, speed=10_000_000_000)),
        ("link", 0, "ixgbe3", link_stats(*ix3, speed=0, state=0, duplex=0, ierrors=17)),
        ("link", 0, "ixgbe4", None),
        ("link", 0, "vnic0", link_stats(5_000_000, 40_000, 6_000_000, 41_000, speed=0, duplex=0)),
        ("igb", 0, "mac", mac_stats(*igb0, speed=1_000_000_000)),
        ("igb", 1, "mac", mac_stats(*igb1, speed=1_000_000_000)),
        ("ixgbe", 2, "mac", mac_stats(*ix2, speed=10_000_000_000)),
        ("ixgbe", 3, "mac", mac_stats(*ix3, speed=0, state=0, duplex=0, ierrors=17)),
        ("ixgbe", 4, "mac", mac_stats(0, 0, 0, 0, speed=0, state=0, duplex=0)),
    ]
    network(d, show_link, show_phys, blocks, ipmp=True)
    command(
        d,
        "ipmpstat",
        GROUP_ARGS,
        "ipmp0:ipmp0:degraded:10.00s:ixgbe2 [ixgbe3]\n"
        "ipmp1:storage:ok:20.00s:igb0 (igb1)\n",
    )
    command(
        d,
        "ipmpstat",
        IF_ARGS,
        "ixgbe2:yes:ipmp0:--mb---:up:ok:ok\n"
        "ixgbe3:no:ipmp0:-------:down:failed:failed\n"
        "igb0:yes:ipmp1:--mbM--:up:ok:ok\n"
        "igb1:no:ipmp1:is-----:up:ok:ok\n",
    )
    command(
        d,
        "ipmpstat",
        TARGET_ARGS,
        "ixgbe2:routes:10.10.1.11:10.10.1.1 10.10.1.2\n"
        "ixgbe3:routes:10.10.1.12:\n"
        "igb0:multicast:fe80\\:\\:21b\\:21ff\\:feaa\\:bb12:fe80\\:\\:1 fe80\\:\\:2\n"
        "igb1:multicast:fe80\\:\\:21b\\:21ff\\:feaa\\:bb13:fe80\\:\\:1\n",
    )
    m = 1 << 32
    ipmp = []
    for name, parts in (("ipmp0", (ix2, ix3)), ("ipmp1", (igb0, igb1))):
        rb, ip, ob, op = (sum(p[i] for p in parts) for i in range(4))
        ipmp.append(("ipmp", 0, name, {
            "brdcstrcv": 20, "brdcstxmt": 8, "ierrors": 0, "ipackets": ip % m, "ipackets64": ip,
            "link_up": 1, "multircv": 40, "multixmt": 12, "obytes": ob % m, "obytes64": ob, "oerrors": 0,
            "opackets": op % m, "opackets64": op, "rbytes": rb % m, "rbytes64": rb,
        }))
    (args,) = batched_selectors("ipmp", 0, ["ipmp0", "ipmp1"])
    command(d, "kstat", args, kstat_text(ipmp))
    no_storage(d)


#: scenario folder -> builder
BUILDS = {
    "illumos-net-aggr-lacp-not-collecting": storage_head_aggr,
    "illumos-net-ipmp-degraded": ipmp_degraded,
}
