"""What the ``flows`` collector costs per scrape at 10, 100 and 1,000 loopback connections.

    python bench/flows.py                     # sizes 10,100,1000, 20 rounds each
    python bench/flows.py --sizes 1000 --noise 2000 --rounds 10

For each size N the script opens N TCP connections to a listener on 127.0.0.1:3260 (an
iSCSI port; both ends are on this host, so sock_diag sees 2N storage sockets), each from
its own source address 127.1.x.y (so every flow needs its own route lookup: the worst
case), plus ``--noise`` connections on a non-storage port that the collector must skip.
It then times, in this process, median of ``--rounds``:

* ``collect``: the whole collector (sock_diag dump, route lookups, group mapping, families)
  with ``max_flows`` raised above 2N, in steady state (route answers cached, the default
  ``route_cache: 60s``), with no route cache (a pyroute2 route lookup per flow: the first
  scrape), and with the default ``max_flows`` 256;
* ``dump``: the sock_diag dump alone as lanes does it (request built by pyroute2, replies
  decoded with ``struct``; other ports skipped on their fixed header);
* ``dump (pyroute2)``: the same dump with each storage socket decoded by pyroute2's
  ``inet_diag_msg``: the library alternative SPEC §2 prefers unless it misses §9;
* ``ss``: ``ss -tinH state established '( sport = :3260 or dport = :3260 )'``, the
  command an admin would run for the same answer (a peer, as node_exporter is for links:
  node_exporter has no per-connection collector).

Time per object = collect time / 2N sockets.  Results go to bench/out/flows-<time>.{json,txt}.
No assertion: this reports, it does not pass or fail.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import socket
import statistics
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
sys.path.insert(0, ROOT)

from collectors.flows_linux import FlowsLinux  # noqa: E402
from exporter import sockdiag  # noqa: E402
from exporter.api import Context  # noqa: E402
from exporter.config import Config  # noqa: E402
from exporter.host import LiveHost  # noqa: E402

PORT = 3260


def connections(n: int, port: int, distinct_sources: bool) -> tuple[socket.socket, list[socket.socket]]:
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(4096)
    socks = []
    for i in range(n):
        c = socket.socket()
        if distinct_sources:
            c.bind((f"127.1.{i // 250}.{i % 250 + 1}", 0))
        c.connect(("127.0.0.1", port))
        a, _ = ls.accept()
        c.sendall(b"x" * 1000)
        a.recv(2000)
        socks += [c, a]
    return ls, socks


def median_time(fn, rounds: int) -> float:
    fn()  # warm-up (opens the netlink sockets)
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def pyroute2_dump(ports: frozenset[int]) -> int:
    """The library alternative: the same request and replies, each storage socket's
    message decoded by pyroute2 (``inet_diag_msg``) instead of lanes' struct reads."""
    from pyroute2.netlink.diag import inet_diag_msg

    live = sockdiag.Live()
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, sockdiag.NETLINK_SOCK_DIAG)
    s.bind((0, 0))
    found = 0
    try:
        for family in (socket.AF_INET, socket.AF_INET6):
            s.send(live._request(family))
            while True:
                msgs, done = sockdiag.split_messages(s.recv(1 << 20))
                for raw in msgs:
                    sport, dport = struct.unpack_from(">HH", raw, 20)
                    if sport not in ports and dport not in ports:
                        continue
                    msg = inet_diag_msg(raw)
                    msg.decode()
                    info = msg.get_attr("INET_DIAG_INFO")
                    found += info.get("tcpi_bytes_acked") is not None
                if done:
                    break
    finally:
        s.close()
    return found


def run_size(n: int, noise: int, rounds: int) -> dict:
    ls, socks = connections(n, PORT, distinct_sources=True)
    nls, nsocks = connections(noise, 5201, distinct_sources=False) if noise else (None, [])
    try:
        host = LiveHost()
        big = FlowsLinux(host, Context("flows", {"max_flows": 4 * n + 10}, Config(), None))
        cold = FlowsLinux(host, Context("flows", {"max_flows": 4 * n + 10, "route_cache": 0.0}, Config(), None))
        default = FlowsLinux(host, Context("flows", {}, Config(), None))
        fams = big.collect()
        exported = sum(len(f.samples) for f in fams if f.name == "lanes_flow_info")
        ports = frozenset(big.ports)
        out = {
            "connections": n,
            "storage_sockets": 2 * n,
            "noise_sockets": 2 * noise,
            "flows_exported": exported,
            "collect_s": median_time(lambda: list(big.collect()), rounds),
            "collect_no_route_cache_s": median_time(lambda: list(cold.collect()), max(3, rounds // 4)),
            "collect_default_max_flows_s": median_time(lambda: list(default.collect()), rounds),
            "dump_s": median_time(lambda: host.tcp_sockets(sorted(ports), timeout=10), rounds),
            "dump_pyroute2_s": median_time(lambda: pyroute2_dump(ports), rounds),
        }
        ss = "/usr/bin/ss" if os.path.exists("/usr/bin/ss") else "/bin/ss"
        if os.path.exists(ss):
            argv = [ss, "-tinH", "state", "established", f"( sport = :{PORT} or dport = :{PORT} )"]
            out["ss_s"] = median_time(lambda: subprocess.run(argv, capture_output=True, check=True), max(3, rounds // 4))
        out["per_socket_us"] = out["collect_s"] / (2 * n) * 1e6
        host.close()
        return out
    finally:
        for s in socks + nsocks:
            s.close()
        ls.close()
        if nls is not None:
            nls.close()


def table(rows: list[dict]) -> str:
    head = f"{'conns':>6} {'sockets':>8} {'noise':>6} {'exported':>8} {'collect':>10} {'no cache':>10} {'max256':>10} {'dump':>10} {'dump pyr2':>11} {'ss':>10} {'us/socket':>9}"
    lines = [head]
    for r in rows:
        lines.append(
            f"{r['connections']:>6} {r['storage_sockets']:>8} {r['noise_sockets']:>6} {r['flows_exported']:>8} "
            f"{r['collect_s'] * 1e3:>8.2f}ms {r['collect_no_route_cache_s'] * 1e3:>8.2f}ms {r['collect_default_max_flows_s'] * 1e3:>8.2f}ms {r['dump_s'] * 1e3:>8.2f}ms "
            f"{r['dump_pyroute2_s'] * 1e3:>9.2f}ms {r.get('ss_s', float('nan')) * 1e3:>8.2f}ms {r['per_socket_us']:>9.1f}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10,100,1000")
    p.add_argument("--noise", type=int, default=0, help="non-storage connections (port 5201) beside them")
    p.add_argument("--rounds", type=int, default=20)
    a = p.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    rows = [run_size(int(n), a.noise, a.rounds) for n in a.sizes.split(",")]
    text = table(rows)
    print(text)
    os.makedirs(OUT, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    meta = {"loadavg": open("/proc/loadavg").read().strip(), "python": sys.version.split()[0], "kernel": os.uname().release}
    with open(os.path.join(OUT, f"flows-{stamp}.json"), "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    with open(os.path.join(OUT, f"flows-{stamp}.txt"), "w") as f:
        f.write(text + "\n" + json.dumps(meta) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
