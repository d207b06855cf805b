"""Live Linux sources of the ``flows`` collector: TCP sockets from sock_diag and the
kernel's route for one flow.  Used by ``exporter.host.LiveHost`` only; the answers are
rendered as text so that ``--record`` stores them like command output and ``--snapshot``
replays them (SPEC §4: what lanes learns from sockets is recorded too).

sock_diag (sock_diag(7), include/uapi/linux/inet_diag.h): one ``SOCK_DIAG_BY_FAMILY``
dump per address family, ``idiag_states`` = ESTABLISHED, ``idiag_ext`` = INET_DIAG_INFO
(struct tcp_info: ``tcpi_bytes_acked``, Linux 4.1+, and ``tcpi_bytes_received``, 4.1+).
Requests and replies are built and decoded here with ``struct`` on plain netlink sockets,
not with pyroute2, for measured reasons (bench/README.md, docs/collectors/flows.md):

* importing pyroute2 (any part of it: its package imports 163 modules) adds 15.4 MB of
  resident memory, which puts SPEC §9's large storage host with the default collectors at
  about 72 MB, over its 60 MB; the two requests are 72 and 56 bytes;
* pyroute2's sock_diag decoder costs about 0.14 ms per socket (277 ms for 2,000 sockets
  against 24 ms by hand), and it silently skips a message whose header claims more bytes
  than arrived, while a flow must not vanish without a reason: every length is checked.

The request bytes equal pyroute2's encoding of the same request (tests/parsers/
test_flows_linux.py checks it while pyroute2 is installed).

Route (rtnetlink(7) RTM_GETROUTE, as ``ip route get DST from SRC``): the kernel applies
policy rules (``ip rule``) and source-based routing, which a longest-prefix match of the
main table would not.

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

from exporter.netlink import iter_attrs

TCP_ESTABLISHED = 1
INET_DIAG_INFO = 2  # idiag_ext bit (1 << (INET_DIAG_INFO - 1))
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300  # include/uapi/linux/netlink.h
SOCK_DIAG_BY_FAMILY = 20
NETLINK_ROUTE, NETLINK_SOCK_DIAG = 0, 4
RTM_NEWROUTE, RTM_GETROUTE = 24, 26  # include/uapi/linux/rtnetlink.h
RTA_DST, RTA_SRC, RTA_OIF, RTA_GATEWAY = 1, 2, 4, 5
HEADER = "# sock_diag tcp established"
_NLMSG = struct.Struct("=IHHII")
#: nlmsghdr + struct inet_diag_req_v2 (include/uapi/linux/inet_diag.h): sdiag_family,
#: sdiag_protocol, idiag_ext, pad (4 x u8), idiag_states u32, inet_diag_sockid (sport,
#: dport u16, src[16], dst[16], if u32, cookie 2 x u32): 16 + 56 = 72 bytes
_DIAG_REQ = struct.Struct("=IHHIIBBBBIHH16s16sIII")
#: struct rtmsg (include/uapi/linux/rtnetlink.h): family, dst_len, src_len, tos, table,
#: protocol, scope, type (8 x u8), flags u32
_RTMSG = struct.Struct("=BBBBBBBBI")


def diag_request(family: int, seq: int) -> bytes:
    """SOCK_DIAG_BY_FAMILY dump of the ESTABLISHED TCP sockets of ``family``, with tcp_info."""
    return _DIAG_REQ.pack(
        _DIAG_REQ.size, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0,
        family, socket.IPPROTO_TCP, 1 << (INET_DIAG_INFO - 1), 0, 1 << TCP_ESTABLISHED,
        0, 0, bytes(16), bytes(16), 0, 0, 0,
    )  # fmt: skip


def _attr(atype: int, value: bytes) -> bytes:
    return struct.pack("=HH", 4 + len(value), atype) + value + bytes(-len(value) % 4)


def route_request(dst: str, src: str, seq: int) -> bytes:
    """RTM_GETROUTE for one destination from one source address, as ``ip route get DST from
    SRC`` sends it: full-length prefixes, RTA_DST and RTA_SRC.  ValueError for an address
    that is not one, or a source of the other family."""
    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    try:
        d, s = socket.inet_pton(family, dst), socket.inet_pton(family, src)
    except OSError:
        raise ValueError(f"route: {dst} from {src}: not two addresses of one family") from None
    bits = 8 * len(d)
    body = _RTMSG.pack(family, bits, bits, 0, 0, 0, 0, 0, 0) + _attr(RTA_DST, d) + _attr(RTA_SRC, s)
    return _NLMSG.pack(_NLMSG.size + len(body), RTM_GETROUTE, NLM_F_REQUEST, seq, 0) + body


def route_reply(data: bytes, dst: str, src: str, seq: int, ifname) -> str | None:
    """The answer to ``route_request`` in ``data`` rendered as iproute2 words it (``DST from
    SRC [via GW] dev NIC``, or ``unreachable DST from SRC error ENETUNREACH`` when the
    kernel has no route); None when ``data`` holds no answer to ``seq``.  ValueError when
    a message is cut short."""
    off = 0
    while off + _NLMSG.size <= len(data):
        length, mtype, _flags, mseq, _pid = _NLMSG.unpack_from(data, off)
        if length < _NLMSG.size or off + length > len(data):
            raise ValueError(f"route: truncated message at byte {off}: header says {length} bytes, {len(data) - off} arrived")
        if mseq == seq:
            if mtype == NLMSG_ERROR:
                if length < _NLMSG.size + 4:
                    raise ValueError("route: error message without its code")
                (err,) = struct.unpack_from("=i", data, off + _NLMSG.size)
                if err:  # as iproute2 words it: the flow then rides no known NIC
                    return f"unreachable {dst} from {src} error {errno.errorcode.get(-err, -err)}\n"
            elif mtype == RTM_NEWROUTE:
                if length < _NLMSG.size + _RTMSG.size:
                    raise ValueError(f"route: RTM_NEWROUTE of {length} bytes, shorter than its header")
                family = data[off + _NLMSG.size]
                gw = oif = None
                for atype, value in iter_attrs(data, off + _NLMSG.size + _RTMSG.size, off + length):
                    if atype == RTA_GATEWAY and len(value) in (4, 16):
                        gw = socket.inet_ntop(family, bytes(value))
                    elif atype == RTA_OIF and len(value) == 4:
                        (oif,) = struct.unpack("=I", value)
                words = [dst, "from", src]
                if gw:
                    words += ["via", gw]
                if oif:
                    words += ["dev", ifname(oif) or f"if{oif}"]
                return " ".join(words) + "\n"
        off += (length + 3) & ~3
    return None


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
    """One sock_diag socket and one rtnetlink socket, reused scrape after scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._rt: socket.socket | None = None
        self._seq = 0

    def _request(self, family: int) -> bytes:
        self._seq += 1
        return diag_request(family, self._seq)

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

    def route_get(self, dst: str, src: str, timeout: float = 5.0) -> str:
        """``ip route get DST from SRC``, rendered like iproute2 prints it."""
        with self._lock:
            if self._rt is None:
                s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
                s.bind((0, 0))
                self._rt = s
            self._rt.settimeout(timeout)
            self._seq += 1
            seq = self._seq
            try:
                self._rt.send(route_request(dst, src, seq))
                for _ in range(64):  # bounded: the answer to an earlier, timed-out request is skipped
                    text = route_reply(self._rt.recv(1 << 16), dst, src, seq, _ifname)
                    if text is not None:
                        return text
                raise ValueError(f"route: no answer to the lookup of {dst} from {src}")
            except BaseException:
                self._rt.close()  # a late answer must not meet the next lookup
                self._rt = None
                raise

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            if self._rt is not None:
                self._rt.close()
                self._rt = None
