"""Host access: the only module that reads host files, runs commands or opens sockets.

Three hosts share one interface (SPEC §4):

* ``LiveHost``      the running system, optionally below another root
                    (``--path.rootfs``, ``--path.procfs``, ``--path.sysfs``);
* ``SnapshotHost``  a recorded snapshot directory (``--snapshot DIR``);
* ``RecordingHost`` wraps a live host and writes everything it reads into a
                    snapshot directory (``--record DIR``).

Collectors never import ``subprocess``, ``socket`` or ``open()`` host paths; a test in
``tests/test_policy.py`` enforces it.  Commands are argv lists (never a shell), resolved
through the ``commands:`` config map, run with ``LC_ALL=C``, stdin closed, stdout and
stderr apart, in their own process group, which is killed as a whole on timeout.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence

import yaml

# Reading sysfs attributes of a device that is down or lacks the feature gives these
# errors (node_exporter/procfs `canIgnoreError`; /sys/class/net/<if>/speed is EINVAL
# on a down link).  They mean "no value", not "broken source".
_ABSENT_ERRNOS = frozenset(
    {errno.ENOENT, errno.ENOTDIR, errno.EINVAL, errno.ENODEV, errno.ENXIO, errno.EOPNOTSUPP}
)
SEARCH_PATH = ("/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin")
SLUG_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._,=+-")


class Limits:
    """Size caps on what lanes reads (SPEC §10), set from the config's ``limits:``.

    Defaults are generous for real hosts: the largest file lanes reads on a large storage
    host (/proc/diskstats, multipathd's JSON for thousands of maps) is a few MiB, and the
    largest line is a few KiB.  Past a cap the collector fails, naming the source and the
    cap, instead of buffering without end (a 100 MB dm/name, a tool printing forever)."""

    file_bytes = 16 * 1024 * 1024
    command_output_bytes = 32 * 1024 * 1024
    line_bytes = 1024 * 1024


LIMITS = Limits()
#: how long the output of a command that has exited is still read: a daemonizing
#: descendant may keep the pipe open for ever (its output is not the command's)
EXIT_GRACE = 0.5


def _argv_text(argv: Sequence[str]) -> str:
    """A command line for a one-line message."""
    return " ".join(argv).replace("\n", "\\n")[:200]


def _long_line(data: bytes | bytearray, cap: int) -> bool:
    """True if a line of ``data`` is longer than ``cap`` bytes.  Jumps by up to a cap per
    step (rfind of the last newline in each window), so a 16 MiB file costs ~16 steps."""
    n = len(data)
    if n <= cap:
        return False
    start = 0
    while n - start > cap:
        nl = data.rfind(b"\n", start, start + cap + 1)
        if nl < 0:
            return True
        start = nl + 1
    return False


def _read_bytes(real_path: str, source: str) -> bytes:
    """Whole file, up to the file cap.  os.read on a raw fd: sysfs attributes are one page
    at most and a buffered open() costs several times more per file (thousands of them
    per scrape).  Never reads more than the cap + 1 byte (a 100 MB file, /dev/zero)."""
    fd = os.open(real_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunk = os.read(fd, 65536)
        if len(chunk) < 65536:
            data = chunk
        else:
            cap = LIMITS.file_bytes
            parts = [chunk]
            size = len(chunk)
            while chunk and size <= cap:
                chunk = os.read(fd, min(1 << 20, cap + 1 - size))
                parts.append(chunk)
                size += len(chunk)
            if size > cap:
                raise LimitExceeded(source, "file", cap, "limits.file_bytes")
            data = b"".join(parts)
    finally:
        os.close(fd)
    if len(data) > LIMITS.line_bytes and _long_line(data, LIMITS.line_bytes):
        raise LimitExceeded(source, "line", LIMITS.line_bytes, "limits.line_bytes")
    return data


def _read(real_path: str, source: str | None = None) -> str:
    return _read_bytes(real_path, source or real_path).decode("utf-8", "replace")


class HostError(Exception):
    """Base of the errors a host raises for commands and sockets."""


class CommandNotFound(HostError):
    def __init__(self, tool: str, detail: str = "not found"):
        super().__init__(f"command {tool!r}: {detail}")
        self.tool = tool


class LimitExceeded(HostError):
    """A file, command output or line past its size cap (SPEC §10)."""

    def __init__(self, source: str, what: str, cap: int, key: str):
        super().__init__(f"{source}: {what} exceeds the cap of {cap} bytes ({key})")
        self.source, self.cap, self.key = source, cap, key


class CommandTimeout(HostError):
    def __init__(self, argv: Sequence[str], timeout: float):
        super().__init__(f"command {' '.join(argv)!r} timed out after {timeout:g}s")
        self.argv = list(argv)
        self.timeout = timeout


@dataclasses.dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def slug(tool: str, args: Sequence[str]) -> str:
    """File name of a command's recording: SPEC §4.

    The command's basename and its arguments joined with ``_``; every character outside
    ``A-Za-z0-9._,=+-`` is written ``%XX``.  The argv prefix from ``commands:``
    (``pfexec``, a full path) is not part of it, so snapshots replay on any config.
    """
    words = [os.path.basename(tool), *args]
    out = []
    for ch in "_".join(words):
        if ch in SLUG_SAFE or ch == "_":
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode())
    return "".join(out)


def detect_platform() -> str:
    """One of the two places that know the platform (the other: each collector's set)."""
    if sys.platform.startswith("linux"):
        return "linux"
    if sys.platform.startswith("sunos"):
        return "illumos"
    if sys.platform.startswith("freebsd"):  # "freebsd13", "freebsd14", ...
        return "freebsd"
    return sys.platform


# --------------------------------------------------------------------------- host API


class Host:
    """Interface shared by every host.  Paths are absolute as seen on the host."""

    platform: str = "linux"
    #: True when counters and state come from the running kernel (netlink may be used).
    live: bool = False

    def read_text(self, path: str) -> str:
        raise NotImplementedError

    def read_optional(self, path: str) -> str | None:
        """Content, or None when the file is absent or the attribute has no value."""
        try:
            return self.read_text(path)
        except OSError as e:
            if e.errno in _ABSENT_ERRNOS or isinstance(e, (FileNotFoundError, NotADirectoryError)):
                return None
            raise

    def read_many(self, paths: Sequence[str]) -> list[str | None]:
        """``read_optional`` of each path, in order: the per-scrape state attributes of
        thousands of paths and sessions (a live host reads them without the per-call
        layers; ``LiveHost.read_many``)."""
        return [self.read_optional(p) for p in paths]

    def listdir(self, path: str) -> list[str]:
        raise NotImplementedError

    def list_optional(self, path: str) -> list[str]:
        try:
            return self.listdir(path)
        except (FileNotFoundError, NotADirectoryError):
            return []

    def readlink(self, path: str) -> str:
        raise NotImplementedError

    def exists(self, path: str) -> bool:
        raise NotImplementedError

    def is_dir(self, path: str) -> bool:
        raise NotImplementedError

    def run(self, tool: str, args: Sequence[str], *, timeout: float) -> CommandResult:
        raise NotImplementedError

    def uevent_generation(self) -> int:
        """Grows when the kernel announces a storage device change (``LiveHost``); a host
        without a kernel to listen to says 0."""
        return 0

    def unix_request(
        self,
        name: Sequence[str],
        addresses: Sequence[str],
        payload: bytes,
        *,
        timeout: float,
        unpack: Callable[[bytes, bool], str | None],
        seqpacket: bool = False,
    ) -> CommandResult:
        """One request over a unix socket, recorded like a command.

        ``name`` is the pseudo argv used for the snapshot slug (``multipathd show maps
        json``).  ``addresses`` are tried in order; ``@name`` is an abstract socket.
        ``unpack(buffer, eof)`` (buffer: a bytearray) returns the reply text once complete, else None.
        ``seqpacket`` selects SOCK_SEQPACKET (teamd's control socket) over SOCK_STREAM.
        """
        raise NotImplementedError

    def netlink_links(self) -> list[dict] | None:
        """One RTM_GETLINK dump, decoded by ``exporter.netlink``; None when the host has
        no live kernel to ask (snapshots, recordings, other roots): read sysfs instead."""
        return None

    # -- flows (collector ``flows``): socket and route answers, recorded like commands
    def tcp_sockets(self, ports: Sequence[int], *, timeout: float) -> CommandResult:
        """Established TCP sockets with a local or remote port in ``ports`` (sock_diag),
        as text (``exporter.sockdiag``); recorded as the pseudo command ``sock_diag tcp``."""
        raise CommandNotFound("sock_diag", "no live kernel to ask")

    def route_get(self, dst: str, src: str, *, timeout: float) -> CommandResult:
        """The kernel's route for one flow, as ``ip route get DST from SRC`` prints it."""
        raise CommandNotFound("ip", "no live kernel to ask")

    def close(self) -> None:
        pass


FLOW_SOCKETS_NAME = ("sock_diag", "tcp")


def route_get_name(dst: str, src: str) -> tuple[str, ...]:
    return ("ip", "route", "get", dst, "from", src)


# --------------------------------------------------------------------------- live host


class _LinkDumper:
    """One NETLINK_ROUTE socket, reused scrape after scrape (decoding: exporter.netlink)."""

    def __init__(self, timeout: float = 5.0):
        from exporter import netlink

        self.nl = netlink
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, netlink.NETLINK_ROUTE)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.settimeout(timeout)
        self.sock.bind((0, 0))
        self.seq = 0

    def dump(self) -> list[dict]:
        chunks: list[bytes] = []
        for _attempt in range(3):
            self.seq += 1
            self.sock.send(self.nl.request(self.seq))
            chunks = []
            changed = False
            while True:
                data = self.sock.recv(1 << 20)
                chunks.append(data)
                changed = changed or self.nl.interrupted(data)
                if self.nl.is_done(data):
                    break
            if not changed:
                break
        # After three interrupted dumps the last one is used: a device that appeared or
        # vanished meanwhile is simply missing or present for this scrape.
        return self.nl.decode_dump(chunks)[0]

    def close(self) -> None:
        self.sock.close()


class UeventWatch:
    """Kernel uevents (NETLINK_KOBJECT_UEVENT, group 1: lib/kobject_uevent.c; readable
    without privileges) in a thread that sleeps in recv(): ``generation`` grows on every
    add/remove/change/move of a device of ``SUBSYSTEMS``, so storage collectors re-read
    their topology at once instead of every scrape.  A message is ``action@devpath`` then
    NUL-separated ``KEY=value`` pairs (Documentation/ABI/testing/sysfs-uevent).  A lost
    message (ENOBUFS) counts as a change.  If the socket cannot be had the generation stays
    0.  pyroute2's UeventSocket does the same but importing pyroute2 adds about 17 MB of
    resident memory (measured, Python 3.11, pyroute2 0.9.7) of a 60 MB budget (SPEC §9)."""

    SUBSYSTEMS = frozenset({b"block", b"scsi", b"scsi_device", b"scsi_disk", b"scsi_host", b"iscsi_session",
                            b"iscsi_connection", b"iscsi_host", b"nvme", b"nvme-subsystem"})  # fmt: skip
    NETLINK_KOBJECT_UEVENT = 15

    def __init__(self) -> None:
        self.generation = 0
        self._sock: socket.socket | None = None
        self._stop = False

    def start(self) -> bool:
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, self.NETLINK_KOBJECT_UEVENT)
            sock.bind((0, 1))
            sock.settimeout(5.0)  # wakes to notice stop(); one wake-up per 5 s when idle
        except (OSError, AttributeError):
            return False
        self._sock = sock
        threading.Thread(target=self._run, name="lanes-uevents", daemon=True).start()
        return True

    @classmethod
    def relevant(cls, message: bytes) -> bool:
        for field in message.split(b"\0")[1:]:
            if field.startswith(b"SUBSYSTEM="):
                return field[10:] in cls.SUBSYSTEMS
        return False

    def _run(self) -> None:
        sock = self._sock
        while not self._stop and sock is not None:
            try:
                msg = sock.recv(65536)
            except socket.timeout:  # TimeoutError from 3.10 on
                continue
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    self.generation += 1  # events were lost: assume a change
                    continue
                return  # closed
            if msg.startswith(b"libudev"):
                continue  # udevd's re-broadcast (group 2), not the kernel's
            if self.relevant(msg):
                self.generation += 1

    def stop(self) -> None:
        self._stop = True
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _communicate(proc: subprocess.Popen, argv: list[str], timeout: float, start: float) -> tuple[bytearray, bytearray]:
    """Read stdout and stderr until both close, the deadline passes or the output passes
    its cap.  Once the command itself has exited, its pipes are read for EXIT_GRACE more
    at most: a descendant that left the process group may hold them open for ever.

    No exception of subprocess' own (TimeoutExpired keeps the frames, and with them the
    pipes, alive in a reference cycle until the garbage collector runs)."""
    deadline = start + timeout
    cap = LIMITS.command_output_bytes
    out, err = bytearray(), bytearray()
    bufs = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
    exited: float | None = None
    with selectors.DefaultSelector() as sel:
        for fd in bufs:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            now = time.monotonic()
            if exited is None and proc.poll() is not None:
                exited = now
            limit = deadline if exited is None else min(deadline, exited + EXIT_GRACE)
            if now >= limit:
                if exited is not None:
                    break
                raise CommandTimeout(argv, timeout)
            for key, _ev in sel.select(min(limit - now, 0.1)):
                data = os.read(key.fd, 1 << 16)
                if not data:
                    sel.unregister(key.fd)
                    continue
                buf = bufs[key.fd]
                buf += data
                if len(out) + len(err) > cap:
                    raise LimitExceeded(_argv_text(argv), "output", cap, "limits.command_output_bytes")
    if len(out) > LIMITS.line_bytes and _long_line(out, LIMITS.line_bytes):
        raise LimitExceeded(_argv_text(argv), "line", LIMITS.line_bytes, "limits.line_bytes")
    if proc.returncode is None:
        # output closed: the command is exiting; wait for it within the deadline
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise CommandTimeout(argv, timeout) from None
    return out, err


def _release(proc: subprocess.Popen) -> None:
    """Kill what is left of the process group, close our ends of the pipes and reap the
    child, deterministically (no zombie, no fd waiting for the garbage collector)."""
    if proc.returncode is None:
        _kill_group(proc)
    for f in (proc.stdout, proc.stderr):
        if f is not None:
            f.close()
    if proc.returncode is None:
        try:
            proc.wait(5)  # SIGKILLed: returns at once unless the kernel is stuck
        except subprocess.TimeoutExpired:
            pass


class LiveHost(Host):
    live = True

    def __init__(
        self,
        rootfs: str = "/",
        procfs: str | None = None,
        sysfs: str | None = None,
        commands: Mapping[str, Sequence[str]] | None = None,
        platform: str | None = None,
        netlink: bool | None = None,
    ):
        """``netlink``: None asks the kernel only when reading the real root; True also
        below another root (a container sharing the host's network namespace)."""
        self.rootfs = os.path.abspath(rootfs)
        self.procfs = os.path.abspath(procfs) if procfs else os.path.join(self.rootfs, "proc")
        self.sysfs = os.path.abspath(sysfs) if sysfs else os.path.join(self.rootfs, "sys")
        self.commands = {k: list(v) for k, v in (commands or {}).items()}
        self.platform = platform or detect_platform()
        # Netlink only describes the network namespace we run in: by default not a tree
        # below another root, unless told that namespace is the host's (--netlink).
        at_root = self.rootfs == "/" and self.procfs == "/proc" and self.sysfs == "/sys"
        self.live = at_root if netlink is None else netlink
        self._nl_lock = threading.Lock()
        self._nl = None
        self._uevents: UeventWatch | None = None
        self._flows = None

    # -- files
    def path(self, path: str) -> str:
        if path == "/proc" or path.startswith("/proc/"):
            return self.procfs + path[5:]
        if path == "/sys" or path.startswith("/sys/"):
            return self.sysfs + path[4:]
        if self.rootfs == "/":
            return path
        return self.rootfs + path

    def read_text(self, path: str) -> str:
        return _read(self.path(path), path)

    def read_many(self, paths: Sequence[str]) -> list[str | None]:
        """Small attributes (one page, as sysfs serves them) read with one open/read/close
        each and no per-file method layers: 25,000 state files of a 4,000-path host per
        scrape (bench/README.md).  Same results as ``read_optional`` (absent errnos give
        None, other errors raise); a file of a page or more goes the ordinary way."""
        if "read_text" in self.__dict__ or type(self).read_text is not LiveHost.read_text:
            return super().read_many(paths)  # read_text is wrapped: keep its behaviour
        out: list[str | None] = []
        append = out.append
        resolve = self.path
        sysfs = self.sysfs
        flags = os.O_RDONLY | os.O_CLOEXEC
        open_, read, close = os.open, os.read, os.close
        for p in paths:
            try:
                fd = open_(sysfs + p[4:] if p.startswith("/sys/") else resolve(p), flags)
            except OSError as e:
                if e.errno in _ABSENT_ERRNOS:
                    append(None)
                    continue
                raise
            try:
                chunk = read(fd, 4096)
            except OSError as e:
                if e.errno in _ABSENT_ERRNOS:
                    append(None)
                    continue
                raise
            finally:
                close(fd)
            append(chunk.decode("utf-8", "replace") if len(chunk) < 4096 else self.read_optional(p))
        return out

    def listdir(self, path: str) -> list[str]:
        return sorted(os.listdir(self.path(path)))

    def readlink(self, path: str) -> str:
        return os.readlink(self.path(path))

    def exists(self, path: str) -> bool:
        return os.path.lexists(self.path(path))

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(self.path(path))

    # -- commands
    def argv(self, tool: str, args: Sequence[str]) -> list[str]:
        prefix = self.commands.get(tool)
        if prefix:
            return [*prefix, *args]
        for d in SEARCH_PATH:
            candidate = os.path.join(d, tool)
            if os.access(candidate, os.X_OK):
                return [candidate, *args]
        raise CommandNotFound(tool, f"not found in {':'.join(SEARCH_PATH)}")

    def run(self, tool: str, args: Sequence[str], *, timeout: float) -> CommandResult:
        argv = self.argv(tool, args)
        env = {"LC_ALL": "C", "LANG": "C", "PATH": ":".join(SEARCH_PATH)}
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,  # own process group: killed whole on timeout
                close_fds=True,
            )
        except FileNotFoundError as e:
            raise CommandNotFound(tool, str(e)) from None
        except PermissionError as e:
            raise CommandNotFound(tool, f"not executable: {e}") from None
        try:
            out, err = _communicate(proc, argv, timeout, start)
        finally:
            _release(proc)
        return CommandResult(
            tuple(argv),
            proc.returncode,
            out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"),
            time.monotonic() - start,
        )

    def unix_request(self, name, addresses, payload, *, timeout, unpack, seqpacket=False):
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        for address in addresses:
            if address.startswith("@"):
                target: str | bytes = b"\0" + address[1:].encode()
            else:
                target = self.path(address)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET if seqpacket else socket.SOCK_STREAM)
            try:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    s.connect(target)
                except (FileNotFoundError, ConnectionRefusedError, PermissionError) as e:
                    last = e  # next address (libmpathcmd also falls back to the abstract socket)
                    continue
                s.sendall(payload)
                buf = bytearray()
                while True:
                    text = unpack(buf, False)  # a bytearray: no copy per chunk
                    if text is not None:
                        return CommandResult(tuple(name), 0, text, "", timeout - (deadline - time.monotonic()))
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise CommandTimeout(list(name), timeout)
                    s.settimeout(remaining)
                    try:
                        # a seqpacket message arrives whole or truncated: take up to 4 MiB at once
                        chunk = s.recv(1 << 22 if seqpacket else 1 << 16)
                    except TimeoutError:
                        raise CommandTimeout(list(name), timeout) from None
                    if not chunk:
                        text = unpack(buf, True)
                        if text is None:
                            raise HostError(f"{' '.join(name)}: connection closed mid-reply")
                        return CommandResult(tuple(name), 0, text, "", timeout - (deadline - time.monotonic()))
                    buf += chunk
                    if len(buf) > LIMITS.command_output_bytes:
                        raise LimitExceeded(_argv_text(name), "reply", LIMITS.command_output_bytes, "limits.command_output_bytes")
            except TimeoutError:
                raise CommandTimeout(list(name), timeout) from None
            finally:
                s.close()
        raise CommandNotFound(name[0], f"no socket answers at {', '.join(addresses)} ({last})")

    # -- netlink
    def uevent_generation(self) -> int:
        """A number that grows whenever the kernel announces that a block, SCSI, iSCSI or
        NVMe device came, went or changed (``UeventWatch``); 0 below another root or where
        the socket cannot be had (then topology caches rely on their own checks)."""
        if not self.live or self.platform != "linux":
            return 0
        with self._nl_lock:
            if self._uevents is None:
                self._uevents = UeventWatch()
                self._uevents.start()
        return self._uevents.generation

    def netlink_links(self) -> list[dict] | None:
        if not self.live or self.platform != "linux":
            return None
        with self._nl_lock:  # one dump at a time on the shared socket
            if self._nl is None:
                self._nl = _LinkDumper()
            try:
                return self._nl.dump()
            except OSError:
                self._nl.close()
                self._nl = None
                raise

    def _flow_source(self):
        if not self.live or self.platform != "linux":
            return None
        with self._nl_lock:
            if self._flows is None:
                from exporter.sockdiag import Live

                self._flows = Live()
            return self._flows

    def tcp_sockets(self, ports, *, timeout):
        src = self._flow_source()
        if src is None:
            return super().tcp_sockets(ports, timeout=timeout)
        start = time.monotonic()
        return CommandResult(FLOW_SOCKETS_NAME, 0, src.tcp_sockets(ports, timeout), "", time.monotonic() - start)

    def route_get(self, dst, src, *, timeout):
        flows = self._flow_source()
        if flows is None:
            return super().route_get(dst, src, timeout=timeout)
        start = time.monotonic()
        return CommandResult(route_get_name(dst, src), 0, flows.route_get(dst, src, timeout), "", time.monotonic() - start)

    def close(self) -> None:
        if self._nl is not None:
            self._nl.close()
        if self._uevents is not None:
            self._uevents.stop()
        if self._flows is not None:
            self._flows.close()


# --------------------------------------------------------------------------- snapshots


def read_snapshot_meta(directory: str) -> dict:
    meta_path = os.path.join(directory, "snapshot.yml")
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise ValueError(f"{meta_path}: missing (a snapshot needs snapshot.yml, SPEC §4)") from None
    except yaml.YAMLError as e:
        raise ValueError(f"{meta_path}: {e}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{meta_path}: must be a mapping")
    return meta


def _read_output(path: str, label: str) -> str:
    """A recorded command output, under the same caps as a live one."""
    with open(path, "rb", buffering=0) as f:
        data = f.read(LIMITS.command_output_bytes + 1)
    if len(data) > LIMITS.command_output_bytes:
        raise LimitExceeded(label, "output", LIMITS.command_output_bytes, "limits.command_output_bytes")
    if len(data) > LIMITS.line_bytes and _long_line(data, LIMITS.line_bytes):
        raise LimitExceeded(label, "line", LIMITS.line_bytes, "limits.line_bytes")
    return data.decode("utf-8", "replace")


class SnapshotHost(Host):
    """Serves a snapshot directory (SPEC §4).  Symlinks are resolved inside ``root/``:
    an absolute link target means a path on the recorded host, not on this one."""

    def __init__(self, directory: str, platform: str | None = None):
        self.dir = os.path.abspath(directory)
        if not os.path.isdir(self.dir):
            raise ValueError(f"{directory}: snapshot directory not found")
        self.meta = read_snapshot_meta(self.dir)
        self.root = os.path.join(self.dir, "root")
        self.platform = platform or str(self.meta.get("platform", "linux"))
        self.hostname = str(self.meta.get("hostname", ""))
        self._dirs: dict[str, str] = {}

    def _walk(self, path: str, follow_last: bool) -> str:
        """Resolved host path, following symlinks component by component."""
        parts = [p for p in path.split("/") if p]
        resolved: list[str] = []
        hops = 0
        i = 0
        while i < len(parts):
            part = parts[i]
            i += 1
            if part == ".":
                continue
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = os.path.join(self.root, *resolved, part)
            if (follow_last or i < len(parts)) and os.path.islink(candidate):
                hops += 1
                if hops > 40:
                    raise OSError(errno.ELOOP, "too many symlinks", path)
                target = os.readlink(candidate)
                rest = parts[i:]
                if target.startswith("/"):
                    resolved = []
                parts = [p for p in target.split("/") if p] + rest
                i = 0
                continue
            resolved.append(part)
        return "/" + "/".join(resolved)

    def _resolve(self, path: str, follow_last: bool = True) -> str:
        """Real file below root/ for a host path.  Resolved directories are remembered
        (a snapshot's tree does not change while it is served; its files may)."""
        parent, _, name = path.rstrip("/").rpartition("/")
        rparent = self._dirs.get(parent)
        if rparent is None:
            rparent = self._dirs[parent] = self._walk(parent or "/", True)
        if name in ("", ".", ".."):
            return self.root + self._walk(path, follow_last)
        candidate = f"{self.root}{rparent.rstrip('/')}/{name}"
        if follow_last and os.path.islink(candidate):
            return self.root + self._walk(f"{rparent.rstrip('/')}/{name}", True)
        return candidate

    def read_text(self, path: str) -> str:
        return _read(self._resolve(path), path)

    def listdir(self, path: str) -> list[str]:
        return sorted(os.listdir(self._resolve(path)))

    def readlink(self, path: str) -> str:
        return os.readlink(self._resolve(path, follow_last=False))

    def exists(self, path: str) -> bool:
        return os.path.lexists(self._resolve(path, follow_last=False))

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(self._resolve(path))

    def path(self, path: str) -> str:
        """Where a host path lies below root/, unresolved (a recording of this snapshot
        resolves the symlinks itself, as it does on a live host)."""
        return self.root + "/" + path.lstrip("/")

    def netlink_links(self) -> list[dict] | None:
        """The link dump recorded with the bundle (``netlink/links.json``), so that a replay
        takes the path the live scrape took (link kinds, bond netlink attributes); None for
        bundles without one (recorded without netlink, or hand-made)."""
        return load_netlink_dump(os.path.join(self.dir, NETLINK_LINKS))

    def _recorded(self, name: Sequence[str]) -> CommandResult:
        base = os.path.join(self.dir, "commands", slug(name[0], name[1:]))
        label = _argv_text(name)
        try:
            out = _read_output(base + ".out", label)
        except FileNotFoundError:
            raise CommandNotFound(name[0], "not recorded in snapshot") from None
        err = ""
        if os.path.exists(base + ".err"):
            err = _read_output(base + ".err", label)
        rc = 0
        if os.path.exists(base + ".rc"):
            with open(base + ".rc", encoding="ascii") as f:
                text = f.read().strip()
            if text == "timeout":  # a recorded hang replays as one
                raise CommandTimeout(list(name), 0)
            rc = int(text or 0)
        return CommandResult(tuple(name), rc, out, err)

    def run(self, tool, args, *, timeout):
        return self._recorded([tool, *args])

    def unix_request(self, name, addresses, payload, *, timeout, unpack, seqpacket=False):
        return self._recorded(list(name))

    def tcp_sockets(self, ports, *, timeout):
        return self._recorded(list(FLOW_SOCKETS_NAME))

    def route_get(self, dst, src, *, timeout):
        return self._recorded(list(route_get_name(dst, src)))


NETLINK_LINKS = os.path.join("netlink", "links.json")
#: link dump fields holding raw attribute bytes (written as hex)
_NETLINK_BYTES = ("info_data", "slave_data")


def netlink_dump_to_json(links: Sequence[Mapping]) -> dict:
    out = []
    for link in links:
        item = {}
        for k, v in link.items():
            if isinstance(v, (bytes, bytearray, memoryview)):
                item[k + "_hex"] = bytes(v).hex()
            else:
                item[k] = v
        out.append(item)
    return {"version": 1, "links": out}


def load_netlink_dump(path: str) -> list[dict] | None:
    import json

    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise OSError(errno.EINVAL, f"{path}: not a recorded link dump: {e}") from None
    links = []
    for item in doc.get("links", []) if isinstance(doc, dict) else []:
        if not isinstance(item, dict) or "name" not in item:
            continue
        link = {}
        for k, v in item.items():
            if k.endswith("_hex") and k[:-4] in _NETLINK_BYTES and isinstance(v, str):
                link[k[:-4]] = bytes.fromhex(v)
            else:
                link[k] = v
        links.append(link)
    return links


class RecordingHost(Host):
    """Passes every call to another host (the live one; a snapshot in tests) and writes
    what it saw into a snapshot: files, directory listings, symlinks, every command and
    socket request with its answer, and the netlink link dump.  The bundle is private
    (directories 0700, files 0600) and never holds a CHAP secret (exporter.scrub.drop_secrets)."""

    def __init__(self, inner: Host, directory: str, scrub: Callable[[str], str] | None = None):
        """``scrub`` rewrites everything written: file contents, path components, symlink
        targets and command names (exporter.scrub), consistently, so replay still works."""
        from exporter.scrub import drop_secrets

        self.inner = inner
        self.platform = inner.platform
        self.live = inner.live
        self.dir = os.path.abspath(directory)
        self.root = os.path.join(self.dir, "root")
        self.scrub = scrub or (lambda s: s)
        self._scrub_file = getattr(scrub, "file", None) if scrub is not None else None
        self._drop_secrets = drop_secrets
        self._lock = threading.Lock()
        self._names: dict[str, str] = {}
        self._links: dict[str, str | None] = {}
        #: "file: problem" of every write that failed (a full disk): the bundle is incomplete
        self.write_errors: list[str] = []
        for d in (self.dir, self.root, os.path.join(self.dir, "commands")):
            self._makedirs(d)
        os.chmod(self.dir, 0o700)

    @staticmethod
    def _makedirs(path: str) -> None:
        """mkdir -p with mode 0700 for every directory it creates (the umask only narrows)."""
        if os.path.isdir(path):
            return
        parent = os.path.dirname(path)
        if parent and parent != path:
            RecordingHost._makedirs(parent)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass

    def _write(self, path: str, text: str) -> None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            self._failed(path, e)
            raise

    def _failed(self, path: str, e: OSError) -> None:
        self.write_errors.append(f"{path}: {e.strerror or e}")

    def _content(self, path: str | None, text: str) -> str:
        """What the bundle keeps of a text: never a secret; scrubbed when asked."""
        text = self._drop_secrets(text)
        if self._scrub_file is not None and path is not None:
            return self._scrub_file(path, text)
        return self.scrub(text)

    def _mirror(self, path: str) -> str:
        """Create path's parents in the snapshot, keeping symlinks; return the real path
        on the live host of the final component's parent chain (resolved)."""
        parts = [p for p in path.split("/") if p]
        live_resolved: list[str] = []
        hops = 0
        i = 0
        while i < len(parts):
            part = parts[i]
            i += 1
            if part in (".", ""):
                continue
            if part == "..":
                if live_resolved:
                    live_resolved.pop()
                continue
            host_path = "/" + "/".join([*live_resolved, part])
            target = self._link_target(host_path)
            if target is not None:
                hops += 1
                if hops > 40:
                    break
                rest = parts[i:]
                if target.startswith("/"):
                    live_resolved = []
                parts = [p for p in target.split("/") if p] + rest
                i = 0
                continue
            live_resolved.append(part)
        return "/" + "/".join(live_resolved)

    def _link_target(self, host_path: str) -> str | None:
        """The symlink target of a host path (mirrored into the snapshot the first time),
        None if it is no symlink.  Remembered for the recording's short life: a recording
        asks for the same parents thousands of times."""
        try:
            return self._links[host_path]
        except KeyError:
            pass
        live_path = self.inner.path(host_path)
        target = os.readlink(live_path) if os.path.islink(live_path) else None
        if target is not None:
            snap_path = self._snap(host_path)
            with self._lock:
                if not os.path.lexists(snap_path):
                    self._makedirs(os.path.dirname(snap_path))
                    os.symlink(self.scrub(target), snap_path)
        self._links[host_path] = target
        return target

    def _name(self, part: str) -> str:
        """A path component as the snapshot names it (scrubbed once per distinct name)."""
        got = self._names.get(part)
        if got is None:
            got = self._names[part] = self.scrub(part)
        return got

    def _snap(self, host_path: str) -> str:
        """Where a (resolved) host path lives in the snapshot, names scrubbed."""
        return os.path.join(self.root, *(self._name(p) for p in host_path.split("/") if p))

    def read_text(self, path: str) -> str:
        text = self.inner.read_text(path)
        real = self._mirror(path)
        dest = self._snap(real)
        with self._lock:
            try:
                self._makedirs(os.path.dirname(dest))
            except OSError as e:
                self._failed(os.path.dirname(dest), e)
                raise
            if not os.path.isdir(dest):
                self._write(dest, self._content(path, text))
        return text

    def listdir(self, path: str) -> list[str]:
        names = self.inner.listdir(path)
        real = self._mirror(path)
        dest = self._snap(real)
        with self._lock:
            self._makedirs(dest)
            for n in names:
                live_entry = self.inner.path(f"{real.rstrip('/')}/{n}")
                entry = os.path.join(dest, self._name(n))
                if os.path.lexists(entry):
                    continue
                if os.path.islink(live_entry):
                    os.symlink(self.scrub(os.readlink(live_entry)), entry)
                elif os.path.isdir(live_entry):
                    self._makedirs(entry)
        return names

    def readlink(self, path: str) -> str:
        target = self.inner.readlink(path)
        self._mirror(path)
        return target

    def exists(self, path: str) -> bool:
        found = self.inner.exists(path)
        if found:
            self._mirror(path)
        return found

    def is_dir(self, path: str) -> bool:
        found = self.inner.is_dir(path)
        if found:
            self._makedirs(self._snap(self._mirror(path)))
        return found

    def _save(self, name: Sequence[str], result: CommandResult | None, rc_text: str | None = None):
        base = os.path.join(self.dir, "commands", slug(self.scrub(name[0]), [self.scrub(a) for a in name[1:]]))
        with self._lock:
            if result is not None:
                self._write(base + ".out", self._content(None, result.stdout))
                if result.stderr:
                    self._write(base + ".err", self._content(None, result.stderr))
                elif os.path.exists(base + ".err"):
                    os.unlink(base + ".err")  # a later run of the same command replaces an earlier one
                if result.returncode:
                    self._write(base + ".rc", f"{result.returncode}\n")
                elif os.path.exists(base + ".rc"):
                    os.unlink(base + ".rc")
            elif rc_text:
                self._write(base + ".out", "")
                self._write(base + ".rc", rc_text + "\n")

    def run(self, tool, args, *, timeout):
        try:
            result = self.inner.run(tool, args, timeout=timeout)
        except CommandTimeout:
            self._save([tool, *args], None, "timeout")
            raise
        self._save([tool, *args], result)
        return result

    def unix_request(self, name, addresses, payload, *, timeout, unpack, seqpacket=False):
        try:
            result = self.inner.unix_request(name, addresses, payload, timeout=timeout, unpack=unpack, seqpacket=seqpacket)
        except CommandTimeout:
            self._save(name, None, "timeout")
            raise
        self._save(name, result)
        return result

    def tcp_sockets(self, ports, *, timeout):
        result = self.inner.tcp_sockets(ports, timeout=timeout)
        self._save(FLOW_SOCKETS_NAME, result)
        return result

    def route_get(self, dst, src, *, timeout):
        result = self.inner.route_get(dst, src, timeout=timeout)
        self._save(route_get_name(dst, src), result)
        return result

    def netlink_links(self) -> list[dict] | None:
        """The inner host's link dump, written to ``netlink/links.json`` (the last one of the
        recording wins), so that the replay learns what the live scrape learned from it."""
        dump = self.inner.netlink_links()
        if dump is None:
            return None
        scrub_link = getattr(self.scrub, "netlink_link", None)
        kept = [scrub_link(dict(link)) if scrub_link is not None else dict(link) for link in dump]
        import json

        path = os.path.join(self.dir, NETLINK_LINKS)
        with self._lock:
            self._makedirs(os.path.dirname(path))
            self._write(path, json.dumps(netlink_dump_to_json(kept), indent=1, sort_keys=True) + "\n")
        return dump

    def close(self) -> None:
        self.inner.close()
