"""TLS for the HTTP server, from the web config's ``tls_server_config`` (exporter-toolkit's
keys).  Its own module: ``ssl`` loads OpenSSL (about 5 MB of RSS), and a server without TLS
never imports it (exporter.http imports this module only when TLS is configured)."""

from __future__ import annotations

import ipaddress
import logging
import ssl

from exporter.config import GO_CIPHER_SUITES, GO_CURVES, WebConfig

log = logging.getLogger("lanes.http")

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
