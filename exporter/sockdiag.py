"""Live Linux sources of the ``flows`` collector: TCP sockets from sock_diag and the
kernel's route for one flow.  Used by ``exporter.host.LiveHost`` only; the answers are
rendered as text so that ``--record`` stores them like command output and ``--snapshot``
replays them (SPEC §4: what lanes learns from sockets is recorded too).

sock_diag (sock_diag(7), include/uapi/linux/inet_diag.h): one ``SOCK_DIAG_BY_FAMILY``
dump per address family, ``idiag_states`` = ESTABLISHED, ``idiag_ext`` = INET_DIAG_INFO
(struct tcp_info: ``tcpi_bytes_acked``, Linux 4.1+, and ``tcpi_bytes_received``, 4.1+).
pyroute2 builds the request (``pyroute2.netlink.diag.inet_diag_req``); the replies are
read from a plain netlink socket and decoded here with ``struct``, for two measured
reasons (bench/flows.py, docs/collectors/flows.md): pyroute2's decoder costs about 0.14 ms
per socket (277 ms for 2,000 sockets against 24 ms by hand), which on SPEC §9's large
storage host (4,000 iSCSI sessions) alone would take most of the scrape budget; and it
silently skips a message whose header claims more bytes than arrived, while a flow must
not vanish without a reason: every length is checked here.

Route (rtnetlink(7) RTM_GETROUTE, as ``ip route get DST from SRC``): pyroute2's
``IPRoute.route("get")``; the kernel applies policy rules (``ip rule``) and source-based
routing, which a longest-prefix match of the main table would not.

Text rendered (one socket per line; the ``flows`` collector parses it)::

    # sock_diag tcp established
    10.0.0.1:51000 10.0.0.2:3260 dev=- bytes_acked=123 bytes_received=456
    [fd00::1]:51000 [fd00::2]:3260 dev=eth1 bytes_acked=0 bytes_received=0
"""

from __future__ import annotations

import errno
import socket
import struct
import threading
from collections.abc import Iterable, Sequence

TCP_ESTABLISHED = 1
INET_DIAG_INFO = 2  # idiag_ext bit (1 << (INET_DIAG_INFO - 1))
NLMSG_ERROR, NLMSG_DONE = 2, 3
SOCK_DIAG_BY_FAMILY = 20
NETLINK_SOCK_DIAG = 4
HEADER = "# sock_diag tcp established"
_NLMSG = struct.Struct("=IHHII")


def format_addr(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def split_messages(data: bytes) -> tuple[list[bytes], bool]:
    """The netlink messages of one recv, checked: (messages, done).  Raises ValueError on a
    message that is cut short or an error reply."""
    out = []
    off = 0
    done = False
    while off < len(data):
        if len(data) - off < _NLMSG.size:
            raise ValueError(f"sock_diag: truncated netlink header at byte {off} ({len(data) - off} of {_NLMSG.size} bytes)")
        length, mtype, _flags, _seq, _pid = _NLMSG.unpack_from(data, off)
        if length < _NLMSG.size or off + length > len(data):
            raise ValueError(f"sock_diag: truncated message at byte {off}: header says {length} bytes, {len(data) - off} arrived")
        if mtype == NLMSG_DONE:
            done = True
        elif mtype == NLMSG_ERROR:
            (err,) = struct.unpack_from("=i", data, off + _NLMSG.size)
            if err:
                raise OSError(-err, f"sock_diag: {errno.errorcode.get(-err, err)}")
        elif mtype == SOCK_DIAG_BY_FAMILY:
            out.append(data[off : off + length])
        off += (length + 3) & ~3
    return out, done


#: struct inet_diag_msg after the 16-byte nlmsghdr (include/uapi/linux/inet_diag.h):
#: family, state, timer, retrans (4 x u8), inet_diag_sockid (sport, dport big-endian u16,
#: src[16], dst[16] big-endian, if u32, cookie 2 x u32), expires, rqueue, wqueue, uid,
#: inode (5 x u32): 72 bytes; attributes (struct nlattr) follow at byte 88.
_MSG_FIXED = 16 + 72
#: struct tcp_info (include/uapi/linux/tcp.h): tcpi_bytes_acked at byte 120 (Linux 4.1+),
#: tcpi_bytes_received at byte 128 (4.1+), both u64
_BYTES_ACKED = 120
_TCP_INFO_MIN = 136


def _unmap(addr: str) -> str:
    """An IPv4 peer of an IPv6 socket (a target listening on [::]) shows as ::ffff:a.b.c.d;
    its packets are IPv4 (routes, bond hash), so lanes names it as IPv4."""
    return addr[7:] if addr.startswith("::ffff:") and "." in addr else addr


def decode(messages: Iterable[bytes], ports: frozenset[int]) -> list[tuple[str, int, str, int, int, int, int]]:
    """(src, sport, dst, dport, ifindex, bytes_acked, bytes_received) of the sockets whose
    local or remote port is in ``ports``.  ValueError when a message is cut short or lacks
    its tcp_info (the flow must not vanish silently)."""
    rows = []
    for raw in messages:
        if len(raw) < _MSG_FIXED:
            raise ValueError(f"sock_diag: inet_diag_msg of {len(raw)} bytes, shorter than its {_MSG_FIXED}-byte header")
        family = raw[16]
        sport, dport = struct.unpack_from(">HH", raw, 20)
        if sport not in ports and dport not in ports:
            continue
        alen = 4 if family == socket.AF_INET else 16
        src = _unmap(socket.inet_ntop(family, raw[24 : 24 + alen]))
        dst = _unmap(socket.inet_ntop(family, raw[40 : 40 + alen]))
        (ifindex,) = struct.unpack_from("=I", raw, 56)
        info = None
        off = _MSG_FIXED
        while off + 4 <= len(raw):
            nla_len, nla_type = struct.unpack_from("=HH", raw, off)
            if nla_len < 4 or off + nla_len > len(raw):
                raise ValueError(f"sock_diag: attribute {nla_type} of socket {format_addr(src, sport)} cut short ({nla_len} bytes at {off} of {len(raw)})")
            if nla_type & 0x3FFF == INET_DIAG_INFO:
                info = raw[off + 4 : off + nla_len]
            off += (nla_len + 3) & ~3
        if info is None:
            raise ValueError(f"sock_diag: socket {format_addr(src, sport)} has no INET_DIAG_INFO (tcp_info)")
        if len(info) < _TCP_INFO_MIN:
            raise ValueError(f"sock_diag: tcp_info of {len(info)} bytes has no bytes_acked/bytes_received (needs Linux 4.1 or later)")
        acked, received = struct.unpack_from("=QQ", info, _BYTES_ACKED)
        rows.append((src, sport, dst, dport, ifindex, acked, received))
    return rows


def render(rows: Sequence[tuple[str, int, str, int, int, int, int]], ifname) -> str:
    lines = [HEADER]
    for src, sport, dst, dport, ifindex, acked, received in sorted(rows):
        dev = ifname(ifindex) if ifindex else "-"
        lines.append(f"{format_addr(src, sport)} {format_addr(dst, dport)} dev={dev or '-'} bytes_acked={acked} bytes_received={received}")
    return "\n".join(lines) + "\n"


def _ifname(index: int) -> str:
    try:
        return socket.if_indextoname(index)
    except OSError:
        return ""


class Live:
    """One sock_diag socket and one pyroute2 IPRoute, reused scrape after scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._ipr = None
        self._seq = 0

    def _request(self, family: int) -> bytes:
        from pyroute2.netlink import NLM_F_DUMP, NLM_F_REQUEST
        from pyroute2.netlink.diag import inet_diag_req

        self._seq += 1
        req = inet_diag_req()
        req["header"]["type"] = SOCK_DIAG_BY_FAMILY
        req["header"]["flags"] = NLM_F_REQUEST | NLM_F_DUMP
        req["header"]["sequence_number"] = self._seq
        req["sdiag_family"] = family
        req["sdiag_protocol"] = socket.IPPROTO_TCP
        req["idiag_ext"] = 1 << (INET_DIAG_INFO - 1)
        req["idiag_states"] = 1 << TCP_ESTABLISHED
        req.encode()
        return bytes(req.data)

    def tcp_sockets(self, ports: Iterable[int], timeout: float) -> str:
        wanted = frozenset(int(p) for p in ports)
        rows = []
        with self._lock:
            if self._sock is None:
                s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                s.bind((0, 0))
                self._sock = s
            self._sock.settimeout(timeout)
            try:
                for family in (socket.AF_INET, socket.AF_INET6):
                    self._sock.send(self._request(family))
                    for _ in range(1_000_000):  # bounded: a dump ends with NLMSG_DONE
                        msgs, done = split_messages(self._sock.recv(1 << 20))
                        rows.extend(decode(msgs, wanted))
                        if done:
                            break
            except BaseException:
                self._sock.close()  # a half-read dump must not leak into the next scrape
                self._sock = None
                raise
        return render(rows, _ifname)

    def route_get(self, dst: str, src: str) -> str:
        """``ip route get DST from SRC``, rendered like iproute2 prints it."""
        with self._lock:
            if self._ipr is None:
                from pyroute2 import IPRoute

                self._ipr = IPRoute()
            try:
                answer = self._ipr.route("get", dst=dst, src=src)
            except Exception as e:  # pyroute2's NetlinkError: the kernel has no route (ENETUNREACH, ...)
                code = getattr(e, "code", None)
                if code is None:
                    raise
                # as iproute2 words it: the flow then rides no known NIC, the collector goes on
                return f"unreachable {dst} from {src} error {errno.errorcode.get(code, code)}\n"
        words = [dst]
        for msg in answer[:1]:
            gw = msg.get_attr("RTA_GATEWAY")
            oif = msg.get_attr("RTA_OIF")
            words += ["from", src]
            if gw:
                words += ["via", gw]
            if oif:
                words += ["dev", _ifname(oif) or f"if{oif}"]
        return " ".join(words) + "\n"

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            if self._ipr is not None:
                self._ipr.close()
                self._ipr = None
