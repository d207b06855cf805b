"""Small helpers for the live lab: network namespaces, veth pairs, tc shaping, processes
inside a namespace and sockets opened in one.  Everything runs with a timeout and every
namespace is made with the ``lanes-lab-`` prefix, so concurrent lab runs never collide.

Tools: iproute2 ``ip`` (ip-netns(8), ip-link(8)) and ``tc`` (tc-tbf(8)).  Sockets are
opened inside a namespace with setns(2) on a short-lived thread: a thread's network
namespace is its own (CLONE_NEWNET affects the calling thread only), and a socket stays in
the namespace it was created in (network_namespaces(7)).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence

IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "/sbin/ip"
TC = "/usr/sbin/tc" if os.path.exists("/usr/sbin/tc") else "/sbin/tc"
PREFIX = "lanes-lab-"
CLONE_NEWNET = 0x40000000  # include/uapi/linux/sched.h
CMD_TIMEOUT = 20.0


def netns_socket(name: str, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM) -> socket.socket:
    """A socket created inside the named network namespace.  setns(2) moves only the
    calling thread (network_namespaces(7)), so it runs on a short-lived thread; the socket
    keeps its namespace and is usable from any thread afterwards."""
    box: list = []

    def inner():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, os.strerror(err))
            finally:
                os.close(fd)
            box.append(socket.socket(family, type))
        except BaseException as e:  # handed to the caller
            box.append(e)

    t = threading.Thread(target=inner, name=f"setns-{name}")
    t.start()
    t.join(10)
    if not box:
        raise LabError(f"setns into {name} did not finish")
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


class LabError(RuntimeError):
    pass


def run(argv: Sequence[str], timeout: float = CMD_TIMEOUT, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv)}: rc={proc.returncode}: {proc.stderr.strip()}")
    return proc


def can_use_namespaces() -> tuple[bool, str]:
    """(ok, reason): root, ip and tc present, and a namespace can really be made."""
    if os.geteuid() != 0:
        return False, "needs root (network namespaces)"
    for tool in (IP, TC):
        if not os.access(tool, os.X_OK):
            return False, f"{tool} missing (apt-get install iproute2)"
    name = PREFIX + "probe-" + secrets.token_hex(3)
    try:
        run([IP, "netns", "add", name], timeout=10)
    except (LabError, OSError, subprocess.TimeoutExpired) as e:
        return False, f"cannot create a network namespace: {e}"
    with contextlib.suppress(Exception):
        run([IP, "netns", "del", name], timeout=10, check=False)
    return True, ""


class Netns:
    """One network namespace: ``ip netns add``; ``close()`` kills what runs in it and
    deletes it (the veths inside go with it)."""

    def __init__(self, tag: str = ""):
        self.name = f"{PREFIX}{tag + '-' if tag else ''}{os.getpid()}-{secrets.token_hex(2)}"
        run([IP, "netns", "add", self.name])
        self.procs: list[subprocess.Popen] = []
        self.ip("link", "set", "lo", "up")

    # -- commands
    def ip(self, *args: str, timeout: float = CMD_TIMEOUT, check: bool = True) -> subprocess.CompletedProcess:
        return run([IP, "-n", self.name, *args], timeout=timeout, check=check)

    def tc(self, *args: str, timeout: float = CMD_TIMEOUT) -> subprocess.CompletedProcess:
        return run([IP, "netns", "exec", self.name, TC, *args], timeout=timeout)

    def exec(self, argv: Sequence[str], timeout: float = CMD_TIMEOUT, check: bool = True, cwd: str | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [IP, "netns", "exec", self.name, *argv], capture_output=True, text=True, timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL
        )
        if check and proc.returncode != 0:
            raise LabError(f"in {self.name}: {' '.join(argv)}: rc={proc.returncode}: {proc.stderr.strip()[-2000:]}")
        return proc

    def popen(self, argv: Sequence[str], cwd: str | None = None, log: str | None = None) -> subprocess.Popen:
        """Start a long-running process in the namespace (own process group); killed by close()."""
        out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
        try:
            proc = subprocess.Popen(
                [IP, "netns", "exec", self.name, *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
                cwd=cwd,
                start_new_session=True,
            )
        finally:
            if log:
                out.close()
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 5.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)

    # -- state
    def link_stats(self) -> dict[str, dict]:
        """Kernel view: ``ip -s -j link show`` -> {ifname: entry}; entry["stats64"]["rx"]["bytes"]."""
        data = json.loads(self.ip("-s", "-j", "link", "show").stdout)
        return {e["ifname"]: e for e in data}

    def sysfs_counter(self, ifname: str, stat: str) -> int:
        """/sys/class/net/<if>/statistics/<stat> as seen inside the namespace (ip netns exec
        mounts a sysfs of the namespace)."""
        return int(self.exec(["cat", f"/sys/class/net/{ifname}/statistics/{stat}"]).stdout)

    def socket(self, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM) -> socket.socket:
        """A socket created inside this namespace (usable from any thread afterwards)."""
        return netns_socket(self.name, family, type)

    def free_port(self) -> int:
        with contextlib.closing(self.socket()) as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def connect(self, port: int, timeout: float = 5.0) -> socket.socket:
        s = self.socket()
        s.settimeout(timeout)
        try:
            s.connect(("127.0.0.1", port))
        except BaseException:
            s.close()
            raise
        return s

    def wait_port(self, port: int, proc: subprocess.Popen | None = None, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise LabError(f"process exited with {proc.returncode} before listening on {port}")
            try:
                self.connect(port, timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise LabError(f"nothing listens on 127.0.0.1:{port} in {self.name} after {timeout:g}s")

    def http_get(self, port: int, path: str = "/metrics", timeout: float = 10.0) -> str:
        """GET http://127.0.0.1:<port><path> inside the namespace."""
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.sock = self.connect(port, timeout)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read().decode()
            if resp.status != 200:
                raise LabError(f"GET {path} on {port}: HTTP {resp.status}: {body[:200]}")
            return body
        finally:
            conn.close()

    def close(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(Exception):
                self.stop(proc)
        # anything else still in the namespace was started by this lab (iperf3 clients)
        pids = run([IP, "netns", "pids", self.name], check=False, timeout=10).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError, PermissionError):
                os.kill(int(pid), signal.SIGKILL)
        run([IP, "netns", "del", self.name], check=False, timeout=20)

    def __enter__(self) -> Netns:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def veth_pair(a: Netns, a_name: str, b: Netns, b_name: str) -> None:
    """One veth pair, one end in each namespace (both namespaces made by the caller)."""
    a.ip("link", "add", a_name, "type", "veth", "peer", "name", b_name, "netns", b.name)


def up(ns: Netns, ifname: str, address: str | None = None) -> None:
    if address:  # nodad: usable at once (no duplicate address detection wait)
        ns.ip("-6", "addr", "add", address, "dev", ifname, "nodad")
    ns.ip("link", "set", ifname, "up")


def shape(ns: Netns, ifname: str, rate: str, burst: str = "32kbit", latency: str = "100ms") -> None:
    """Token-bucket shaping of the egress of ``ifname`` (tc-tbf(8))."""
    ns.tc("qdisc", "replace", "dev", ifname, "root", "tbf", "rate", rate, "burst", burst, "latency", latency)


def wait_oper_up(ns: Netns, ifname: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ns.link_stats().get(ifname, {}).get("operstate") == "UP":
            return
        time.sleep(0.1)
    raise LabError(f"{ifname} in {ns.name} not operationally up after {timeout:g}s")
