"""HTTP: landing page, telemetry path, 404 elsewhere; TLS, basic auth, security headers.

A small WSGI app (client_python's own server answers metrics on every path and has no
auth; research/conventions.md §2.3) on lanes' own HTTP/1.1 server: one I/O thread reads
request heads without blocking, a bounded pool of workers answers them (SPEC §10: slow and
idle clients cost a socket, not a thread; header and idle timeouts; 400/405/414/431 with a
body; HEAD and Accept-Encoding per RFC 9110).  Concurrent scrapes share one collector run
(``Scraper`` single flight), each under its own deadline.
"""

from __future__ import annotations

import base64
import html
import logging
import queue
import selectors
import socket
import threading
import time
import urllib.parse
import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from exporter import __version__
from exporter.config import WebConfig
from exporter.metrics import render, render_chunks
from exporter.status import render_groups

if TYPE_CHECKING:  # ssl loads OpenSSL (about 5 MB of RSS): only with TLS configured
    import ssl

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
        # An unknown user is checked against a hash of the same cost as the real ones, so
        # that the answer takes as long as a wrong password (no enumeration of users by
        # timing; exporter-toolkit does the same).
        cost = min((int(h.split("$")[2]) for h in users.values()), default=10)
        self._dummy = _dummy_hash(cost)

    def check(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "basic":  # RFC 7617 §2 / RFC 9110 §11.1: case-insensitive
            return False
        try:
            user, _, password = base64.b64decode(credentials.strip(), validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        hashed = self.users.get(user)
        if hashed is None:
            import bcrypt

            bcrypt.checkpw(password.encode("utf-8"), self._dummy)
            return False
        import hashlib  # only with basic auth configured

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


_DUMMY: dict[int, bytes] = {}


def _dummy_hash(cost: int) -> bytes:
    """A bcrypt hash of a random password at ``cost`` (made once per cost)."""
    h = _DUMMY.get(cost)
    if h is None:
        import os

        import bcrypt

        h = _DUMMY[cost] = bcrypt.hashpw(os.urandom(16), bcrypt.gensalt(rounds=max(4, min(cost, 31))))
    return h


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
            return self._respond(
                start_response,
                "401 Unauthorized",
                b"Unauthorized\n",
                "text/plain; charset=utf-8",
                [("WWW-Authenticate", 'Basic realm="lanes"')],
            )
        if method not in ("GET", "HEAD"):
            return self._respond(
                start_response, "405 Method Not Allowed", b"Method Not Allowed\n", "text/plain; charset=utf-8", [("Allow", "GET, HEAD")]
            )
        if path == self.telemetry_path:
            return self.metrics(environ, start_response, method)
        if path == "/":
            page = self.landing().encode("utf-8")
            return self._respond(start_response, "200 OK", page, "text/html; charset=utf-8")
        if path == "/-/healthy":
            return self._respond(start_response, "200 OK", b"OK\n", "text/plain; charset=utf-8")
        return self._respond(start_response, "404 Not Found", b"Not Found\n", "text/plain; charset=utf-8")

    def metrics(self, environ, start_response, method):
        deadline = None
        received = environ.get("lanes.received") or time.monotonic()
        hdr = environ.get("HTTP_X_PROMETHEUS_SCRAPE_TIMEOUT_SECONDS")
        if hdr:
            try:  # answer before Prometheus gives up (writing_exporters.md)
                deadline = received + max(0.5, float(hdr) - 0.5)
            except ValueError:
                pass
        # a request that waited for a worker takes a run started after it arrived
        families = self.scraper.scrape(deadline, received)
        names = parse_qs(environ.get("QUERY_STRING", "")).get("name[]")
        if names:
            wanted = set(names)
            families = [f for f in families if f.name in wanted]
        extra = []
        if accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING")):
            # level 1: a 19 MB exposition in 77 ms instead of 270 ms at level 6, for a
            # body 17% larger (bench/README.md, large storage host); compressed piece by
            # piece as it is rendered: the plain body never exists whole
            z = zlib.compressobj(1, zlib.DEFLATED, 31)  # wbits 31: gzip framing (RFC 1952)
            parts = [z.compress(chunk) for chunk in render_chunks(families, getattr(self.scraper, "series", None))]
            parts.append(z.flush())
            body = b"".join(parts)
            del parts
            extra.append(("Content-Encoding", "gzip"))
        else:
            body = render(families, getattr(self.scraper, "series", None))
        extra.append(("Vary", "Accept-Encoding"))
        # HEAD gets the GET's Content-Length; the server sends no content (RFC 9110 §9.3.2)
        return self._respond(start_response, "200 OK", body, CONTENT_TYPE, extra)

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
{"".join(rows)}
</table>

</main></body></html>
"""


# ------------------------------------------------------------------ the server
#
# One I/O thread accepts connections and reads request heads without blocking (TLS
# handshakes included); a complete head goes to a bounded pool of workers, which run the
# app and write the response.  A slow or idle client costs a socket, never a thread
# (SPEC §10: 1,000 idle or slowloris connections under the unit's TasksMax=64).  Timeouts
# follow Go's net/http as node_exporter uses it: ReadHeaderTimeout from accept (or from
# the first byte of a later request), IdleTimeout between keep-alive requests.

HEADER_TIMEOUT = 10.0  # a request head must be complete this long after it starts
IDLE_TIMEOUT = 60.0  # a keep-alive connection may wait this long for its next request
WRITE_TIMEOUT = 60.0  # a client must take the response within this long
WORKERS = 16  # with the collectors' threads well under the unit's TasksMax=64
BACKLOG = 128
MAX_CONNECTIONS = 1024  # past it the longest-waiting connection without a request goes
MAX_REQUEST_LINE = 8 * 1024  # 414 past it
MAX_HEADER_BYTES = 32 * 1024  # 431 past it (the request line included)
MAX_HEADERS = 100
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}


class HTTPError(Exception):
    def __init__(self, status: int, detail: str = ""):
        super().__init__(detail or REASONS[status])
        self.status = status


class Request:
    __slots__ = ("method", "target", "version", "headers")

    def __init__(self, method: str, target: str, version: str, headers: list[tuple[str, str]]):
        self.method, self.target, self.version, self.headers = method, target, version, headers

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name]
        return ", ".join(values) if values else None

    @property
    def keep_alive(self) -> bool:
        conn = (self.header("connection") or "").lower()
        tokens = {t.strip() for t in conn.split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens

    @property
    def has_body(self) -> bool:
        te = self.header("transfer-encoding")
        cl = self.header("content-length")
        return bool(te) or (cl is not None and cl.strip() not in ("", "0"))


def parse_head(head: bytes) -> Request:
    """A request head (request line and header fields, without the blank line) per RFC 9112."""
    lines = head.split(b"\n")
    line = lines[0].rstrip(b"\r")
    if len(line) > MAX_REQUEST_LINE:
        raise HTTPError(414)
    parts = line.split(b" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise HTTPError(400, "malformed request line")
    method, target, version = parts
    if target[:7].lower() == b"http://" or target[:8].lower() == b"https://":
        # absolute-form (RFC 9112 §3.2.2): servers accept it; the path is what counts
        rest = target.split(b"//", 1)[1]
        slash = rest.find(b"/")
        target = rest[slash:] if slash >= 0 else b"/"
    if not set(method) <= _TOKEN:
        raise HTTPError(400, "malformed method")
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        if version.startswith(b"HTTP/") and len(version) == 8 and version[5:6].isdigit():
            raise HTTPError(505)
        raise HTTPError(400, "malformed HTTP version")
    if not (target.startswith(b"/") or target == b"*") or any(c <= 32 or c >= 127 for c in target):
        raise HTTPError(400, "malformed request target")
    if len(lines) - 1 > MAX_HEADERS:
        raise HTTPError(431)
    headers = []
    for raw in lines[1:]:
        raw = raw.rstrip(b"\r")
        if not raw:
            continue
        if raw[:1] in (b" ", b"\t"):
            raise HTTPError(400, "obsolete header line folding")
        name, sep, value = raw.partition(b":")
        if not sep or not name or not set(name) <= _TOKEN:
            raise HTTPError(400, "malformed header field")
        headers.append((name.decode("ascii").lower(), value.strip(b" \t").decode("latin-1")))
    req = Request(method.decode("ascii"), target.decode("ascii"), version.decode("ascii"), headers)
    if req.version == "HTTP/1.1" and req.header("host") is None:
        raise HTTPError(400, "missing Host header")  # RFC 9112 §3.2
    if req.header("transfer-encoding") and req.header("content-length"):
        raise HTTPError(400, "both Transfer-Encoding and Content-Length")
    return req


def accepts_gzip(header: str | None) -> bool:
    """RFC 9110 §12.5.3: gzip if listed (or ``*``) with a q-value above 0."""
    if not header:
        return False
    q_gzip = q_star = None
    for item in header.split(","):
        coding, *params = (p.strip() for p in item.split(";"))
        q = 1.0
        for p in params:
            k, _, v = p.partition("=")
            if k.strip().lower() == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        coding = coding.lower()
        if coding in ("gzip", "x-gzip"):
            q_gzip = q
        elif coding == "*":
            q_star = q
    q = q_gzip if q_gzip is not None else q_star
    return q is not None and q > 0


class _Conn:
    __slots__ = ("sock", "addr", "buf", "deadline", "handshaking", "waiting", "since")

    def __init__(self, sock, addr, deadline: float, handshaking: bool):
        self.sock = sock
        self.addr = addr
        self.buf = bytearray()
        self.deadline = deadline
        self.handshaking = handshaking
        #: no byte of a request yet (a fresh connection or keep-alive between requests)
        self.waiting = True
        self.since = time.monotonic()


class _Pool:
    """At most ``size`` daemon worker threads, started as needed.  Not a
    ThreadPoolExecutor: its threads are joined at interpreter exit, so a worker stuck on a
    slow client would hold lanes past SIGTERM's 5 s."""

    def __init__(self, size: int, name: str):
        self.size = size
        self.name = name
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0

    def submit(self, fn, *args) -> None:
        with self._lock:
            if self._idle <= 0 and len(self._threads) < self.size:
                t = threading.Thread(target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True)
                self._threads.append(t)
                t.start()
            else:
                self._idle -= 1  # this job will wake an idle worker
        self._q.put((fn, args))

    def _work(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            fn, args = item
            try:
                fn(*args)
            except Exception:  # pragma: no cover - _serve handles its own errors
                log.debug("worker failed", exc_info=True)
            with self._lock:
                self._idle += 1

    def shutdown(self) -> None:
        for _ in self._threads:
            self._q.put(None)


class Server:
    """HTTP/1.1 server: one I/O thread (``serve_forever``), a bounded worker pool."""

    def __init__(self, sock: socket.socket, app: App, tls: ssl.SSLContext | None, workers: int = WORKERS):
        self.socket = sock
        self.app = app
        self.tls = tls
        # ssl's "try again" errors; classes no socket raises while TLS is off (ssl unloaded)
        self._want_read: type[BaseException] | tuple = ()
        self._want_write: type[BaseException] | tuple = ()
        if tls is not None:
            import ssl

            self._want_read, self._want_write = ssl.SSLWantReadError, ssl.SSLWantWriteError
        self.server_address = sock.getsockname()
        self.max_connections = _max_connections()
        self._sel = selectors.DefaultSelector()
        self._conns: dict[int, _Conn] = {}
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._returned: list[_Conn] = []  # keep-alive connections handed back by workers
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._pool = _Pool(workers, "http")
        self._busy = 0  # requests dispatched to workers and not yet written

    # -- compatibility with socketserver's API (cli.serve, tests)
    def get_app(self) -> App:
        return self.app

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        sock = self.socket
        sock.setblocking(False)
        self._sel.register(sock, selectors.EVENT_READ, "listen")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        next_expiry = 0.0
        try:
            while not self._stopping.is_set():
                events = self._sel.select(min(poll_interval, 0.5))
                now = time.monotonic()
                for key, _ev in events:
                    if key.data == "listen":
                        self._accept(now)
                    elif key.data == "wake":
                        self._drain_wake()
                    else:
                        self._readable(key.data, now)
                self._take_returned(now)
                if now >= next_expiry:
                    self._expire(now)
                    next_expiry = now + 0.25
        finally:
            self._close_listener()
            for conn in list(self._conns.values()):
                self._drop(conn)
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop accepting at once and close connections waiting for a request; requests
        being answered finish (their connections close after the response)."""
        self._stopping.set()
        self._close_listener()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._stopped.wait(5)

    def server_close(self) -> None:
        self._stopping.set()
        self._close_listener()
        self._pool.shutdown()
        for s in (self._wake_r, self._wake_w):
            s.close()

    def _close_listener(self) -> None:
        with self._lock:
            if self.socket.fileno() >= 0:
                try:
                    self._sel.unregister(self.socket)
                except (KeyError, ValueError):
                    pass
                self.socket.close()

    # -- I/O thread
    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _accept(self, now: float) -> None:
        for _ in range(64):
            try:
                sock, addr = self.socket.accept()
            except BlockingIOError:
                return
            except OSError as e:  # EMFILE, ENFILE, ECONNABORTED: make room, try again later
                log.debug("accept failed: %s", e)
                self._evict()
                return
            if len(self._conns) >= self.max_connections:
                self._evict()
            sock.setblocking(False)
            handshaking = False
            if self.tls is not None:
                try:
                    sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                except (OSError, ValueError):
                    sock.close()
                    continue
                handshaking = True
            conn = _Conn(sock, addr, now + HEADER_TIMEOUT, handshaking)
            self._conns[sock.fileno()] = conn
            self._sel.register(sock, selectors.EVENT_READ, conn)
            if handshaking:
                self._readable(conn, now)

    def _evict(self) -> None:
        """Close the connection that has waited longest without a complete request."""
        if self._conns:
            oldest = min(self._conns.values(), key=lambda c: c.since)
            self._drop(oldest)

    def _drop(self, conn: _Conn) -> None:
        self._conns.pop(conn.sock.fileno(), None)
        try:
            self._sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        try:
            conn.sock.close()
        except OSError:
            pass

    def _readable(self, conn: _Conn, now: float) -> None:
        sock = conn.sock
        try:
            if conn.handshaking:
                sock.do_handshake()
                conn.handshaking = False
                self._sel.modify(sock, selectors.EVENT_READ, conn)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    self._drop(conn)
                    return
                if conn.waiting:
                    conn.waiting = False
                    conn.deadline = min(conn.deadline, now + HEADER_TIMEOUT)
                conn.buf += chunk
                if self.tls is None or not sock.pending():
                    break
        except self._want_read:
            pass
        except self._want_write:
            self._sel.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)
            return
        except (BlockingIOError, InterruptedError):
            pass
        except (OSError, ValueError) as e:  # reset, bad handshake
            log.debug("connection from %s dropped: %s", conn.addr, e)
            self._drop(conn)
            return
        self._maybe_dispatch(conn)

    def _maybe_dispatch(self, conn: _Conn) -> None:
        buf = conn.buf
        end = buf.find(b"\r\n\r\n")
        sep = 4
        if end < 0:
            end = buf.find(b"\n\n")
            sep = 2
        error = None
        if end < 0:
            if b"\n" not in buf[: MAX_REQUEST_LINE + 2] and len(buf) > MAX_REQUEST_LINE:
                error = HTTPError(414)
            elif len(buf) > MAX_HEADER_BYTES:
                error = HTTPError(431)
            else:
                return  # wait for more
        elif end > MAX_HEADER_BYTES:
            first = buf.find(b"\n")
            error = HTTPError(414 if first < 0 or first > MAX_REQUEST_LINE else 431)
        # a complete head (or an answer to give): a worker takes the connection
        self._conns.pop(conn.sock.fileno(), None)
        try:
            self._sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        if error is None:
            head = bytes(buf[:end])
            del buf[: end + sep]
        else:
            head = b""
            buf.clear()
        with self._lock:
            self._busy += 1
        self.app.begin()
        self._pool.submit(self._serve, conn, head, error, time.monotonic())

    def _take_returned(self, now: float) -> None:
        with self._lock:
            back, self._returned = self._returned, []
        for conn in back:
            conn.deadline = now + IDLE_TIMEOUT
            conn.waiting = not conn.buf
            conn.since = now
            self._conns[conn.sock.fileno()] = conn
            self._sel.register(conn.sock, selectors.EVENT_READ, conn)
            if conn.buf:  # a pipelined request already here
                self._maybe_dispatch(conn)

    def _expire(self, now: float) -> None:
        for conn in [c for c in self._conns.values() if c.deadline <= now]:
            self._drop(conn)

    # -- workers
    def _serve(self, conn: _Conn, head: bytes, error: HTTPError | None, received: float) -> None:
        keep = False
        try:
            conn.sock.setblocking(True)
            conn.sock.settimeout(WRITE_TIMEOUT)
            if error is None:
                try:
                    req = parse_head(head)
                except HTTPError as e:
                    error = e
            if error is not None:
                self._write_error(conn.sock, error)
                return
            keep = req.keep_alive and not req.has_body and not self._stopping.is_set()
            self._respond(conn, req, keep, received)
        except Exception as e:  # a client gone mid-response, a TLS error
            log.debug("connection from %s dropped: %s", conn.addr, e)
            keep = False
        finally:
            self.app.end()
            with self._lock:
                self._busy -= 1
            if keep and not self._stopping.is_set():
                conn.sock.setblocking(False)
                with self._lock:
                    self._returned.append(conn)
                try:
                    self._wake_w.send(b"x")
                except OSError:
                    pass
            else:
                try:
                    conn.sock.close()
                except OSError:
                    pass

    def _write_error(self, sock, error: HTTPError) -> None:
        body = (
            f"{REASONS[error.status]}: {error}\n".encode() if str(error) != REASONS[error.status] else f"{REASONS[error.status]}\n".encode()
        )
        headers = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            *self.app.headers.items(),
            ("Connection", "close"),
        ]
        sock.sendall(_head(error.status, REASONS[error.status], headers) + body)

    def _respond(self, conn: _Conn, req: Request, keep: bool, received: float) -> None:
        path, _, query = req.target.partition("?")
        environ = {
            "REQUEST_METHOD": req.method,
            "PATH_INFO": urllib.parse.unquote(path, "latin-1"),
            "QUERY_STRING": query,
            "SERVER_PROTOCOL": req.version,
            "REMOTE_ADDR": str(conn.addr[0]) if conn.addr else "",
            "wsgi.url_scheme": "https" if self.tls else "http",
            "lanes.received": received,
        }
        for k, v in req.headers:
            environ["HTTP_" + k.upper().replace("-", "_")] = v
        box: list = []

        def start_response(status, headers, exc_info=None):
            box[:] = [status, headers]

        try:
            body = b"".join(self.app(environ, start_response))
            status, headers = box
        except Exception as e:  # never a traceback over HTTP
            log.warning("request failed", extra={"path": path[:200], "err": f"{type(e).__name__}: {e}"[:300]})
            log.debug("request failed", exc_info=True)
            body = b"Internal Server Error\n"
            status = "500 Internal Server Error"
            headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), *self.app.headers.items()]
            keep = False
        code, _, reason = status.partition(" ")
        headers = list(headers)
        if not keep:
            headers.append(("Connection", "close"))
        elif req.version == "HTTP/1.0":
            headers.append(("Connection", "keep-alive"))
        out = _head(int(code), reason, headers, req.version)
        # HEAD: the GET's header fields (its Content-Length included), no content (RFC 9110 §9.3.2)
        conn.sock.sendall(out if req.method == "HEAD" else out + body)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(t: float | None = None) -> str:
    """IMF-fixdate (RFC 9110 §5.6.7), English names whatever the locale."""
    g = time.gmtime(t)
    return f"{_DAYS[g.tm_wday]}, {g.tm_mday:02d} {_MONTHS[g.tm_mon - 1]} {g.tm_year} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d} GMT"


def tls_context(web: WebConfig) -> ssl.SSLContext | None:
    """The server's TLS context (exporter.tls), None without tls_server_config."""
    if web.tls is None:
        return None
    from exporter.tls import tls_context as make

    return make(web)


def _head(code: int, reason: str, headers, version: str = "HTTP/1.1") -> bytes:
    """The status line (an HTTP/1.0 request gets an HTTP/1.0 answer, as Go's net/http
    gives) and header fields."""
    lines = [f"{version} {code} {reason}", f"Date: {http_date()}"]
    lines.extend(f"{k}: {v}" for k, v in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _max_connections() -> int:
    """Room for MAX_CONNECTIONS sockets: raise the soft fd limit to the hard one (as Go
    does since 1.19) and stay below it."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = MAX_CONNECTIONS + 256
        if soft != resource.RLIM_INFINITY and soft < want:
            new = want if hard == resource.RLIM_INFINITY else min(hard, want)
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
        if soft == resource.RLIM_INFINITY:
            return MAX_CONNECTIONS
        return max(16, min(MAX_CONNECTIONS, soft - 128))
    except (ImportError, ValueError, OSError):
        return MAX_CONNECTIONS


def parse_listen(address: str) -> tuple[str, int]:
    """``:10147`` (all interfaces), ``127.0.0.1:10147``, ``[::1]:10147``."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"bad listen address {address!r} (use :10147, 127.0.0.1:10147 or [::1]:10147)")
    host = host.strip("[]")
    return host, int(port)


def make_server(address: str, app: App, tls: ssl.SSLContext | None) -> Server:
    host, port = parse_listen(address)
    family = socket.AF_INET6 if (host == "" or ":" in host) and socket.has_ipv6 else socket.AF_INET
    bind_host = host if host else ("::" if family == socket.AF_INET6 else "0.0.0.0")
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and host == "":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((bind_host, port))
        sock.listen(BACKLOG)  # the kernel caps it at net.core.somaxconn (4096 since Linux 5.4)
    except BaseException:
        sock.close()
        raise
    return Server(sock, app, tls)
