"""Benchmark lanes against node_exporter, side by side (SPEC §9).

    python bench/run.py                       # everything: sizes 10..10000, RSS, sampler CPU, live netns
    python bench/run.py --sizes 1000 --no-live --cpu-seconds 20

Fixture hosts (bench/gen.py) with N NICs and N/10 802.3ad bonds: lanes serves
``--path.sysfs/--path.procfs`` with ``--collector.link`` (and ``--collector.bond`` when
``lanes_exporter --help`` lists it); node_exporter serves the same tree with netdev
from /proc (``--no-collector.netdev.netlink``), netclass and bonding.  Both run as
servers; after a warm-up the script scrapes them alternating (the order flips every
round) and reports the median wall time of a full scrape (connect, request, body read;
gzip asked for, as Prometheus does), the ratio lanes/node_exporter and the time per
object (NICs + bonds).  Then: peak RSS of lanes (VmHWM), the sampler's CPU cost at 1 s
(CPU time of two idle lanes processes over the same window, one with the sampler on
and following 200 members, one with ``--sampler.interval 0``), and the live variant: a
network namespace (``lanes-lab-bench-*``) holding 500 veth pairs (1,000 interfaces),
lanes (netlink) against node_exporter (netlink netdev + netclass) inside it.

The large storage host (``--storage-maps``, default 1,000): the 1,000-NIC tree plus that
many dm-multipath maps of 4 iSCSI paths each (4,000 sessions; bench/gen.py ``--maps``);
lanes with link, bond, multipath and iscsi on the whole tree against node_exporter with
the 1,000-NIC row's flags (it reads only the network part), same alternating rounds.

Results go to bench/out/results-<time>.{json,txt}; the table is printed too.  No
assertion anywhere: this reports ratios, it does not pass or fail.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gzip
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import gen  # noqa: E402

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
NODE_FIXTURE_FLAGS = ["--collector.disable-defaults", "--collector.netdev", "--no-collector.netdev.netlink", "--collector.netclass", "--collector.bonding"]
NODE_LIVE_FLAGS = ["--collector.disable-defaults", "--collector.netdev", "--collector.netclass"]


# ----------------------------------------------------------------------------- plumbing


def lanes_has_collector(name: str) -> bool:
    out = subprocess.run([sys.executable, "-m", "exporter", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    return f"--collector.{name}," in out or f"--collector.{name} " in out or f"--collector.{name}\n" in out


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:4])


def proc_status(pid: int, key: str) -> int | None:
    """kB value of a /proc/<pid>/status line (VmHWM, VmRSS)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (proc(5): /proc/<pid>/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """A running exporter: its process and how to open a connection to it."""

    def __init__(self, name: str, argv: list[str], port: int, log: str, ns=None, cwd: str | None = None):
        self.name, self.port, self.ns = name, port, ns
        if ns is not None:
            self.proc = ns.popen(argv, cwd=cwd, log=log)
        else:
            with open(log, "wb") as out:
                self.proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready()

    @property
    def pid(self) -> int:
        """The exporter's own pid (under ``ip netns exec`` the exec replaces ip's image)."""
        return self.proc.pid

    def connect(self, timeout: float = 120) -> socket.socket:
        if self.ns is not None:
            return self.ns.connect(self.port, timeout)
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return s

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            try:
                self.connect(1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not listening on {self.port} after {timeout}s")

    def scrape(self, use_gzip: bool = True) -> tuple[float, int, str]:
        """(seconds, bytes on the wire, text) of one full scrape."""
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        conn.sock = self.connect()
        try:
            headers = {"Accept": "text/plain;version=0.0.4"}
            if use_gzip:
                headers["Accept-Encoding"] = "gzip"
            conn.request("GET", "/metrics", headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            t1 = time.perf_counter()
            if resp.status != 200:
                raise RuntimeError(f"{self.name}: HTTP {resp.status}")
            enc = resp.getheader("Content-Encoding", "")
        finally:
            conn.close()
        text = gzip.decompress(body).decode() if enc == "gzip" else body.decode()
        return t1 - t0, len(body), text

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(10)


def samples(text: str) -> dict[tuple[str, tuple], float]:
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def check_success(lanes_text: str, node_text: str, node_collectors: list[str]) -> dict:
    ls, ns = samples(lanes_text), samples(node_text)
    lanes_ok = {dict(k[1])["collector"]: v for k, v in ls.items() if k[0] == "lanes_collector_success"}
    node_ok = {dict(k[1])["collector"]: v for k, v in ns.items() if k[0] == "node_scrape_collector_success"}
    bad = [f"lanes {c}" for c, v in lanes_ok.items() if v != 1] + [f"node_exporter {c}" for c in node_collectors if node_ok.get(c) != 1]
    if bad:
        raise RuntimeError(f"collector failed on this tree: {', '.join(bad)}")
    durations = {dict(k[1])["collector"]: v for k, v in ls.items() if k[0] == "lanes_collector_duration_seconds"}
    ndur = {dict(k[1])["collector"]: v for k, v in ns.items() if k[0] == "node_scrape_collector_duration_seconds"}
    return {
        "lanes_success": lanes_ok,
        "node_success": node_ok,
        "lanes_series": sum(1 for k in ls if not k[0].startswith("lanes_collector")),
        "node_series": sum(1 for k in ns if k[0].startswith(("node_network", "node_bonding"))),
        "lanes_collector_seconds": durations,
        "node_collector_seconds": ndur,
    }


def alternate(a: Server, b: Server, rounds: int, warmup: int, use_gzip: bool) -> dict:
    for _ in range(warmup):
        a.scrape(use_gzip)
        b.scrape(use_gzip)
    times: dict[str, list[float]] = {a.name: [], b.name: []}
    cpu: dict[str, list[float]] = {a.name: [], b.name: []}
    size: dict[str, int] = {}
    for r in range(rounds):
        order = (a, b) if r % 2 == 0 else (b, a)
        for s in order:
            c0 = cpu_seconds(s.pid)
            dt, n, _ = s.scrape(use_gzip)
            cpu[s.name].append(cpu_seconds(s.pid) - c0)  # all threads; includes any background work
            times[s.name].append(dt)
            size[s.name] = n
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "median_s": med,
        "cpu_per_scrape_s": {k: sum(v) / len(v) for k, v in cpu.items()},
        "min_s": {k: min(v) for k, v in times.items()},
        "max_s": {k: max(v) for k, v in times.items()},
        "bytes": size,
        "ratio": med[a.name] / med[b.name],
        "times_s": times,
    }


# ----------------------------------------------------------------------------- phases


LANES_CMD = [sys.executable, "-m", "exporter"]


def lanes_fixture_argv(tree: str, port: int, bond: bool, extra: list[str] | None = None) -> list[str]:
    argv = [*LANES_CMD, "--path.sysfs", f"{tree}/root/sys", "--path.procfs", f"{tree}/root/proc",
            "--collector.disable-defaults", "--collector.link", "--web.listen-address", f"127.0.0.1:{port}"]  # fmt: skip
    if bond:
        argv.insert(argv.index("--web.listen-address"), "--collector.bond")
    return argv + (extra or [])


TIMEOUT_CONFIG = """\
# bench: collector timeouts far above any scrape here, so a slow scrape is measured, not cut off
collectors:
  link: {timeout: 600s}
  bond: {timeout: 600s}
"""


def timeout_config(logdir: str, bond: bool) -> str:
    path = os.path.join(logdir, "timeouts.yml")
    with open(path, "w") as f:
        f.write(TIMEOUT_CONFIG if bond else TIMEOUT_CONFIG.replace("  bond: {timeout: 600s}\n", ""))
    return path


def fixture_size(nics: int, args, bond: bool, logdir: str) -> dict:
    bonds = max(1, nics // 10)
    tree = os.path.join(OUT, "trees", f"n{nics}-b{bonds}")
    t = time.monotonic()
    gen.ensure(tree, nics, bonds)
    gen_s = time.monotonic() - t
    load_before = loadavg()
    lp, np_ = free_port(), free_port()
    lanes = Server("lanes", lanes_fixture_argv(tree, lp, bond, ["--config.file", timeout_config(logdir, bond)]), lp, os.path.join(logdir, f"lanes-{nics}.log"), cwd=ROOT)
    node = None
    try:
        node = Server("node_exporter", [NODE_EXPORTER, "--path.sysfs", f"{tree}/root/sys", "--path.procfs", f"{tree}/root/proc",
                                        *NODE_FIXTURE_FLAGS, "--web.listen-address", f"127.0.0.1:{np_}"],
                      np_, os.path.join(logdir, f"node-{nics}.log"))  # fmt: skip
        info = check_success(lanes.scrape()[2], node.scrape()[2], ["netdev", "netclass", "bonding"])
        rounds = args.rounds if nics < 10_000 else min(args.rounds, args.rounds_large)
        res = alternate(lanes, node, rounds, args.warmup, not args.no_gzip)
        res.update(info)
        res["rounds"] = rounds
        res["lanes_vmhwm_kb"] = proc_status(lanes.pid, "VmHWM")
        res["node_vmhwm_kb"] = proc_status(node.pid, "VmHWM")
    finally:
        lanes.stop()
        if node:
            node.stop()
    objects = nics + bonds
    res.update({
        "nics": nics, "bonds": bonds, "objects": objects, "tree": tree, "generate_s": gen_s,
        "per_object_ms": {k: v * 1000 / objects for k, v in res["median_s"].items()},
        "load_before": load_before, "load_after": loadavg(),
    })  # fmt: skip
    return res


STORAGE_COLLECTORS = ("link", "bond", "multipath", "iscsi")
STORAGE_CONFIG = """\
# bench: timeouts far above any scrape here; no dmsetup: the fixture cannot answer it and
# the machine's own dm devices must not leak in (multipathd is not running: sysfs only)
collectors:
  link: {timeout: 600s}
  bond: {timeout: 600s}
  multipath: {timeout: 600s, dmsetup: false}
  iscsi: {timeout: 600s}
"""


def storage_host(args, logdir: str) -> dict:
    """SPEC §9 large storage host: lanes (links, bonds, multipath, iSCSI) on the full tree
    against node_exporter on its 1,000-NIC part."""
    nics, bonds, maps, paths = 1000, 100, args.storage_maps, 4
    tree = os.path.join(OUT, "trees", f"n{nics}-b{bonds}-m{maps}x{paths}")
    t = time.monotonic()
    gen.ensure(tree, nics, bonds, maps=maps, paths=paths)
    gen_s = time.monotonic() - t
    # a real host's sysfs lives in memory; the fixture tree's files are read once so that the
    # first scrape measures lanes, not the disk (another program may have evicted the
    # tree's pages since it was written)
    t = time.monotonic()
    warm_files = warm_tree(os.path.join(tree, "root"))
    warm_s = time.monotonic() - t
    cfg = os.path.join(logdir, "storage.yml")
    with open(cfg, "w") as f:
        f.write(STORAGE_CONFIG)
    load_before = loadavg()
    lp, np_ = free_port(), free_port()
    argv = [*LANES_CMD, "--path.sysfs", f"{tree}/root/sys", "--path.procfs", f"{tree}/root/proc", "--collector.disable-defaults",
            *(f"--collector.{c}" for c in STORAGE_COLLECTORS), "--config.file", cfg, "--web.listen-address", f"127.0.0.1:{lp}"]  # fmt: skip
    lanes = Server("lanes", argv, lp, os.path.join(logdir, "lanes-storage.log"), cwd=ROOT)
    node = None
    try:
        node = Server("node_exporter", [NODE_EXPORTER, "--path.sysfs", f"{tree}/root/sys", "--path.procfs", f"{tree}/root/proc",
                                        *NODE_FIXTURE_FLAGS, "--web.listen-address", f"127.0.0.1:{np_}"],
                      np_, os.path.join(logdir, "node-storage.log"))  # fmt: skip
        first_s, _, text = lanes.scrape()  # the first scrape after start: topology and all
        info = check_success(text, node.scrape()[2], ["netdev", "netclass", "bonding"])
        missing = sorted(set(STORAGE_COLLECTORS) - set(info["lanes_success"]))
        if missing:
            raise RuntimeError(f"lanes did not run {', '.join(missing)}")
        members = {}
        for k, v in samples(text).items():
            if k[0] == "lanes_group_members":
                kind = dict(k[1])["kind"]
                members[kind] = members.get(kind, 0) + v
        want = {"multipath": maps * paths, "iscsi": maps * paths, "bond": bonds * 2}
        if {k: members.get(k) for k in want} != want:
            raise RuntimeError(f"lanes_group_members by kind {members}, expected {want}")
        rounds = min(args.rounds, args.rounds_storage)
        res = alternate(lanes, node, rounds, args.warmup, not args.no_gzip)
        res.update(info)
        res["first_scrape_s"] = first_s
        # a scrape after the rounds, two sampler intervals after the last one: the sampler's
        # peak series are there too (a scrape right after another finds no sampler tick in
        # between, so no peaks: 10 and 6 series instead of 12 and 8)
        time.sleep(2.5)
        res["series_per_object"] = series_per_object(samples(lanes.scrape()[2]))
        res["group_members"] = members
        if args.cpu_seconds > 0:  # SPEC §9: the sampler at 1 s following every member, idle
            res["sampler"] = storage_sampler_cpu(args, lanes, [a for a in argv if a != f"127.0.0.1:{lp}"], logdir)
        res["rounds"] = rounds
        res["lanes_vmhwm_kb"] = proc_status(lanes.pid, "VmHWM")
        res["node_vmhwm_kb"] = proc_status(node.pid, "VmHWM")
    finally:
        lanes.stop()
        if node:
            node.stop()
    objects = nics + bonds + maps + 2 * maps * paths  # NICs, bonds, maps, paths, sessions
    res.update({
        "nics": nics, "bonds": bonds, "maps": maps, "paths": maps * paths, "sessions": maps * paths, "objects": objects,
        "tree": tree, "generate_s": gen_s, "warm_files": warm_files, "warm_s": warm_s, "lanes_argv": argv[len(LANES_CMD):],
        "per_object_ms": {k: v * 1000 / objects for k, v in res["median_s"].items()},
        "load_before": load_before, "load_after": loadavg(),
    })  # fmt: skip
    return res


def warm_tree(root: str) -> int:
    """Read every regular file below ``root`` once (page and dentry caches); the count."""
    n = 0
    for d, _dirs, files in os.walk(root):
        for f in files:
            try:
                with open(os.path.join(d, f), "rb") as fh:
                    fh.read(4096)
                n += 1
            except OSError:
                pass
    return n


def series_per_object(s: dict) -> dict:
    """Series per storage path and per iSCSI session (SPEC §9: <= 16 and <= 8, the group
    model's member series included): a path's series carry map+path labels
    (lanes_multipath_path_*) or kind=multipath and member=<dev> (lanes_member_*,
    lanes_path_info); a session's carry target+portal+iface (lanes_iscsi_session_*,
    lanes_iscsi_connection_*: on Linux only lanes_iscsi_session_info) or kind=iscsi and member=<portal@iface>."""
    path: dict[tuple, int] = {}
    sess: dict[tuple, int] = {}
    for name, labels in s:
        d = dict(labels)
        if d.get("kind") == "multipath" and "member" in d:
            k = (d["group"], d["member"])
            path[k] = path.get(k, 0) + 1
        elif "map" in d and "path" in d:
            k = (d["map"], d["path"])
            path[k] = path.get(k, 0) + 1
        elif d.get("kind") == "iscsi" and "member" in d:
            k = (d["group"], d["member"])
            sess[k] = sess.get(k, 0) + 1
        elif name.startswith(("lanes_iscsi_session", "lanes_iscsi_connection")) and "portal" in d:
            k = (d["target"], f"{d['portal']}@{d['iface']}")
            sess[k] = sess.get(k, 0) + 1
    return {
        "paths": len(path), "path_max": max(path.values(), default=0), "path_mean": sum(path.values()) / max(1, len(path)),
        "sessions": len(sess), "session_max": max(sess.values(), default=0), "session_mean": sum(sess.values()) / max(1, len(sess)),
    }  # fmt: skip


def storage_sampler_cpu(args, lanes: Server, argv: list[str], logdir: str) -> dict:
    """CPU of the idle lanes on the large storage host (sampler at 1 s following every
    member its last scrape named) minus a second lanes on the same tree with the sampler
    off, over the same window."""
    port = free_port()
    off_argv = [*argv, f"127.0.0.1:{port}", "--sampler.interval", "0"]
    off = Server("sampler_off", off_argv, port, os.path.join(logdir, "lanes-storage-sampler-off.log"), cwd=ROOT)
    try:
        off.scrape()
        followed = sum(1 for k in samples(lanes.scrape()[2]) if k[0] == "lanes_member_up")
        time.sleep(2)
        load_before = loadavg()
        start = {"on": cpu_seconds(lanes.pid), "off": cpu_seconds(off.pid)}
        t0 = time.monotonic()
        time.sleep(args.cpu_seconds)
        wall = time.monotonic() - t0
        used = {"on": cpu_seconds(lanes.pid) - start["on"], "off": cpu_seconds(off.pid) - start["off"]}
    finally:
        off.stop()
    return {
        "window_s": wall, "members": followed, "cpu_s": used,
        "cost_percent_of_core": (used["on"] - used["off"]) / wall * 100,
        "load_before": load_before, "load_after": loadavg(),
    }  # fmt: skip


def sampler_cpu(args, bond: bool, logdir: str) -> dict:
    """CPU of an idle lanes with the sampler at 1 s minus one with the sampler off, same
    window, both following the members of 100 two-NIC groups on the 1,000-NIC tree."""
    tree = os.path.join(OUT, "trees", "n1000-b100")
    gen.ensure(tree, 1000, 100)
    cfg = os.path.join(logdir, "sampler-groups.yml")
    with open(cfg, "w") as f:  # the members the bonds have, declared: the sampler follows them either way
        f.write(TIMEOUT_CONFIG if bond else TIMEOUT_CONFIG.replace("  bond: {timeout: 600s}\n", ""))
        f.write("groups:\n")
        for b in range(100):
            f.write(f"  g{b}: {{members: [eth{2 * b}, eth{2 * b + 1}], balancing: load}}\n")
    servers = []
    try:
        for label, extra in (("sampler_1s", ["--sampler.interval", "1s"]), ("sampler_off", ["--sampler.interval", "0"])):
            port = free_port()
            argv = lanes_fixture_argv(tree, port, bond, ["--collector.groups", "--config.file", cfg, *extra])
            servers.append((label, Server(label, argv, port, os.path.join(logdir, f"{label}.log"), cwd=ROOT)))
        for _, s in servers:
            s.scrape()  # the scrape tells the sampler which members to follow
        time.sleep(2)
        load_before = loadavg()
        start = {label: cpu_seconds(s.pid) for label, s in servers}
        t0 = time.monotonic()
        time.sleep(args.cpu_seconds)
        wall = time.monotonic() - t0
        used = {label: cpu_seconds(s.pid) - start[label] for label, s in servers}
        # the sampler really ran: the next scrape has peak series for the members
        peaks = sum(1 for k in samples(servers[0][1].scrape()[2]) if k[0] == "lanes_member_transmit_peak_bytes_per_second")
    finally:
        for _, s in servers:
            s.stop()
    return {
        "window_s": wall,
        "cpu_s": used,
        "sampler_cost_percent_of_core": (used["sampler_1s"] - used["sampler_off"]) / wall * 100,
        "sampler_on_total_percent_of_core": used["sampler_1s"] / wall * 100,
        "peak_series": peaks,
        "load_before": load_before,
        "load_after": loadavg(),
    }


def live_netns(args, bond: bool, logdir: str) -> dict:
    from lab import netns as nx

    ok, why = nx.can_use_namespaces()
    if not ok:
        return {"skipped": why}
    ns = nx.Netns("bench")
    try:
        t = time.monotonic()
        with tempfile.NamedTemporaryFile("w", suffix=".batch", delete=False) as f:
            for i in range(args.live_pairs):
                f.write(f"link add vb{i}a type veth peer name vb{i}b\n")
            for i in range(args.live_pairs):
                f.write(f"link set vb{i}a up\nlink set vb{i}b up\n")
            batch = f.name
        try:
            nx.run([nx.IP, "-n", ns.name, "-batch", batch], timeout=300)
        finally:
            os.unlink(batch)
        setup_s = time.monotonic() - t
        count = len(ns.link_stats())
        lp, np_ = ns.free_port(), ns.free_port()
        argv = [*LANES_CMD, "--collector.disable-defaults", "--collector.link", "--web.listen-address", f"127.0.0.1:{lp}"]
        if bond:
            argv.insert(-2, "--collector.bond")
        load_before = loadavg()
        lanes = Server("lanes", argv, lp, os.path.join(logdir, "lanes-live.log"), ns=ns, cwd=ROOT)
        node = Server("node_exporter", [NODE_EXPORTER, *NODE_LIVE_FLAGS, "--web.listen-address", f"127.0.0.1:{np_}"], np_,
                      os.path.join(logdir, "node-live.log"), ns=ns)  # fmt: skip
        info = check_success(lanes.scrape()[2], node.scrape()[2], ["netdev", "netclass"])
        res = alternate(lanes, node, args.rounds, args.warmup, not args.no_gzip)
        res.update(info)
        res["lanes_vmhwm_kb"] = proc_status(lanes.pid, "VmHWM")
        res.update({"interfaces": count, "setup_s": setup_s, "load_before": load_before, "load_after": loadavg()})
        res["per_object_ms"] = {k: v * 1000 / count for k, v in res["median_s"].items()}
        return res
    finally:
        ns.close()


# ----------------------------------------------------------------------------- report


def table(result: dict) -> str:
    lines = [
        f"lanes benchmark {result['started']}  lanes {result.get('lanes_commit', '?')}  host {result['host']}  cpus {result['cpus']}  python {result['python']}",
        f"node_exporter: {result['node_exporter']}; lanes collectors: {', '.join(result['lanes_collectors'])}"
        f"{'; lanes VARIANT ' + result['lanes_variant'] + ' (bench/lanes_variant.py, not the committed code)' if result.get('lanes_variant') else ''}; "
        f"rounds {result['rounds']} (+{result['warmup']} warm-up), alternating; gzip {'on' if result['gzip'] else 'off'}; "
        "fixture collectors' timeout raised to 600 s (default 8 s)",
        "",
        f"{'fixture host':<23}{'lanes ms':>10}{'node ms':>10}{'ratio':>8}{'cpu ms l/n':>16}{'lanes us/obj':>14}{'node us/obj':>13}{'lanes MB':>10}{'series l/n':>14}  load before/after",
    ]
    for r in result["fixtures"]:
        m = r["median_s"]
        lines.append(
            f"{r['nics']:>6} NICs {r['bonds']:>5} bonds{'*' if r['rounds'] != result['rounds'] else ' '}{m['lanes'] * 1000:>10.1f}{m['node_exporter'] * 1000:>10.1f}{r['ratio']:>8.2f}"
            f"{r['cpu_per_scrape_s']['lanes'] * 1000:>9.0f}/{r['cpu_per_scrape_s']['node_exporter'] * 1000:<6.0f}"
            f"{r['per_object_ms']['lanes'] * 1000:>14.1f}{r['per_object_ms']['node_exporter'] * 1000:>13.1f}"
            f"{(r['lanes_vmhwm_kb'] or 0) / 1024:>10.1f}{r['lanes_series']:>7}/{r['node_series']:<6}  {r['load_before']} / {r['load_after']}"
        )
    st = result.get("storage")
    if st:
        m = st["median_s"]
        lines += [
            "",
            f"{'large storage host':<23}{'lanes ms':>10}{'node ms':>10}{'ratio':>8}{'cpu ms l/n':>16}{'lanes us/obj':>14}{'node us/obj':>13}{'lanes MB':>10}{'series l/n':>14}  load before/after",
            f"{st['maps']:>5} maps {st['sessions']:>5} sess{'*' if st['rounds'] != result['rounds'] else ' '}{m['lanes'] * 1000:>10.1f}{m['node_exporter'] * 1000:>10.1f}{st['ratio']:>8.2f}"
            f"{st['cpu_per_scrape_s']['lanes'] * 1000:>9.0f}/{st['cpu_per_scrape_s']['node_exporter'] * 1000:<6.0f}"
            f"{st['per_object_ms']['lanes'] * 1000:>14.1f}{st['per_object_ms']['node_exporter'] * 1000:>13.1f}"
            f"{(st['lanes_vmhwm_kb'] or 0) / 1024:>10.1f}{st['lanes_series']:>7}/{st['node_series']:<6}  {st['load_before']} / {st['load_after']}",
            f"  ({st['nics']} NICs + {st['bonds']} bonds + {st['maps']} maps x {st['paths'] // st['maps']} paths + {st['sessions']} iSCSI sessions; "
            f"lanes {', '.join(STORAGE_COLLECTORS)} on the whole tree, node_exporter on the NICs; {st['rounds']} rounds; "
            f"body gzip l/n {st['bytes']['lanes'] / 1e6:.1f}/{st['bytes']['node_exporter'] / 1e6:.1f} MB; "
            f"lanes collectors s (first scrape): {', '.join(f'{k} {v:.2f}' for k, v in sorted(st['lanes_collector_seconds'].items()))})",
        ]
        spo = st.get("series_per_object") or {}
        smp = st.get("sampler")
        lines += [
            "",
            "  SPEC §9 large storage host        lanes                      node_exporter        target",
            f"  median scrape                     {m['lanes'] * 1000:>8.1f} ms                {m['node_exporter'] * 1000:>8.1f} ms (NICs)   ratio {st['ratio']:.2f} (<= 0.75)",
            f"  first scrape after start          {st.get('first_scrape_s', 0) * 1000:>8.1f} ms   (tree read once before: {st.get('warm_files', 0)} files, {st.get('warm_s', 0):.1f} s)   <= 2,000 ms",
            f"  peak RSS (VmHWM)                  {(st['lanes_vmhwm_kb'] or 0) / 1024:>8.1f} MB                {(st.get('node_vmhwm_kb') or 0) / 1024:>8.1f} MB        <= 60 MB",
            f"  series per path (max/mean)        {spo.get('path_max', 0):>8} / {spo.get('path_mean', 0):.1f} ({spo.get('paths', 0)} paths)                          <= 16",
            f"  series per session (max/mean)     {spo.get('session_max', 0):>8} / {spo.get('session_mean', 0):.1f} ({spo.get('sessions', 0)} sessions)                       <= 8",
            (f"  sampler 1 s, idle, {smp['members']} members {smp['cost_percent_of_core']:>5.2f}% of a core over {smp['window_s']:.0f} s "
             f"(cpu s on/off {smp['cpu_s']['on']:.2f}/{smp['cpu_s']['off']:.2f}; load {smp['load_before']} / {smp['load_after']})   <= 2%")
            if smp else "  sampler: not measured (--cpu-seconds 0)",
            f"  validity: every collector succeeded ({', '.join(sorted(st['lanes_success']))}); lanes_group_members by kind {st['group_members']}",
            "",
        ]
    live = result.get("live")
    if live and "skipped" not in live:
        m = live["median_s"]
        lines.append(
            f"{'live netns ' + str(live['interfaces']) + ' ifs':<23}{m['lanes'] * 1000:>10.1f}{m['node_exporter'] * 1000:>10.1f}{live['ratio']:>8.2f}"
            f"{live['cpu_per_scrape_s']['lanes'] * 1000:>9.0f}/{live['cpu_per_scrape_s']['node_exporter'] * 1000:<6.0f}"
            f"{live['per_object_ms']['lanes'] * 1000:>14.1f}{live['per_object_ms']['node_exporter'] * 1000:>13.1f}"
            f"{(live['lanes_vmhwm_kb'] or 0) / 1024:>10.1f}{live['lanes_series']:>7}/{live['node_series']:<6}  {live['load_before']} / {live['load_after']}"
        )
    elif live:
        lines.append(f"live netns: skipped ({live['skipped']})")
    cpu = result.get("sampler_cpu")
    if cpu:
        lines += [
            "",
            f"sampler at 1 s, 200 members, {cpu['window_s']:.0f} s idle: cost {cpu['sampler_cost_percent_of_core']:.2f}% of one core "
            f"(lanes with sampler {cpu['sampler_on_total_percent_of_core']:.2f}%, cpu s on/off {cpu['cpu_s']['sampler_1s']:.2f}/{cpu['cpu_s']['sampler_off']:.2f}; "
            f"{cpu['peak_series']} peak series; load {cpu['load_before']} / {cpu['load_after']})",
        ]
    for e in result.get("errors", []):
        lines.append(f"FAILED {e}")
    lines.append("")
    lines.append("ratio = median lanes / median node_exporter (SPEC §9 targets: 1,000 NICs + 100 bonds <= 0.3, live netns <= 0.15);")
    lines.append("SPEC §9 large storage host targets: in its own table above;")
    lines.append("* fewer rounds (--rounds-large, --rounds-storage) at this size;")
    lines.append("cpu ms = process CPU time (all threads) per scrape, mean; us/obj = median / (NICs + bonds),")
    lines.append("on the storage host median / (NICs + bonds + maps + paths + sessions)")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="lanes vs node_exporter, side by side (SPEC §9)")
    p.add_argument("--sizes", default="10,100,1000,10000", help="NIC counts (bonds = NICs/10)")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--rounds-large", type=int, default=7, help="rounds at 10,000 NICs and more (seconds per scrape)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--cpu-seconds", type=float, default=60, help="idle window of the sampler CPU measurement (0 skips it)")
    p.add_argument("--no-live", action="store_true", help="skip the live network-namespace variant")
    p.add_argument("--storage-maps", type=int, default=1000, help="multipath maps (x4 iSCSI paths) of the large storage host (0 skips it)")
    p.add_argument("--rounds-storage", type=int, default=10, help="rounds on the large storage host")
    p.add_argument("--live-pairs", type=int, default=500)
    p.add_argument("--no-gzip", action="store_true", help="ask for plain text instead of gzip")
    p.add_argument("--lanes-variant", metavar="NAMES", help="run lanes through bench/lanes_variant.py with these proposed changes (shared-dump)")
    args = p.parse_args(argv)
    if args.lanes_variant:
        LANES_CMD[:] = [sys.executable, os.path.join(HERE, "lanes_variant.py"), args.lanes_variant, "--"]
    if not os.access(NODE_EXPORTER, os.X_OK):
        print(f"{NODE_EXPORTER} missing: apt-get install prometheus-node-exporter", file=sys.stderr)
        return 2
    os.makedirs(OUT, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    logdir = os.path.join(OUT, f"logs-{stamp}")
    os.makedirs(logdir, exist_ok=True)
    bond = lanes_has_collector("bond")
    node_version = subprocess.run([NODE_EXPORTER, "--version"], capture_output=True, text=True, timeout=30)
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "exporter", "collectors"], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout
    result: dict = {
        "lanes_commit": rev + ("+uncommitted changes in exporter/ or collectors/" if dirty.strip() else ""),
        "started": stamp, "host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "node_exporter": (node_version.stdout or node_version.stderr).splitlines()[0],
        "lanes_collectors": ["link", "bond"] if bond else ["link"], "rounds": args.rounds, "warmup": args.warmup,
        "gzip": not args.no_gzip, "lanes_variant": args.lanes_variant or "", "command": " ".join([os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]]),
        "fixtures": [],
    }  # fmt: skip
    result["errors"] = []

    def phase(label, fn, *a):
        print(f"{label} ...", file=sys.stderr, flush=True)
        try:
            return fn(*a)
        except Exception as e:  # one broken phase is reported, the others still run
            result["errors"].append(f"{label}: {type(e).__name__}: {e}")
            print(f"{label}: FAILED: {e}", file=sys.stderr, flush=True)
            return None

    for n in [int(x) for x in args.sizes.split(",") if x]:
        r = phase(f"fixture host {n} NICs", fixture_size, n, args, bond, logdir)
        if r:
            result["fixtures"].append(r)
    if args.storage_maps > 0:
        result["storage"] = phase(f"large storage host ({args.storage_maps} maps x 4 paths)", storage_host, args, logdir)
    if args.cpu_seconds > 0:
        result["sampler_cpu"] = phase(f"sampler CPU over {args.cpu_seconds:g} s", sampler_cpu, args, bond, logdir)
    if not args.no_live:
        result["live"] = phase(f"live namespace with {2 * args.live_pairs} veths", live_netns, args, bond, logdir)
    text = table(result)
    with open(os.path.join(OUT, f"results-{stamp}.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(OUT, f"results-{stamp}.txt"), "w") as f:
        f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
