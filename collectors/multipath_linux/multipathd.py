"""multipathd's socket protocol (libmpathcmd mpath_cmd.h) and its ``show maps json`` reply
(libmultipath/print.c)."""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Mapping

from collectors.multipath_linux.model import MapState, PathGroup, PathState
from exporter.api import ParseError

SOCKETS = ("/run/multipathd.socket", "@/org/kernel/linux/storage/multipathd")
MAX_REPLY_LEN = 32 * 1024 * 1024  # libmpathcmd/mpath_cmd.h
def pack_request(command: str) -> bytes:
    """libmpathcmd mpath_send_cmd: native size_t strlen+1, then the command and its NUL."""
    data = command.encode() + b"\0"
    return struct.pack("@N", len(data)) + data


def unpack_reply(buf: bytes, eof: bool) -> str | None:
    """libmpathcmd mpath_recv_reply: native size_t length, then that many bytes ending in NUL."""
    size = struct.calcsize("@N")
    if len(buf) < size:
        if eof:
            raise ParseError("multipathd socket", None, "connection closed before the reply length")
        return None
    (n,) = struct.unpack("@N", buf[:size])
    if n <= 0 or n >= MAX_REPLY_LEN:
        raise ParseError("multipathd socket", None, f"reply length {n} out of range")
    if len(buf) < size + n:
        if eof:
            raise ParseError("multipathd socket", None, "connection closed mid-reply")
        return None
    return buf[size : size + n].rstrip(b"\0").decode("utf-8", "replace")


def _s(d: Mapping, key: str) -> str | None:
    v = d.get(key)
    if v is None:
        return None
    v = str(v).strip()  # RHEL 7 pads INQUIRY strings: "IBM     " (real-captures.md L-6)
    return None if v in ("", "undef", "[undef]", "##", "[unknown]") else v


def _i(d: Mapping, key: str) -> int | None:
    v = d.get(key)
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and re.fullmatch(r"-?[0-9]{1,20}", v.strip()):
        return int(v)
    return None


def parse_multipathd_json(text: str) -> list[MapState]:
    """``multipathd show maps json`` (libmultipath/print.c snprint_multipath_topology_json).
    Every key is optional (marginal_st since 0.8.3, lun_hex since 0.8.9, absent on FC)."""
    src = "multipathd show maps json"
    body = text.strip()
    if body == "timeout":
        raise ParseError(src, None, "multipathd answered 'timeout' (busy: lock not taken within uxsock_timeout)")
    if body.startswith("fail"):
        raise ParseError(src, None, f"multipathd refused: {body.splitlines()[-1][:120]!r}")
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as e:  # truncated JSON is seen in the field (L-6)
        raise ParseError(src, None, f"invalid JSON: {str(e)[:100]}") from None
    if not isinstance(doc, dict):
        raise ParseError(src, None, "top level is not an object")
    if doc.get("major_version", 0) != 0:
        raise ParseError(src, None, f"unsupported major_version {doc.get('major_version')!r}")
    maps = doc.get("maps", [])
    if not isinstance(maps, list):
        raise ParseError(src, None, "'maps' is not a list")
    out = []
    for m in maps:
        if not isinstance(m, dict) or not _s(m, "name"):
            raise ParseError(src, None, "map without a name")
        pgs = m.get("path_groups", [])
        if not isinstance(pgs, list):
            raise ParseError(src, None, f"{m['name']}: 'path_groups' is not a list")
        groups_ = []
        for n, pg in enumerate(pgs, 1):
            if not isinstance(pg, dict) or not isinstance(pg.get("paths", []), list):
                raise ParseError(src, None, f"{m['name']}: bad path group")
            paths = []
            for p in pg.get("paths", []):
                if not isinstance(p, dict):
                    raise ParseError(src, None, f"{m['name']}: bad path")
                dev = _s(p, "dev")
                paths.append(
                    PathState(
                        dev=None if dev == "-" else dev,
                        devt=_s(p, "dev_t") if _s(p, "dev_t") != "#:#" else None,
                        dm_state=_s(p, "dm_st"),
                        checker=_s(p, "chk_st"),
                        priority=_i(p, "pri"),
                        fail_count=None,
                        host_adapter=_s(p, "host_adapter"),
                    )
                )
            groups_.append(
                PathGroup(
                    index=_i(pg, "group") or n,
                    state=_s(pg, "dm_st") or "unknown",
                    selector=_s(pg, "selector"),
                    priority=_i(pg, "pri"),
                    paths=tuple(paths),
                )
            )
        out.append(
            MapState(
                name=_s(m, "name") or "",
                dm=_s(m, "sysfs"),
                wwid=_s(m, "uuid"),
                features=_s(m, "features"),
                hwhandler=_s(m, "hwhandler"),
                vendor=_s(m, "vend"),
                product=_s(m, "prod"),
                path_faults=_i(m, "path_faults"),
                groups=tuple(groups_),
                source="multipathd",
            )
        )
    return out
