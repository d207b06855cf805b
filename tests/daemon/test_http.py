"""The daemon over HTTP: landing page, telemetry, 404, gzip, name[], TLS with client
certificates and basic auth with real clients (curl, urllib), concurrent scrapes."""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import ROOT, SCENARIOS, require_tool, wait_listening

from exporter.api import Collector, Context
from exporter.http import App, make_server
from exporter.metrics import gauge
from exporter.scrape import Scraper

SCENARIO = os.path.join(SCENARIOS, "linux-declared-mpio")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    def __init__(self, *args: str, preexec_fn=None):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", "--snapshot", SCENARIO, "--config.file", os.path.join(SCENARIO, "config.yml"),
             "--web.listen-address", f"127.0.0.1:{self.port}", *args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn,
        )
        wait_listening(self.proc, self.port)

    def stop(self) -> tuple[int, str]:
        self.proc.terminate()
        try:
            rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(5)
        return rc, self.proc.stderr.read()


@pytest.fixture
def daemon():
    started = []

    def start(*args):
        d = Daemon(*args)
        started.append(d)
        return d

    yield start
    for d in started:
        if d.proc.poll() is None:
            d.stop()


def get(url, headers=None, context=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=20, context=context) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_routes_headers_gzip_and_filter(daemon):
    d = daemon()
    base = f"http://127.0.0.1:{d.port}"
    status, headers, body = get(base + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    assert 'lanes_member_up{kind="declared",group="iscsi-mpio",member="ens2f0"} 0' in text
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "deny"

    status, headers, body = get(base + "/metrics", {"Accept-Encoding": "gzip"})
    assert headers.get("Content-Encoding") == "gzip" and b"lanes_link_up" in gzip.decompress(body)

    status, _, body = get(base + "/metrics?name[]=lanes_link_up&name[]=lanes_group_members")
    names = {line.split("{")[0].split(" ")[0] for line in body.decode().splitlines() if not line.startswith("#")}
    assert names == {"lanes_link_up", "lanes_group_members"}

    status, headers, body = get(base + "/")
    page = body.decode()
    assert status == 200 and "lanes exporter" in page and 'href="/metrics"' in page and "0.1.0" in page
    assert "<td>link</td><td>ok</td>" in page  # the collector table after a scrape

    assert get(base + "/nope")[0] == 404
    assert get(base + "/metrics/")[0] == 404
    req = urllib.request.Request(base + "/metrics", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 405

    rc, stderr = d.stop()
    assert rc == 0, stderr  # SIGTERM: clean exit
    assert "Traceback" not in stderr


def test_custom_telemetry_path(daemon):
    d = daemon("--web.telemetry-path", "/lanes")
    assert get(f"http://127.0.0.1:{d.port}/lanes")[0] == 200
    assert get(f"http://127.0.0.1:{d.port}/metrics")[0] == 404


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    require_tool("openssl")
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=lanes test CA", cwd=d)
    for name, cn in (("server", "127.0.0.1"), ("client", "prometheus")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
        ext = d / f"{name}.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1\n" if name == "server" else "extendedKeyUsage=clientAuth\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", str(ext), cwd=d)
    return d


def curl(*args):
    return subprocess.run(["curl", "-s", "-o", "/dev/stdout", "-w", "\n%{http_code}", "--max-time", "20", *args], capture_output=True, text=True, timeout=30)


def test_tls_basic_auth_and_client_certs(daemon, pki, tmp_path):
    require_tool("curl")
    import bcrypt

    hashed = bcrypt.hashpw(b"s3cret pass", bcrypt.gensalt(rounds=10)).decode().replace("$2b$", "$2y$", 1)  # htpasswd style
    web = tmp_path / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: {pki}/server.crt\n  key_file: {pki}/server.key\n"
        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {pki}/ca.crt\n"
        f"basic_auth_users:\n  prometheus: '{hashed}'\n"
    )
    d = daemon("--web.config.file", str(web))
    url = f"https://127.0.0.1:{d.port}/metrics"
    cert = ["--cacert", f"{pki}/ca.crt", "--cert", f"{pki}/client.crt", "--key", f"{pki}/client.key"]

    ok = curl(*cert, "-u", "prometheus:s3cret pass", url)
    assert ok.stdout.endswith("\n200") and "lanes_link_up" in ok.stdout

    for auth in ([], ["-u", "prometheus:wrong"], ["-u", "nobody:s3cret pass"]):
        r = curl(*cert, *auth, url)
        assert r.stdout.endswith("\n401"), r.stdout[-200:]
        assert "lanes_" not in r.stdout  # no metric leaks without credentials
    # landing page needs credentials too
    assert curl(*cert, f"https://127.0.0.1:{d.port}/").stdout.endswith("\n401")

    no_client_cert = curl("--cacert", f"{pki}/ca.crt", "-u", "prometheus:s3cret pass", url)
    assert not no_client_cert.stdout.endswith("\n200")
    plain = curl("-u", "prometheus:s3cret pass", f"http://127.0.0.1:{d.port}/metrics")
    assert not plain.stdout.endswith("\n200")
    assert d.proc.poll() is None  # bad handshakes do not kill the server


def test_basic_auth_result_is_cached(monkeypatch):
    import bcrypt

    from exporter.http import BasicAuth

    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()
    calls = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda p, h: calls.append(1) or real(p, h))
    auth = BasicAuth({"u": hashed})
    import base64

    good = "Basic " + base64.b64encode(b"u:pw").decode()
    bad = "Basic " + base64.b64encode(b"u:px").decode()
    assert auth.check(good) and auth.check(good) and auth.check(good)
    assert len(calls) == 1
    assert not auth.check(bad) and not auth.check("Basic !!!") and not auth.check(None)


class Slow(Collector):
    name = "slow"
    platforms = frozenset({"linux"})
    runs = 0

    def collect(self):
        type(self).runs += 1
        time.sleep(0.3)
        g = gauge("test_slow", "test", ())
        g.add((), 1)
        return [g]


def test_concurrent_scrapes_share_one_run():
    Slow.runs = 0
    scraper = Scraper([Slow(None, Context("slow"))], {}, "linux")
    server = make_server("127.0.0.1:0", App(scraper), None)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
        with ThreadPoolExecutor(100) as pool:
            results = list(pool.map(lambda _: get(url), range(100)))
        assert all(status == 200 and b"lanes_test_slow 1" in body for status, _, body in results)
        # 100 requests in one burst: single flight runs the collector a handful of times, not 100
        assert Slow.runs <= 10, Slow.runs
    finally:
        server.shutdown()
        server.server_close()


def test_http_date_is_imf_fixdate_in_english():
    """RFC 9110 §5.6.7: the Date header as email.utils writes it (fixed English names)."""
    import email.utils

    from exporter.http import http_date

    for t in (0, 951782400, 1700000000.5, 4102444799):  # 1970, a leap day, 2023, the end of 2099
        assert http_date(t) == email.utils.formatdate(t, usegmt=True)


def test_server_without_tls_does_not_load_ssl():
    """ssl loads OpenSSL (about 5 MB of RSS): a plain HTTP server never imports it."""
    code = (
        "import sys\n"
        "from exporter.cli import run\n"
        "import exporter.http, exporter.sampler, exporter.process\n"
        "from exporter.config import WebConfig\n"
        "assert exporter.http.tls_context(WebConfig()) is None\n"
        "print('ssl' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
