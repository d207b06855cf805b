"""Builds the hand-made flows scenarios (the folders are committed; a test rebuilds them).

python -m tests.builders <name>  # then:
pytest tests/test_scenarios.py tests/daemon/test_doctor.py --update-golden -k flows

Each is a base host of another builder plus a delta:

linux-flows-iscsi-bond: the 802.3ad bond of linux-bond-lacp-healthy (4 x 10G,
xmit_hash_policy layer3+4) on an iSCSI target 10.0.0.1 that is also an NFS client:

* sock_diag (the rendering of exporter/sockdiag.py): initiator 10.0.0.21 with one
  connection (source port 40002), initiator 10.0.0.22 with two (40000, 40001), and this
  host's one NFS connection 10.0.0.1:874 -> 10.0.0.50:2049.  With layer3+4 all four hash
  onto member index 1 (ens1f1): e.g. 10.0.0.1:3260 -> 10.0.0.22:40000 gives
  0x409CBC0C ^ 0x17000000 -> 0x579CEB90 -> 0x57CB777B >> 1 = 0x2BE5BBBD, % 4 = 1
  (tests/parsers/test_bond_hash.py shows the same steps); consecutive ports share a
  member because layer3+4 drops the lowest bit.
* route answers in iproute2's ``ip route get`` wording: every peer via bond0.
* /proc/self/mountstats: one NFSv4.2 mount without nconnect (one xprt: tcp line).

illumos-flows-comstar-aggr: the OmniOS head of illumos-net-aggr-lacp-not-collecting
(aggr0 of ixgbe0+ixgbe1, the iSCSI VNIC stor0 over it) serving iSCSI on 10.10.1.10:
initiator 10.10.1.21 with one connection, 10.10.1.22 with two; connstat -P lines in the
order of the -o fields (connstat(8): comma separated), ipadm show-addr -p with IPv6 colons
escaped.
"""

from __future__ import annotations

import os

from . import illumos_net, linux_bond
from .sysfs import derive, snapshot_yml, write

SOCKETS = """# sock_diag tcp established
10.0.0.1:3260 10.0.0.21:40002 dev=- bytes_acked=52428800000 bytes_received=734003200
10.0.0.1:3260 10.0.0.22:40000 dev=- bytes_acked=10485760000 bytes_received=2097152000
10.0.0.1:3260 10.0.0.22:40001 dev=- bytes_acked=9437184000 bytes_received=1048576000
10.0.0.1:874 10.0.0.50:2049 dev=- bytes_acked=104857600 bytes_received=3221225472
10.0.0.1:22 10.0.0.99:51515 dev=- bytes_acked=1 bytes_received=1
"""

MOUNTSTATS = """device /dev/sda2 mounted on / with fstype ext4
device 10.0.0.50:/backup mounted on /mnt/backup with fstype nfs4 statvers=1.1
\topts:\trw,vers=4.2,rsize=1048576,wsize=1048576,namlen=255,acregmin=3,acregmax=60,acdirmin=30,acdirmax=60,hard,proto=tcp,timeo=600,retrans=2,sec=sys,clientaddr=10.0.0.1,local_lock=none
\tage:\t86400
\tbytes:\t0 0 0 0 3221225472 104857600 0 0
\tRPC iostats version: 1.1  p/v: 100003/4 (nfs)
\txprt:\ttcp 874 1 1 0 12 25000 25000 0 25000 0 64 0 0
\tper-op statistics
\t        NULL: 1 1 0 44 24 0 0 0 0
"""

CONNSTAT = """10.10.1.10,3260,10.10.1.21,33817,918273645512,1203948576623
10.10.1.10,3260,10.10.1.22,40122,417733012008,699003318270
10.10.1.10,3260,10.10.1.22,40123,417733012008,699003318270
192.168.50.10,22,192.168.50.99,51234,4096,8192
"""
IPADM = """lo0/v4:127.0.0.1/8
e1000g0/v4:192.168.50.10/24
stor0/v4:10.10.1.10/24
lo0/v6:\\:\\:1/128
"""


def linux_flows_iscsi_bond(out: str) -> None:
    d = derive(out, linux_bond.lacp_healthy, "linux-bond-lacp-healthy", "linux-flows-iscsi-bond")
    write(os.path.join(d, "commands/sock_diag_tcp.out"), SOCKETS)
    for peer in ("10.0.0.21", "10.0.0.22", "10.0.0.50"):
        write(os.path.join(d, f"commands/ip_route_get_{peer}_from_10.0.0.1.out"), f"{peer} from 10.0.0.1 dev bond0 uid 0 \n    cache \n")
    write(os.path.join(d, "root/proc/self/mountstats"), MOUNTSTATS)
    snapshot_yml(
        d,
        "linux",
        "hand-made from linux-bond-lacp-healthy plus sock_diag (exporter/sockdiag.py rendering), ip route get answers "
        "and /proc/self/mountstats (fs/nfs/super.c, net/sunrpc/xprtsock.c): one initiator with one iSCSI connection, "
        "all storage flows hashed by layer3+4 onto one member, an NFS mount with one transport.",
        "iscsi-target-a",
    )


def illumos_flows_comstar_aggr(out: str) -> None:
    d = derive(out, illumos_net.storage_head_aggr, "illumos-net-aggr-lacp-not-collecting", "illumos-flows-comstar-aggr")
    write(os.path.join(d, "commands/connstat_-P_-e_-o_laddr,lport,raddr,rport,inbytes,outbytes.out"), CONNSTAT)
    write(os.path.join(d, "commands/ipadm_show-addr_-p_-o_addrobj,addr.out"), IPADM)
    snapshot_yml(
        d,
        "illumos",
        "hand-made from illumos-net-aggr-lacp-not-collecting plus connstat -P -e -o laddr,lport,raddr,rport,inbytes,outbytes "
        "(connstat(8): comma separated, fields in the order asked) and ipadm show-addr -p -o addrobj,addr (ipadm(8) parseable): "
        "a COMSTAR target on the VNIC stor0 over aggr0, one initiator with one iSCSI connection, one with two.",
        "tank-a",
    )


#: scenario folder -> builder
BUILDS = {
    "linux-flows-iscsi-bond": linux_flows_iscsi_bond,
    "illumos-flows-comstar-aggr": illumos_flows_comstar_aggr,
}
