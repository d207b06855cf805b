"""Every dashboard query, every dashboard variable and every recording rule returns data from
a real Prometheus scraping lanes (SPEC §8: "Every panel query must return data when
Prometheus scrapes lanes on the test scenarios").

lanes serves a set of scenario snapshots (copied to a temp dir, one lanes process each, the
smallest set whose goldens hold every metric name the dashboards and rules use); a thread
rewrites their counter files (root/proc/net/dev, root/proc/diskstats) every half second so
rates, shares and the background sampler's peaks see traffic.  Prometheus 2.42 scrapes them
every second with the rendered rules (``for:`` 0 so ALERTS has series), and the test waits,
bounded, until the recording rules have values, then runs every query through
/api/v1/query.  Any error or empty result fails, naming the dashboard, panel and query.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time

import helpers
import pytest
import rules_tools as rt
import yaml
from conftest import ROOT

pytestmark = pytest.mark.tools

dashboard_queries = rt.dashboard_queries
as_promql = rt.as_promql


def choose_scenarios(names: set[str]) -> list[str]:
    """Greedy cover: the fewest scenarios whose expected outputs hold all ``names``."""
    have: dict[str, set[str]] = {}
    for metric, goldens in rt.golden_names().items():
        for g in goldens:
            have.setdefault(g, set()).add(metric)
    have = {s: m for s, m in have.items() if os.path.isdir(os.path.join(helpers.SCENARIOS, s))}
    need, chosen = set(names), []
    while need:
        best = max(sorted(have), key=lambda s: len(have[s] & need))
        if not have[best] & need:
            raise AssertionError(f"no scenario golden has {sorted(need)}")
        chosen.append(best)
        need -= have[best]
    return sorted(chosen)


class CounterPump:
    """Advances the byte/packet/sector counters of copied snapshots, like traffic would."""

    def __init__(self, roots: list[str]):
        self.roots = roots
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="counter-pump", daemon=True)
        self.rounds = 0

    @staticmethod
    def _replace(path: str, text: str) -> None:
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)  # lanes never reads half a file

    def bump(self) -> None:
        for root in self.roots:
            dev = os.path.join(root, "root", "proc", "net", "dev")
            if os.path.exists(dev):
                with open(dev, encoding="utf-8") as f:
                    lines = f.read().splitlines()
                out = []
                for i, line in enumerate(lines):
                    name, sep, rest = line.partition(":")
                    fields = rest.split()
                    if not sep or len(fields) < 16 or not fields[0].isdigit():
                        out.append(line)
                        continue
                    step = 100_000 * (i + 1)  # unequal members: shares and imbalance differ
                    n = [int(x) for x in fields]
                    n[0] += step  # rx bytes
                    n[1] += step // 1000  # rx packets
                    n[8] += step // 2  # tx bytes
                    n[9] += step // 2000  # tx packets
                    out.append(f"{name}:" + " ".join(str(x) for x in n))
                self._replace(dev, "\n".join(out) + "\n")
            disk = os.path.join(root, "root", "proc", "diskstats")
            if os.path.exists(disk):
                with open(disk, encoding="utf-8") as f:
                    lines = f.read().splitlines()
                out = []
                for i, line in enumerate(lines):
                    f_ = line.split()
                    if len(f_) < 14:
                        out.append(line)
                        continue
                    n = [int(x) for x in f_[3:]]
                    n[0] += 10 * (i + 1)  # reads completed
                    n[2] += 2000 * (i + 1)  # sectors read
                    n[4] += 5 * (i + 1)  # writes completed
                    n[6] += 1000 * (i + 1)  # sectors written
                    out.append(" ".join(f_[:3] + [str(x) for x in n]))
                self._replace(disk, "\n".join(out) + "\n")
        self.rounds += 1

    def run(self) -> None:
        while not self.stop.wait(0.5):
            try:
                self.bump()
            except OSError:
                pass


@pytest.fixture(scope="module")
def stack():
    prometheus = helpers.require_tool("prometheus")
    rules_mod = rt.load_rules_module()
    queries = dashboard_queries()
    with open(rt.RULES_YML, encoding="utf-8") as f:
        rules_doc = yaml.safe_load(f)
    names = set()
    for _, expr in queries:
        names |= rt.metric_names(expr)
    for g in rules_doc["groups"]:
        for r in g["rules"]:
            names |= rt.metric_names(r["expr"])
    scenarios = choose_scenarios(names)
    tmp = tempfile.mkdtemp(prefix="lanes-promq-")
    procs: list[rt.Proc] = []
    pump = None
    try:
        roots, targets = [], []
        for s in scenarios:
            src = os.path.join(helpers.SCENARIOS, s)
            dst = os.path.join(tmp, "scenarios", s)
            shutil.copytree(src, dst, symlinks=True)
            roots.append(dst)
            port = rt.free_port()
            argv = [sys.executable, "-m", "exporter", "--snapshot", dst, "--web.listen-address", f"127.0.0.1:{port}"]
            if os.path.exists(os.path.join(dst, "config.yml")):
                argv += ["--config.file", os.path.join(dst, "config.yml")]
            procs.append(rt.Proc(argv, os.path.join(tmp, f"lanes-{s}.log"), cwd=ROOT))
            targets.append((s, port))
        # one more host whose /proc/net/dev is broken: its link collector fails, so the
        # "collectors failing" panels and LanesCollectorFailed have something to show
        broken = os.path.join(tmp, "scenarios", "broken-proc-net-dev")
        shutil.copytree(os.path.join(helpers.SCENARIOS, "linux-declared-mpio"), broken, symlinks=True)
        with open(os.path.join(broken, "root", "proc", "net", "dev"), "w", encoding="utf-8") as f:
            f.write("Inter-|   Receive |  Transmit\n face |bytes    packets\n  eno1: 1 2 3\n")
        port = rt.free_port()
        procs.append(
            rt.Proc(
                [sys.executable, "-m", "exporter", "--snapshot", broken, "--config.file", os.path.join(broken, "config.yml"), "--web.listen-address", f"127.0.0.1:{port}"],
                os.path.join(tmp, "lanes-broken.log"),
                cwd=ROOT,
            )
        )
        targets.append(("broken-proc-net-dev", port))
        pump = CounterPump(roots)
        pump.thread.start()
        # every alert fires as soon as its expression holds, so ALERTS has series
        fast = rules_mod.Params(for_=tuple((a, "0s") for a in rules_mod.ALERTS))
        with open(os.path.join(tmp, "lanes-rules.yml"), "w", encoding="utf-8") as f:
            f.write(rules_mod.render(fast))
        cfg = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [os.path.join(tmp, "lanes-rules.yml")],
            "scrape_configs": [
                {
                    "job_name": "lanes",
                    "static_configs": [{"targets": [f"127.0.0.1:{p}"], "labels": {"scenario": s}} for s, p in targets],
                }
            ],
        }
        with open(os.path.join(tmp, "prometheus.yml"), "w", encoding="utf-8") as f:
            yaml.safe_dump(cfg, f)
        port = rt.free_port()
        procs.append(rt.start_prometheus(prometheus, os.path.join(tmp, "prometheus.yml"), tmp, port))
        prom = f"http://127.0.0.1:{port}"

        def all_up():
            active = rt.get_json(f"{prom}/api/v1/targets")["data"]["activeTargets"]
            return len(active) == len(targets) and all(t["health"] == "up" for t in active) and active

        rt.wait_until("every lanes target up", all_up, 60)
        yield {"prom": prom, "queries": queries, "rules": rules_doc, "scenarios": scenarios, "pump": pump, "tmp": tmp, "procs": procs}
    finally:
        if pump is not None:
            pump.stop.set()
        for p in procs:
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def wait_for_samples(stack, min_seconds: float = 8.0) -> None:
    """Enough samples: rates need two, the recording rules need rates, the sampler a window."""
    prom = stack["prom"]
    t0 = time.monotonic()

    def ready():
        return time.monotonic() - t0 >= min_seconds and rt.query(prom, "group:lanes_member_share:ratio") and rt.query(prom, "group:lanes_group_imbalance:ratio")

    rt.wait_until("recording rules to have values", ready, 60, interval=1)


def test_scenarios_cover_every_metric_name(stack):
    # the cover is computed from the goldens; this shows which scenarios were served
    assert stack["scenarios"], "no scenario chosen"
    assert "linux-declared-mpio" in stack["scenarios"] or len(stack["scenarios"]) > 1


def test_every_recording_rule_returns_data(stack):
    wait_for_samples(stack)
    failures = []
    for g in stack["rules"]["groups"]:
        for r in g["rules"]:
            if "record" not in r:
                continue
            try:
                if not rt.query(stack["prom"], r["expr"]):
                    failures.append(f"{r['record']}: empty")
                if not rt.query(stack["prom"], r["record"]):
                    failures.append(f"{r['record']}: not recorded")
            except Exception as e:
                failures.append(f"{r['record']}: {e}")
    assert not failures, "\n".join(failures)


def test_every_dashboard_query_and_variable_returns_data(stack):
    wait_for_samples(stack)
    assert stack["pump"].rounds > 5, "the counters did not advance"
    failures = []
    for where, expr in stack["queries"]:
        promql = as_promql(expr)
        # a stat's "or vector(0)" always answers: the count itself must have data too
        checks = [promql] + ([promql.removesuffix(" or vector(0)")] if promql.endswith(" or vector(0)") else [])
        for one in checks:
            try:
                if not rt.query(stack["prom"], one):
                    failures.append(f"{where}: empty: {one}")
            except Exception as e:
                failures.append(f"{where}: {e}")
    assert not failures, f"{len(failures)} of {len(stack['queries'])} queries failed:\n" + "\n".join(failures)


def test_traffic_is_seen_as_traffic(stack):
    """The pump really drives rates: group bytes are positive and shares add up to 1."""
    wait_for_samples(stack)
    groups = rt.query(stack["prom"], "group:lanes_group_bytes:rate5m > 0")
    assert groups, "no group carries traffic"
    sums = rt.query(stack["prom"], "sum by (instance, kind, group) (group:lanes_member_share:ratio)")
    assert sums and all(abs(float(s["value"][1]) - 1) < 1e-6 for s in sums), sums
    peaks = rt.query(stack["prom"], "lanes_member_receive_peak_bytes_per_second > 0")
    assert peaks, "the background sampler saw no traffic"
