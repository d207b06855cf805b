"""The YAML config file (SPEC §5) and the web config file (exporter-toolkit format).

Validation works on the YAML node tree so every error names the file and line:
``/etc/lanes/config.yml:7: collectors.link: unknown key 'inclde'``.  Unknown keys are
errors; everything has a default, so an absent file is a valid config.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

DEFAULT_SAMPLER_INTERVAL = 1.0

#: Ranges of durations (seconds), checked at --check-config and at start (SPEC §10): what
#: passes the check never fails at run time (a 3000000h timeout overflows a thread wait).
TIMEOUT_RANGE = (0.001, 3600.0)  # a collector's or command's timeout: 1ms .. 1h
INTERVAL_RANGE = (0.0, 86400.0)  # a refresh interval (0 = every scrape / off): .. 24h
SAMPLER_RANGE = (0.01, 3600.0)  # the sampler's interval when on (0 turns it off)
#: size caps (``limits:``): name -> (default, lowest, highest) in bytes.  The defaults fit
#: the largest real host many times over; the highest keep RSS under the unit's MemoryMax
#: (deploy/systemd/lanes.service) for one source at a time.
LIMITS = {
    "file_bytes": (16 * 1024 * 1024, 4096, 64 * 1024 * 1024),
    "command_output_bytes": (32 * 1024 * 1024, 4096, 64 * 1024 * 1024),
    "line_bytes": (1024 * 1024, 256, 16 * 1024 * 1024),
    "label_value_bytes": (4096, 64, 1024 * 1024),
}
INT_MAX = 2**63 - 1


def _fmt_seconds(v: float) -> str:
    if v >= 3600 and v % 3600 == 0:
        return f"{v / 3600:g}h"
    if v >= 60 and v % 60 == 0:
        return f"{v / 60:g}m"
    if v < 1:
        return f"{v * 1000:g}ms"
    return f"{v:g}s"


def check_range(value: float, lo: float, hi: float, zero_ok: bool = False, shown: str | None = None) -> str | None:
    """None if ``value`` (seconds) lies in [lo, hi] (or is 0 when ``zero_ok``), else why;
    ``shown``: the value as the user wrote it."""
    if zero_ok and value == 0:
        return None
    if not value <= hi:  # also inf and NaN
        return f"{shown or value} is above the limit of {_fmt_seconds(hi)}"
    if value < lo:
        return f"{shown or _fmt_seconds(value)} is below the limit of {_fmt_seconds(lo)}" + (" (0 turns it off)" if zero_ok else "")
    return None


def duration_range(key: str) -> tuple[float, float]:
    """The range of a duration option by its name: ``timeout``/``*_timeout`` or an interval."""
    if key == "timeout" or key.endswith("_timeout"):
        return TIMEOUT_RANGE
    return INTERVAL_RANGE


class ConfigError(Exception):
    def __init__(self, file: str, line: int | None, problem: str):
        self.file, self.line, self.problem = file, line, problem
        super().__init__(f"{file}:{line}: {problem}" if line else f"{file}: {problem}")


@dataclasses.dataclass(frozen=True)
class DeclaredGroup:
    members: tuple[str, ...]
    balancing: str = "load"
    policy: str = "declared"
    #: capacity of each member in bytes/s where the driver reports none or the link is
    #: shaped below line rate (veth, VM NICs, policed links); overrides the link's speed
    speed_bytes: int | None = None


@dataclasses.dataclass
class Config:
    path: str | None = None
    collectors: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    commands: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    groups: dict[str, DeclaredGroup] = dataclasses.field(default_factory=dict)
    expect: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    sampler_interval: float = DEFAULT_SAMPLER_INTERVAL  # 0 turns the sampler off
    scrub: bool = False
    #: size caps (see LIMITS): name -> bytes
    limits: dict[str, int] = dataclasses.field(default_factory=lambda: {k: v[0] for k, v in LIMITS.items()})


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """``500ms``, ``5s``, ``1m``, ``2h`` or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration, not a boolean")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    m = _DURATION.match(str(value).strip())
    if not m:
        raise ValueError(f"not a duration: {value!r} (use 500ms, 5s, 1m)")
    return float(m.group(1)) * _UNITS[m.group(2)]


class _Doc:
    """Helpers over a composed YAML node tree that remember the file name."""

    def __init__(self, file: str):
        self.file = file

    def err(self, node: yaml.Node | None, problem: str) -> ConfigError:
        return ConfigError(self.file, node.start_mark.line + 1 if node is not None else None, problem)

    def mapping(self, node: yaml.Node, where: str) -> list[tuple[yaml.ScalarNode, yaml.Node]]:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return []
        if not isinstance(node, yaml.MappingNode):
            raise self.err(node, f"{where}: expected a mapping")
        seen = set()
        for k, _v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise self.err(k, f"{where}: keys must be plain names")
            if k.value in seen:
                raise self.err(k, f"{where}: duplicate key {k.value!r}")
            seen.add(k.value)
        return node.value

    def scalar(self, node: yaml.Node, where: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.err(node, f"{where}: expected a single value")
        return yaml.safe_load(yaml.serialize(node))

    def string(self, node: yaml.Node, where: str) -> str:
        v = self.scalar(node, where)
        if not isinstance(v, (str, int, float)) or isinstance(v, bool):
            raise self.err(node, f"{where}: expected a string")
        return str(v)

    def strings(self, node: yaml.Node, where: str) -> list[str]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.err(node, f"{where}: expected a list")
        return [self.string(n, where) for n in node.value]


def _compose(text: str, file: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(file, line, f"invalid YAML: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise ConfigError(file, None, f"invalid YAML: {e}") from None


def _option(doc: _Doc, node: yaml.Node, where: str, kind: str) -> Any:
    if kind == "regex":
        text = doc.string(node, where)
        try:
            re.compile(text)
        except re.error as e:
            raise doc.err(node, f"{where}: bad regular expression: {e}") from None
        return text
    if kind == "duration":
        raw = doc.scalar(node, where)
        try:
            seconds = parse_duration(raw)
        except ValueError as e:
            raise doc.err(node, f"{where}: {e}") from None
        lo, hi = duration_range(where.rpartition(".")[2])
        why = check_range(seconds, lo, hi, zero_ok=lo == 0, shown=str(raw)[:40])
        if why:
            raise doc.err(node, f"{where}: {why}")
        return seconds
    if kind == "bool":
        v = doc.scalar(node, where)
        if not isinstance(v, bool):
            raise doc.err(node, f"{where}: expected true or false")
        return v
    if kind == "int":
        v = doc.scalar(node, where)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise doc.err(node, f"{where}: expected a whole number >= 0")
        if v > INT_MAX:
            raise doc.err(node, f"{where}: {v} is above the limit of {INT_MAX} (2^63-1)")
        return v
    if kind == "list":
        return doc.strings(node, where)
    if kind == "ports":  # TCP ports (collector flows): whole numbers 1..65535
        if not isinstance(node, yaml.SequenceNode):
            raise doc.err(node, f"{where}: expected a list of TCP ports")
        ports = []
        for item in node.value:
            v = doc.scalar(item, where)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 < v < 65536:
                raise doc.err(item, f"{where}: {v!r} is not a TCP port (1..65535)")
            ports.append(v)
        return ports
    if kind.startswith("enum:"):
        choices = kind[5:].split(",")
        v = doc.string(node, where)
        if v not in choices:
            raise doc.err(node, f"{where}: must be one of {', '.join(choices)}")
        return v
    return doc.string(node, where)


COMMON_OPTIONS = {"enabled": "bool", "timeout": "duration"}


def parse_config(text: str, file: str, collector_options: Mapping[str, Mapping[str, str]]) -> Config:
    """``collector_options``: collector name -> {option key: kind} (from the registry)."""
    doc = _Doc(file)
    cfg = Config(path=file)
    root = _compose(text, file)
    if root is None:
        return cfg
    for key, value in doc.mapping(root, "config"):
        name = key.value
        if name == "collectors":
            for ck, cv in doc.mapping(value, "collectors"):
                if ck.value not in collector_options:
                    known = ", ".join(sorted(collector_options))
                    raise doc.err(ck, f"collectors: unknown collector {ck.value!r} (known: {known})")
                allowed = {**COMMON_OPTIONS, **collector_options[ck.value]}
                opts: dict[str, Any] = {}
                for ok, ov in doc.mapping(cv, f"collectors.{ck.value}"):
                    if ok.value not in allowed:
                        raise doc.err(ok, f"collectors.{ck.value}: unknown key {ok.value!r} (known: {', '.join(sorted(allowed))})")
                    opts[ok.value] = _option(doc, ov, f"collectors.{ck.value}.{ok.value}", allowed[ok.value])
                cfg.collectors[ck.value] = opts
        elif name == "commands":
            for tk, tv in doc.mapping(value, "commands"):
                argv = doc.strings(tv, f"commands.{tk.value}")
                if not argv or not all(argv):
                    raise doc.err(tv, f"commands.{tk.value}: needs a non-empty argv list")
                cfg.commands[tk.value] = argv
        elif name == "groups":
            for gk, gv in doc.mapping(value, "groups"):
                members: list[str] | None = None
                balancing, policy = "load", "declared"
                speed_bytes = None
                for fk, fv in doc.mapping(gv, f"groups.{gk.value}"):
                    where = f"groups.{gk.value}.{fk.value}"
                    if fk.value == "members":
                        members = doc.strings(fv, where)
                        if not members or len(set(members)) != len(members):
                            raise doc.err(fv, f"{where}: needs at least one member, each once")
                    elif fk.value == "balancing":
                        balancing = doc.string(fv, where)
                        if balancing not in ("load", "failover"):
                            raise doc.err(fv, f"{where}: must be load or failover")
                    elif fk.value == "policy":
                        policy = doc.string(fv, where)
                    elif fk.value == "speed_bytes":
                        speed_bytes = _option(doc, fv, where, "int") or None
                    else:
                        raise doc.err(fk, f"groups.{gk.value}: unknown key {fk.value!r} (known: balancing, members, policy, speed_bytes)")
                if members is None:
                    raise doc.err(gk, f"groups.{gk.value}: members is required")
                cfg.groups[str(gk.value)] = DeclaredGroup(tuple(members), balancing, policy, speed_bytes)
        elif name == "expect":
            for kk, kv in doc.mapping(value, "expect"):
                counts = {}
                for gk, gv in doc.mapping(kv, f"expect.{kk.value}"):
                    n = doc.scalar(gv, f"expect.{kk.value}.{gk.value}")
                    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                        raise doc.err(gv, f"expect.{kk.value}.{gk.value}: expected a member count >= 1")
                    counts[str(gk.value)] = n
                cfg.expect[kk.value] = counts
        elif name == "sampler":
            for sk, sv in doc.mapping(value, "sampler"):
                if sk.value == "interval":
                    cfg.sampler_interval = _option(doc, sv, "sampler.interval", "duration")
                    why = check_range(cfg.sampler_interval, *SAMPLER_RANGE, zero_ok=True, shown=str(doc.scalar(sv, "sampler.interval"))[:40])
                    if why:
                        raise doc.err(sv, f"sampler.interval: {why}")
                else:
                    raise doc.err(sk, f"sampler: unknown key {sk.value!r} (known: interval; 0 turns it off)")
        elif name == "limits":
            for lk, lv in doc.mapping(value, "limits"):
                if lk.value not in LIMITS:
                    raise doc.err(lk, f"limits: unknown key {lk.value!r} (known: {', '.join(LIMITS)})")
                n = _option(doc, lv, f"limits.{lk.value}", "int")
                _default, lo, hi = LIMITS[lk.value]
                if not lo <= n <= hi:
                    raise doc.err(lv, f"limits.{lk.value}: {n} is outside the limits of {lo} to {hi} bytes")
                cfg.limits[lk.value] = n
        else:
            raise doc.err(key, f"unknown key {name!r} (known: collectors, commands, expect, groups, limits, sampler)")
    return cfg


def load_config(path: str, collector_options: Mapping[str, Mapping[str, str]]) -> Config:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(path, None, e.strerror or str(e)) from None
    except UnicodeDecodeError:
        raise ConfigError(path, None, "not UTF-8 text") from None
    return parse_config(text, path, collector_options)


# ------------------------------------------------------------------ web config
#
# The exporter-toolkit format (prometheus/exporter-toolkit docs/web-configuration.md), so
# one web.yml serves node_exporter and lanes.  Every key of that format is accepted; what
# Python's ssl module cannot do is listed in WebConfig.ignored and logged in ONE warning
# line at start (and by --check-config) instead of refusing to start.

CLIENT_AUTH_TYPES = (
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
)
TLS_VERSIONS = ("TLS10", "TLS11", "TLS12", "TLS13")
# exporter-toolkit accepts exactly these response headers (docs/web-configuration.md)
ALLOWED_HEADERS = (
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "X-XSS-Protection",
    "Strict-Transport-Security",
)
# Go's crypto/tls cipher suite names (the IANA names; tls.CipherSuites() and
# tls.InsecureCipherSuites(), Go 1.22) -> OpenSSL names, as `openssl ciphers -stdname`
# (OpenSSL 3.0) pairs them.  None: a TLS 1.3 suite, which neither Go nor Python's ssl lets
# a server choose (both always offer all three); accepted and without effect, as in Go.
GO_CIPHER_SUITES = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
    "TLS_RSA_WITH_RC4_128_SHA": "RC4-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",  # Go's older alias
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",  # Go's older alias
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": "ECDHE-RSA-DES-CBC3-SHA",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA": "ECDHE-ECDSA-RC4-SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA": "ECDHE-RSA-RC4-SHA",
    "TLS_AES_128_GCM_SHA256": None,
    "TLS_AES_256_GCM_SHA384": None,
    "TLS_CHACHA20_POLY1305_SHA256": None,
}
# Go's tls.CurveID names -> OpenSSL group short names (SSL_CTX_set1_groups via
# SSLContext.set_ecdh_curve); None: a group OpenSSL 3.0 has no name for here
GO_CURVES = {
    "CurveP256": "prime256v1",
    "CurveP384": "secp384r1",
    "CurveP521": "secp521r1",
    "X25519": "X25519",
    "X25519MLKEM768": None,
}


@dataclasses.dataclass
class TLSConfig:
    cert_file: str | None = None
    key_file: str | None = None
    cert: str | None = None  # inline PEM instead of cert_file
    key: str | None = None  # inline PEM instead of key_file
    client_auth_type: str = "NoClientCert"
    client_ca_file: str | None = None
    client_ca: str | None = None  # inline PEM instead of client_ca_file
    client_allowed_sans: list[str] = dataclasses.field(default_factory=list)
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    cipher_suites: list[str] = dataclasses.field(default_factory=list)  # Go names, in order
    prefer_server_cipher_suites: bool = True
    curve_preferences: list[str] = dataclasses.field(default_factory=list)  # Go names, in order

    @contextlib.contextmanager
    def cert_and_key_files(self) -> Iterator[tuple[str, str]]:
        """The certificate and key as file names: ssl loads a chain only from files, so
        inline PEM (``cert``, ``key``) goes through a private temporary directory that is
        removed as soon as the chain is loaded."""
        if not (self.cert or self.key):
            yield str(self.cert_file), str(self.key_file)
            return
        with tempfile.TemporaryDirectory(prefix="lanes-tls-") as d:
            cert_file = os.path.join(d, "cert.pem") if self.cert else str(self.cert_file)
            key_file = os.path.join(d, "key.pem") if self.key else str(self.key_file)
            for path, pem in ((cert_file, self.cert), (key_file, self.key)):
                if pem:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "w", encoding="utf-8") as f:
                        f.write(pem)
            yield cert_file, key_file


@dataclasses.dataclass
class WebConfig:
    path: str | None = None
    tls: TLSConfig | None = None
    users: dict[str, str] = dataclasses.field(default_factory=dict)  # name -> bcrypt hash
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    #: what the file asks for and lanes cannot do, one short phrase each (one warning line)
    ignored: list[str] = dataclasses.field(default_factory=list)

    def warning(self) -> str | None:
        if not self.ignored:
            return None
        return f"{self.path}: accepted, but not done by lanes: " + "; ".join(self.ignored)


def bcrypt_available() -> bool:
    try:
        import bcrypt  # noqa: F401
    except ImportError:
        return False
    return True


BCRYPT_MISSING = "basic_auth_users needs the bcrypt module, which is not installed: pip install 'lanes-exporter[auth]' (Debian: apt install python3-bcrypt)"


def _bool(doc: _Doc, node: yaml.Node, where: str) -> bool:
    v = doc.scalar(node, where)
    if not isinstance(v, bool):
        raise doc.err(node, f"{where}: must be true or false")
    return v


def _parse_tls(doc: _Doc, value: yaml.Node, wc: WebConfig) -> TLSConfig:
    t = TLSConfig()
    for tk, tv in doc.mapping(value, "tls_server_config"):
        k = tk.value
        where = f"tls_server_config.{k}"
        if k in ("cert_file", "key_file", "client_ca_file", "cert", "key", "client_ca"):
            v = doc.string(tv, where)
            setattr(t, k, v or None)
        elif k == "client_auth_type":
            v = doc.string(tv, where)
            if v not in CLIENT_AUTH_TYPES:
                raise doc.err(tv, f"{where}: must be one of {', '.join(CLIENT_AUTH_TYPES)}")
            t.client_auth_type = v
        elif k in ("min_version", "max_version"):
            v = doc.string(tv, where)
            if v not in TLS_VERSIONS:
                raise doc.err(tv, f"{where}: must be one of {', '.join(TLS_VERSIONS)}")
            setattr(t, k, v)
        elif k == "cipher_suites":
            for name, node in zip(doc.strings(tv, where), tv.value):
                if name not in GO_CIPHER_SUITES:
                    raise doc.err(node, f"{where}: unknown cipher suite {name!r} (Go crypto/tls names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)")
                t.cipher_suites.append(name)
        elif k == "curve_preferences":
            for name, node in zip(doc.strings(tv, where), tv.value):
                if name not in GO_CURVES:
                    raise doc.err(node, f"{where}: unknown curve {name!r} (one of {', '.join(GO_CURVES)})")
                t.curve_preferences.append(name)
        elif k == "prefer_server_cipher_suites":
            t.prefer_server_cipher_suites = _bool(doc, tv, where)
        elif k == "client_allowed_sans":
            t.client_allowed_sans = doc.strings(tv, where)
        else:
            raise doc.err(tk, f"tls_server_config: unknown key {k!r} (known: cert_file, key_file, cert, key, client_auth_type, client_ca_file, client_ca, client_allowed_sans, min_version, max_version, cipher_suites, prefer_server_cipher_suites, curve_preferences)")
    if t.cert_file and t.cert or t.key_file and t.key or t.client_ca_file and t.client_ca:
        raise doc.err(value, "tls_server_config: give a file or inline PEM, not both (cert_file/cert, key_file/key, client_ca_file/client_ca)")
    if not (t.cert_file or t.cert) or not (t.key_file or t.key):
        raise doc.err(value, "tls_server_config: cert_file and key_file (or inline cert and key) are required")
    if TLS_VERSIONS.index(t.min_version) > TLS_VERSIONS.index(t.max_version):
        raise doc.err(value, f"tls_server_config: min_version {t.min_version} is above max_version {t.max_version}")
    if t.client_allowed_sans and t.client_auth_type not in ("RequireAnyClientCert", "RequireAndVerifyClientCert"):
        # exporter-toolkit refuses the same (its docs: no certificate, no SAN to match)
        raise doc.err(value, "tls_server_config: client_allowed_sans needs client_auth_type RequireAndVerifyClientCert (or RequireAnyClientCert)")
    if t.client_auth_type == "RequestClientCert":
        wc.ignored.append("client_auth_type RequestClientCert is served as NoClientCert (Python's ssl verifies every certificate it asks for, and an unverified one would not be used)")
    elif t.client_auth_type == "RequireAnyClientCert":
        wc.ignored.append("client_auth_type RequireAnyClientCert is served as RequireAndVerifyClientCert (Python's ssl cannot accept a certificate without verifying it)")
    if t.client_auth_type in ("RequireAnyClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert") and not (t.client_ca_file or t.client_ca):
        wc.ignored.append("no client_ca_file: client certificates are verified against the system's CA store")
    curves = [c for c in t.curve_preferences if GO_CURVES[c]]
    if t.curve_preferences and not curves:
        wc.ignored.append(f"curve_preferences {', '.join(t.curve_preferences)}: not known to this OpenSSL, its default groups are used")
    elif len(curves) > 1 or len(curves) < len(t.curve_preferences):
        wc.ignored.append(f"curve_preferences: Python's ssl offers one curve only, {curves[0]} (the first listed it knows)")
    return t


def parse_web_config(text: str, file: str) -> WebConfig:
    doc = _Doc(file)
    wc = WebConfig(path=file)
    root = _compose(text, file)
    if root is None:
        return wc
    for key, value in doc.mapping(root, "web config"):
        if key.value == "tls_server_config":
            wc.tls = _parse_tls(doc, value, wc)
        elif key.value == "basic_auth_users":
            for uk, uv in doc.mapping(value, "basic_auth_users"):
                h = doc.string(uv, f"basic_auth_users.{uk.value}")
                if not re.match(r"^\$2[aby]?\$\d\d\$[./A-Za-z0-9]{53}$", h):
                    raise doc.err(uv, f"basic_auth_users.{uk.value}: not a bcrypt hash (make one with: htpasswd -nBC 10 '' | tr -d ':\\n')")
                wc.users[str(uk.value)] = h
            if wc.users and not bcrypt_available():
                raise doc.err(key, BCRYPT_MISSING)
        elif key.value == "http_server_config":
            for hk, hv in doc.mapping(value, "http_server_config"):
                if hk.value == "http2":
                    if _bool(doc, hv, "http_server_config.http2"):
                        wc.ignored.append("http_server_config.http2: lanes serves HTTP/1.1 only")
                elif hk.value == "headers":
                    for name_node, val_node in doc.mapping(hv, "http_server_config.headers"):
                        if name_node.value not in ALLOWED_HEADERS:
                            raise doc.err(name_node, f"http_server_config.headers: {name_node.value!r} is not one of {', '.join(ALLOWED_HEADERS)}")
                        wc.headers[name_node.value] = doc.string(val_node, f"headers.{name_node.value}")
                else:
                    raise doc.err(hk, f"http_server_config: unknown key {hk.value!r} (known: headers, http2)")
        elif key.value in ("rate_limit", "basic_auth_excluded_paths"):
            # newer exporter-toolkit keys: accepted so a shared file loads, not done here
            if not (isinstance(value, yaml.ScalarNode) and value.tag.endswith(":null")):
                wc.ignored.append(f"{key.value}: not implemented by lanes" + (" (every path needs credentials)" if key.value == "basic_auth_excluded_paths" else ""))
        else:
            raise doc.err(key, f"unknown key {key.value!r} (known: basic_auth_users, basic_auth_excluded_paths, http_server_config, rate_limit, tls_server_config)")
    return wc


def load_web_config(path: str) -> WebConfig:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(path, None, e.strerror or str(e)) from None
    return parse_web_config(text, path)
