"""Helpers for the rules, dashboard, Prometheus and Alertmanager tests: the rules renderer,
metric names in PromQL and in the golden expositions, and real Prometheus/Alertmanager
processes (optionally inside a network namespace) with bounded waits.

Prometheus and Alertmanager are run as research/conventions.md §5.5 found them to work:
temp storage, 127.0.0.1 on a free port, ``--cluster.listen-address=`` for Alertmanager
(otherwise it binds 0.0.0.0:9094 for gossip and waits ~8 s for it to settle), ``/-/ready``
polled, then the target polled in ``/api/v1/targets`` until it is up.
"""

from __future__ import annotations

import contextlib
import glob
import http.client
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable

from conftest import ROOT
from lab.netns import netns_socket

RULES_PY = os.path.join(ROOT, "deploy", "prometheus", "rules.py")
RULES_YML = os.path.join(ROOT, "deploy", "prometheus", "lanes-rules.yml")
RULES_TEST_YML = os.path.join(ROOT, "deploy", "prometheus", "tests", "lanes-rules.test.yml")
PROMETHEUS_YML = os.path.join(ROOT, "deploy", "prometheus", "prometheus.yml")
ALERTMANAGER_YML = os.path.join(ROOT, "deploy", "alertmanager", "alertmanager.yml")
RUNBOOKS = os.path.join(ROOT, "docs", "runbooks.md")
SCENARIOS = os.path.join(ROOT, "tests", "scenarios")
IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "/sbin/ip"


def load_rules_module():
    """deploy/prometheus/rules.py is a script, not a package: load it by path."""
    spec = importlib.util.spec_from_file_location("lanes_rules", RULES_PY)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


# ------------------------------------------------------------------ metric names

#: a lanes metric name that is not part of a recording-rule name (level:metric:ops)
_METRIC = re.compile(r"(?<![:\w])(lanes_[a-z0-9_]+)(?![:\w(])")
#: a recording-rule name
_RECORDED = re.compile(r"(?<![\w:])([a-z_]+:lanes_[a-z0-9_]+:[a-z0-9_]+)")


def metric_names(expr: str) -> set[str]:
    return set(_METRIC.findall(expr))


def recorded_names(expr: str) -> set[str]:
    return set(_RECORDED.findall(expr))


def golden_names() -> dict[str, set[str]]:
    """metric name -> scenarios whose expected.prom exposes it: a sample, or a ``# TYPE`` line
    (expected outputs drop the samples of volatile families such as
    lanes_collector_duration_seconds, see helpers.normalize, but keep their TYPE)."""
    out: dict[str, set[str]] = {}
    for path in sorted(glob.glob(os.path.join(SCENARIOS, "*", "expected.prom"))):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("# TYPE "):
                    name = line.split()[2]
                elif line.startswith("#") or not line.strip():
                    continue
                else:
                    name = re.split(r"[{\s]", line, maxsplit=1)[0]
                out.setdefault(name, set()).add(os.path.basename(os.path.dirname(path)))
    return out


#: Grafana macros -> what a query sent straight to Prometheus gets instead
MACROS = {
    "$__rate_interval": "1m",
    "${__rate_interval}": "1m",
    "$__interval": "15s",
    "${__interval}": "15s",
    "$__range": "5m",
    "${__range}": "5m",
}


def substitute(expr: str, variables: dict[str, str] | None = None) -> str:
    """A dashboard query as Prometheus sees it: macros replaced, $var/${var} by values."""
    for k, v in MACROS.items():
        expr = expr.replace(k, v)
    for k, v in sorted((variables or {}).items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace("${" + k + "}", v).replace("$" + k, v)
    return expr


#: values of the dashboard variables when a test runs the queries ("All" is .+)
VARIABLES = {"job": "lanes", "instance": ".+", "kind": ".+", "group": ".+", "link": ".+", "datasource": "prometheus"}


def queries(d: dict) -> list[tuple[str, str]]:
    """(dashboard/panel/refId or dashboard/$variable, query) of one dashboard: every panel
    target and every query variable."""
    out = []
    for p in d["panels"]:
        for t in p.get("targets", []):
            out.append((f"{d['uid']}/{p['title']}/{t.get('refId')}", t["expr"]))
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            out.append((f"{d['uid']}/${v['name']}", v["query"]))
    return out


def dashboard_queries() -> list[tuple[str, str]]:
    """``queries`` of every committed dashboard."""
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "grafana", "*.json"))):
        with open(path, encoding="utf-8") as f:
            out += queries(json.load(f))
    return out


def as_promql(expr: str) -> str:
    """A dashboard query as Prometheus runs it; Grafana's ``label_values(SELECTOR, label)``
    becomes ``count by (label) (SELECTOR)``: non-empty exactly when the variable would
    offer values."""
    expr = substitute(expr, VARIABLES)
    m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", expr.strip(), flags=re.S)
    if m:
        return f"count by ({m.group(2)}) ({m.group(1)})"
    return expr


# ------------------------------------------------------------------ namespaces and HTTP



class _NsConnection(http.client.HTTPConnection):
    def __init__(self, host, port, netns, timeout):
        super().__init__(host, port, timeout=timeout)
        self.netns = netns

    def connect(self):
        self.sock = netns_socket(self.netns)
        self.sock.settimeout(self.timeout)
        self.sock.connect((self.host, self.port))


def http_request(method: str, url: str, body: bytes | None = None, netns: str | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    u = urllib.parse.urlsplit(url)
    if netns:
        conn = _NsConnection(u.hostname, u.port, netns, timeout)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        path = u.path + (f"?{u.query}" if u.query else "")
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def get_json(url: str, netns: str | None = None, timeout: float = 10.0):
    status, body = http_request("GET", url, netns=netns, timeout=timeout)
    if status != 200:
        raise RuntimeError(f"GET {url}: HTTP {status}: {body[:500]!r}")
    return json.loads(body)


def wait_until(what: str, fn: Callable[[], object], timeout: float, interval: float = 0.25):
    """Call fn until it returns a truthy value (returned) or timeout (AssertionError with the
    last value or exception).  Exceptions count as "not yet"."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # not up yet, connection refused, ...
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last: {last!r}"[:3000])
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ processes

class Proc:
    """A daemon started for a test (own process group, log in a file); stop() ends it."""

    def __init__(self, argv: list[str], log: str, netns: str | None = None, cwd: str | None = None):
        self.log = log
        full = [IP, "netns", "exec", netns, *argv] if netns else argv
        with open(log, "wb") as out:
            self.popen = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, n: int = 3000) -> str:
        with contextlib.suppress(OSError), open(self.log, "rb") as f:
            return f.read()[-n:].decode("utf-8", "replace")
        return ""

    def stop(self, timeout: float = 5.0) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=timeout)


def start_prometheus(binary: str, config: str, tmp: str, port: int, netns: str | None = None) -> Proc:
    proc = Proc(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={os.path.join(tmp, 'tsdb')}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ],
        os.path.join(tmp, "prometheus.log"),
        netns,
    )
    ready(proc, f"http://127.0.0.1:{port}/-/ready", netns)
    return proc


def start_alertmanager(binary: str, config: str, tmp: str, port: int, netns: str | None = None) -> Proc:
    proc = Proc(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={os.path.join(tmp, 'alertmanager')}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        os.path.join(tmp, "alertmanager.log"),
        netns,
    )
    ready(proc, f"http://127.0.0.1:{port}/-/ready", netns)
    return proc


def ready(proc: Proc, url: str, netns: str | None, timeout: float = 30.0) -> None:
    def check():
        if not proc.alive():
            raise AssertionError(f"exited: {proc.tail()}")
        return http_request("GET", url, netns=netns, timeout=2)[0] == 200

    try:
        wait_until(url, check, timeout)
    except AssertionError:
        proc.stop()
        raise AssertionError(f"{url} not ready; log:\n{proc.tail()}") from None


def query(prom: str, expr: str, netns: str | None = None) -> list[dict]:
    """Instant query; raises on an API error, returns the result vector."""
    data = get_json(f"{prom}/api/v1/query?{urllib.parse.urlencode({'query': expr})}", netns=netns)
    if data.get("status") != "success":
        raise AssertionError(f"{expr}: {data}")
    return data["data"]["result"]
