"""Live Linux sources of the ``flows`` collector: TCP sockets from sock_diag and the
kernel's route for one flow.  Used by ``exporter.host.LiveHost`` only; the answers are
rendered as text so that ``--record`` stores them like command output and ``--snapshot``
replays them (SPEC §4: what lanes learns from sockets is recorded too).

sock_diag (sock_diag(7), include/uapi/linux/inet_diag.h): one ``SOCK_DIAG_BY_FAMILY``
dump per address family, ``idiag_states`` = ESTABLISHED, ``idiag_ext`` = INET_DIAG_INFO
(struct tcp_info: ``tcpi_bytes_acked``, Linux 4.1+, and ``tcpi_bytes_received``, 4.1+).
pyroute2 builds the request and decodes each message (``pyroute2.netlink.diag``); the
transport is a plain netlink socket so that lanes sees every byte: pyroute2's parser
silently skips a message whose header claims more bytes than arrived, and a flow must not
vanish without a reason, so the message lengths are checked here first.

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


def decode(messages: Iterable[bytes], ports: frozenset[int]) -> list[tuple[str, int, str, int, int, int, int]]:
    """(src, sport, dst, dport, ifindex, bytes_acked, bytes_received) of the sockets whose
    local or remote port is in ``ports``.  ValueError when a message lacks its tcp_info."""
    from pyroute2.netlink.diag import inet_diag_msg

    rows = []
    for raw in messages:
        # the fixed part first (cheap): skip other ports before pyroute2 decodes attributes
        sport, dport = struct.unpack_from(">HH", raw, _NLMSG.size + 4)
        if sport not in ports and dport not in ports:
            continue
        msg = inet_diag_msg(raw)
        msg.decode()
        info = msg.get_attr("INET_DIAG_INFO")
        if info is None:
            raise ValueError(f"sock_diag: socket {msg.get('idiag_src')}:{sport} has no INET_DIAG_INFO (tcp_info)")
        acked, received = info.get("tcpi_bytes_acked"), info.get("tcpi_bytes_received")
        if acked is None or received is None:
            raise ValueError("sock_diag: tcp_info without bytes_acked/bytes_received (needs Linux 4.1 or later)")
        rows.append((msg.get("idiag_src"), sport, msg.get("idiag_dst"), dport, msg.get("idiag_if") or 0, acked, received))
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
            answer = self._ipr.route("get", dst=dst, src=src)
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
