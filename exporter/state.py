"""What lanes remembers across restarts (SPEC §3 ``--state.dir``, §12 remembered members).

A member lanes has seen (a path, a session, a NIC of a bond) stays counted, and down, when it
vanishes: a path the kernel forgets is still a lost lane.  The member memory of each
collector keeps that within one process; this module keeps it across restarts, so a restart
while a path is gone does not turn a degraded group into a healthy-looking smaller one.

One file, ``<state dir>/members.json``, written atomically (temporary file in the same
directory, fsync, rename, fsync of the directory) whenever the set of remembered members
changes, which is rare (a new path, a group gone).  Shape::

    {"format": "lanes-members", "version": 1, "hostname": "storage-a", "platform": "linux",
     "groups": [{"kind": "multipath", "group": "mpatha", "members": {"sdc": 1250000000, "sdd": null}}]}

(member -> its last known speed in bytes/s).  A file that cannot be read, is not this
format, or was written on another host or platform is logged and ignored (renamed to
``members.json.ignored`` so it is not lost), never a crash.

``SIGHUP`` (``systemctl reload lanes``) forgets every member that is not there now:
``forget()`` empties the store and bumps its generation, so member memories built before the
reload cannot write their old view back.

The store is process-wide (``current()``/``install()``): collectors reach it through their
member memory, keyed by (kind, group); kinds are unique per collector.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Mapping

log = logging.getLogger("lanes.state")

FORMAT = "lanes-members"
VERSION = 1
FILE = "members.json"
DEFAULT_DIR = "/var/lib/lanes"
#: a state file larger than this is not ours (8,200 members take about 0.5 MB)
MAX_BYTES = 64 * 1024 * 1024

Key = tuple  # (kind, group)


class MemberStore:
    """Remembered members by (kind, group): {member: speed_bytes or None}."""

    def __init__(self, directory: str | None = None, hostname: str = "", platform: str = ""):
        self.directory = directory
        self.hostname = hostname
        self.platform = platform
        self._lock = threading.Lock()
        self._groups: dict[Key, dict[str, int | None]] = {}
        self.generation = 0
        self.writes = 0
        if directory:
            self._groups = self._load()

    @property
    def path(self) -> str | None:
        return os.path.join(self.directory, FILE) if self.directory else None

    # -- reading

    def _load(self) -> dict[Key, dict[str, int | None]]:
        path = self.path
        try:
            with open(path, "rb") as f:
                raw = f.read(MAX_BYTES + 1)
        except FileNotFoundError:
            return {}
        except OSError as e:
            log.warning("state file unreadable; starting without remembered members", extra={"path": path, "err": e.strerror or str(e)})
            return {}
        try:
            if len(raw) > MAX_BYTES:
                raise ValueError(f"larger than {MAX_BYTES} bytes")
            return parse(raw.decode("utf-8"), self.hostname, self.platform)
        except (ValueError, UnicodeDecodeError) as e:
            log.warning("state file ignored; starting without remembered members", extra={"path": path, "err": str(e)[:200]})
            with contextlib.suppress(OSError):
                os.replace(path, path + ".ignored")
            return {}

    def count(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._groups.values())

    def remembered(self, kind: str) -> dict[Key, dict[str, int | None]]:
        """Copies of the groups of one kind, for a member memory that starts ({} without a
        state directory: each memory then starts empty, as lanes always did)."""
        if not self.directory:
            return {}
        with self._lock:
            return {k: dict(v) for k, v in self._groups.items() if k[0] == kind}

    # -- writing

    def update(self, generation: int, changes: Mapping[Key, Mapping[str, int | None] | None]) -> None:
        """Replace (or with None drop) the given groups and save; ignored from a memory
        older than the last forget()."""
        if not changes or not self.directory:
            return
        with self._lock:
            if generation != self.generation:
                return
            for key, members in changes.items():
                if members is None:
                    self._groups.pop(key, None)
                else:
                    self._groups[key] = dict(members)
            self._save()

    def forget(self) -> None:
        """SIGHUP: forget every remembered member; what is there now is seen again at the
        next scrape and written then."""
        with self._lock:
            self.generation += 1
            n = sum(len(v) for v in self._groups.values())
            self._groups = {}
            self._save()
        log.info("forgot remembered members", extra={"members": n})

    def _save(self) -> None:
        if not self.directory:
            return
        text = dump(self._groups, self.hostname, self.platform)
        try:
            write_atomic(self.path, text)
            self.writes += 1
        except OSError as e:
            log.warning("state file not written", extra={"path": self.path, "err": e.strerror or str(e)})


def parse(text: str, hostname: str = "", platform: str = "") -> dict[Key, dict[str, int | None]]:
    """The groups of a state file; ValueError names what is wrong."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"not JSON: {str(e)[:100]}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"not a lanes state file (format {doc.get('format') if isinstance(doc, dict) else None!r})")
    if doc.get("version") != VERSION:
        raise ValueError(f"unsupported version {doc.get('version')!r}")
    if hostname and doc.get("hostname") not in (None, "", hostname):
        raise ValueError(f"written on host {doc.get('hostname')!r}, this is {hostname!r}")
    if platform and doc.get("platform") not in (None, "", platform):
        raise ValueError(f"written on platform {doc.get('platform')!r}, this is {platform!r}")
    groups = doc.get("groups")
    if not isinstance(groups, list):
        raise ValueError("'groups' is not a list")
    out: dict[Key, dict[str, int | None]] = {}
    for g in groups:
        if not isinstance(g, dict) or not isinstance(g.get("kind"), str) or not isinstance(g.get("group"), str) or not isinstance(g.get("members"), dict):
            raise ValueError("a group without kind, group and members")
        members = {}
        for name, speed in g["members"].items():
            if speed is not None and (isinstance(speed, bool) or not isinstance(speed, int) or not 0 <= speed < 2**64):
                raise ValueError(f"{g['kind']} {g['group']}: member {name!r} has speed {speed!r}")
            members[name] = speed
        out[(g["kind"], g["group"])] = members
    return out


def dump(groups: Mapping[Key, Mapping[str, int | None]], hostname: str, platform: str) -> str:
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "hostname": hostname,
        "platform": platform,
        "groups": [{"kind": k, "group": g, "members": dict(sorted(m.items()))} for (k, g), m in sorted(groups.items())],
    }
    return json.dumps(doc, indent=1, sort_keys=False) + "\n"


def write_atomic(path: str, text: str) -> None:
    """Never a half-written file: a temporary file in the same directory, fsynced, renamed
    over the old one, the directory fsynced (rename(2) is atomic within one file system)."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".members.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def usable_dir(directory: str) -> str | None:
    """Why ``directory`` cannot hold the state (None: it can)."""
    if not os.path.isdir(directory):
        return "not a directory"
    if not os.access(directory, os.W_OK | os.X_OK):
        return "not writable"
    return None


_current = MemberStore()


def current() -> MemberStore:
    return _current


def install(store: MemberStore) -> MemberStore:
    global _current
    _current = store
    return store
