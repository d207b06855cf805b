"""HTTP: landing page, telemetry path, 404 elsewhere; TLS, basic auth, security headers.

A small WSGI app on a threading wsgiref server (client_python's own server answers
metrics on every path and has no auth; research/conventions.md §2.3).  Concurrent scrapes
share one collector run (``Scraper`` single flight).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import ipaddress
import logging
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Iterable
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from exporter import __version__
from exporter.config import GO_CIPHER_SUITES, GO_CURVES, WebConfig
from exporter.metrics import render
from exporter.status import render_groups

log = logging.getLogger("lanes.http")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "deny",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class BasicAuth:
    """bcrypt against the web config's users; a verified (user, password) pair is cached
    by its SHA-256 (a cost-10 check takes ~70 ms: research/conventions.md §2.2)."""

    def __init__(self, users: dict[str, str]):
        self.users = users
        self._ok: set[bytes] = set()
        self._lock = threading.Lock()

    def check(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        hashed = self.users.get(user)
        if hashed is None:
            return False
        key = hashlib.sha256(f"{user}\0{password}\0{hashed}".encode()).digest()
        with self._lock:
            if key in self._ok:
                return True
        import bcrypt  # only needed when basic auth is configured

        try:
            ok = bcrypt.checkpw(password.encode("utf-8"), hashed.encode("ascii"))
        except ValueError:
            ok = False
        if ok:
            with self._lock:
                if len(self._ok) > 1024:
                    self._ok.clear()
                self._ok.add(key)
        return ok


class App:
    def __init__(self, scraper, telemetry_path: str = "/metrics", web: WebConfig | None = None):
        self.scraper = scraper
        self.telemetry_path = telemetry_path
        self.set_web(web)
        self._active = 0
        self._idle = threading.Condition()

    def set_web(self, web: WebConfig | None) -> None:
        """Basic auth users and headers (re-read on SIGHUP; TLS needs a restart)."""
        self.web = web or WebConfig()
        self.auth = BasicAuth(self.web.users) if self.web.users else None
        self.headers = {**DEFAULT_HEADERS, **self.web.headers}

    def wait_idle(self, timeout: float) -> bool:
        """Wait for in-flight requests to finish (SIGTERM)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    def _respond(self, start_response, status: str, body: bytes, content_type: str, extra: Iterable[tuple[str, str]] = ()):
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *self.headers.items(), *extra]
        start_response(status, headers)
        return [body]

    def begin(self) -> None:
        """A connection is being served (counted until its response is written)."""
        with self._idle:
            self._active += 1

    def end(self) -> None:
        with self._idle:
            self._active -= 1
            self._idle.notify_all()

    def __call__(self, environ, start_response):
        return self._handle(environ, start_response)

    def _handle(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/") or "/"
        if self.auth is not None and not self.auth.check(environ.get("HTTP_AUTHORIZATION")):
            return self._respond(start_response, "401 Unauthorized", b"Unauthorized\n", "text/plain; charset=utf-8", [("WWW-Authenticate", 'Basic realm="lanes"')])
        if method not in ("GET", "HEAD"):
            return self._respond(start_response, "405 Method Not Allowed", b"Method Not Allowed\n", "text/plain; charset=utf-8", [("Allow", "GET, HEAD")])
        if path == self.telemetry_path:
            return self.metrics(environ, start_response, method)
        if path == "/":
            page = self.landing().encode("utf-8")
            return self._respond(start_response, "200 OK", page if method == "GET" else b"", "text/html; charset=utf-8")
        if path == "/-/healthy":
            return self._respond(start_response, "200 OK", b"OK\n", "text/plain; charset=utf-8")
        return self._respond(start_response, "404 Not Found", b"Not Found\n", "text/plain; charset=utf-8")

    def metrics(self, environ, start_response, method):
        deadline = None
        hdr = environ.get("HTTP_X_PROMETHEUS_SCRAPE_TIMEOUT_SECONDS")
        if hdr:
            try:  # answer before Prometheus gives up (writing_exporters.md)
                deadline = time.monotonic() + max(0.5, float(hdr) - 0.5)
            except ValueError:
                pass
        families = self.scraper.scrape(deadline)
        names = parse_qs(environ.get("QUERY_STRING", "")).get("name[]")
        if names:
            wanted = set(names)
            families = [f for f in families if f.name in wanted]
        body = render(families, getattr(self.scraper, "series", None))
        extra = []
        if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
            # level 1: a 19 MB exposition in 77 ms instead of 270 ms at level 6, for a
            # body 17% larger (bench/README.md, large storage host)
            body = gzip.compress(body, compresslevel=1)
            extra.append(("Content-Encoding", "gzip"))
        extra.append(("Vary", "Accept-Encoding"))
        return self._respond(start_response, "200 OK", body if method == "GET" else b"", CONTENT_TYPE, extra)

    def landing(self) -> str:
        scraper = self.scraper
        if scraper.last is None or time.time() - scraper.last[0] > 10:
            scraper.scrape()  # the human view is fresh even when Prometheus is not scraping
        status = render_groups(scraper.last, scraper.prev)
        rows = []
        for r in scraper.runners:
            st = r.status
            state = "never run" if st.success is None else ("ok" if st.success else "failed")
            last = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st.last_success)) if st.last_success else "never"
            took = f"{st.duration * 1000:.1f} ms" if st.duration is not None else ""
            rows.append(
                f"<tr class='{html.escape(state.split()[0])}'><td>{html.escape(r.name)}</td><td>{state}</td>"
                f"<td>{last}</td><td>{took}</td><td>{html.escape(st.error)}</td></tr>"
            )
        path = html.escape(self.telemetry_path)
        return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>lanes exporter</title>
<style>
body {{ font-family: sans-serif; margin: 0; }}
header {{ background: #e6522c; color: #fff; padding: 0.6em 1em; }}
main {{ padding: 1em; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; white-space: nowrap; }}
table.collectors tr.failed td {{ background: #f8d7da; }}
table.collectors tr.ok td:nth-child(2) {{ color: #1a7f37; }}
tr.group td {{ font-weight: bold; border-top: 2px solid #888; }}
tr.group.ok td.state, tr.member.up td.state {{ color: #1a7f37; }}
tr.degraded td {{ background: #fff3cd; }}
tr.down td {{ background: #f8d7da; }}
td.member-name {{ padding-left: 1.5em; }}
</style></head>
<body><header><h1>lanes exporter</h1></header><main>
<p>Prometheus exporter for the network paths of storage systems, version {html.escape(__version__)}.</p>
<ul><li><a href="{path}">Metrics</a> ({path})</li><li><a href="/-/healthy">Health</a></li></ul>
{status}
<h2>Collectors</h2>
<table class="collectors"><tr><th>collector</th><th>last scrape</th><th>last success</th><th>duration</th><th>error</th></tr>
{''.join(rows)}
</table>

</main></body></html>
"""


class _QuietHandler(WSGIRequestHandler):
    timeout = 60  # a client that stalls mid-request (or mid-TLS-handshake) is dropped

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        log.debug("http %s", format % args)

    def handle(self):
        # counted here, not in the WSGI app: the response is written after the app returns,
        # and SIGTERM must wait for the bytes to leave (App.wait_idle)
        app = self.server.get_app()
        app.begin()
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError) as e:
            log.debug("connection dropped: %s", e)
        finally:
            app.end()


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        log.debug("request from %s failed", client_address)


def parse_listen(address: str) -> tuple[str, int]:
    """``:10147`` (all interfaces), ``127.0.0.1:10147``, ``[::1]:10147``."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"bad listen address {address!r} (use :10147, 127.0.0.1:10147 or [::1]:10147)")
    host = host.strip("[]")
    return host, int(port)


_TLS_VERSION = {"TLS10": "TLSv1", "TLS11": "TLSv1_1", "TLS12": "TLSv1_2", "TLS13": "TLSv1_3"}


def _normal_san(kind: str, value: str) -> str:
    """A SAN as exporter-toolkit compares it: DNS names, e-mail addresses and URIs as
    written, IP addresses in their canonical form (Python prints IPv6 SANs expanded)."""
    if kind == "IP Address":
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            return value
    return value


def _allowed(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value


class _SANCheckedSocket(ssl.SSLSocket):
    """A TLS connection whose verified client certificate must carry one of
    ``client_allowed_sans`` (DNS, IP, e-mail or URI SAN, exact match), checked once, right
    after the handshake and before any request byte is read; else the connection is closed
    (exporter-toolkit: "else terminate the connection")."""

    _lanes_allowed: frozenset = frozenset()
    _lanes_checked = False

    def read(self, len=1024, buffer=None):  # noqa: A002 - ssl.SSLSocket's signature
        if not self._lanes_checked:
            self.do_handshake()
            cert = self.getpeercert() or {}
            sans = {_normal_san(k, v) for k, v in cert.get("subjectAltName", ()) if k in ("DNS", "IP Address", "email", "URI")}
            if not sans & self._lanes_allowed:
                log.warning("client certificate refused: no SAN in client_allowed_sans", extra={"sans": ",".join(sorted(sans)) or "(none)"})
                raise ssl.SSLError("client certificate SAN not in client_allowed_sans")
            self._lanes_checked = True
        return super().read(len, buffer)


def tls_context(web: WebConfig) -> ssl.SSLContext | None:
    """The server's TLS context from the web config's tls_server_config (what cannot be
    done is listed in ``web.ignored`` by the parser and logged once by the caller)."""
    if web.tls is None:
        return None
    t = web.tls
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = getattr(ssl.TLSVersion, _TLS_VERSION[t.min_version])
    ctx.maximum_version = getattr(ssl.TLSVersion, _TLS_VERSION[t.max_version])
    if t.min_version in ("TLS10", "TLS11"):
        # OpenSSL 3's default security level 1 refuses TLS 1.0/1.1 handshakes (SHA-1)
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with t.cert_and_key_files() as (cert_file, key_file):
        ctx.load_cert_chain(cert_file, key_file)
    if t.cipher_suites:
        names = [GO_CIPHER_SUITES[n] for n in t.cipher_suites if GO_CIPHER_SUITES[n]]
        if names:  # TLS 1.2 and older; TLS 1.3 suites are not configurable (Go neither)
            seclevel = ":@SECLEVEL=0" if t.min_version in ("TLS10", "TLS11") else ""
            ctx.set_ciphers(":".join(names) + seclevel)
    if t.prefer_server_cipher_suites:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    curves = [GO_CURVES[c] for c in t.curve_preferences if GO_CURVES[c]]
    if curves:
        ctx.set_ecdh_curve(curves[0])  # one group only: see WebConfig.ignored
    mode = {
        "NoClientCert": ssl.CERT_NONE,
        "RequestClientCert": ssl.CERT_NONE,
        "RequireAnyClientCert": ssl.CERT_REQUIRED,
        "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
        "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
    }[t.client_auth_type]
    if mode != ssl.CERT_NONE:
        if t.client_ca_file or t.client_ca:
            ctx.load_verify_locations(cafile=t.client_ca_file, cadata=t.client_ca)
        else:  # Go verifies against the system roots when ClientCAs is unset
            ctx.load_default_certs(ssl.Purpose.CLIENT_AUTH)
        ctx.verify_mode = mode
    if t.client_allowed_sans:
        allowed = frozenset(_allowed(s) for s in t.client_allowed_sans)
        ctx.sslsocket_class = type("SANCheckedSocket", (_SANCheckedSocket,), {"_lanes_allowed": allowed})
    return ctx


def make_server(address: str, app: App, tls: ssl.SSLContext | None) -> _Server:
    host, port = parse_listen(address)
    family = socket.AF_INET6 if (host == "" or ":" in host) and socket.has_ipv6 else socket.AF_INET

    class Server(_Server):
        address_family = family

        def server_bind(self):
            if family == socket.AF_INET6 and host == "":
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            super().server_bind()

    bind_host = host if host else ("::" if family == socket.AF_INET6 else "0.0.0.0")
    server = Server((bind_host, port), _QuietHandler, bind_and_activate=True)
    server.set_app(app)
    if tls is not None:
        # the handshake runs in the request thread, not in the accept loop
        server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    return server
